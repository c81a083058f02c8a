// The Slack bot through Bolt's real HTTP receiver, driven with signed requests, talking to a
// recording fake of the Web API. The backup runner and catalog are fakes here: these tests are
// about what Slack sees; test/slack/backup-flow.test.ts runs the same with real servers.
import { afterEach, describe, expect, it } from 'vitest';
import { DumptruckError, InputError } from '../../src/errors.js';
import type { BackupCatalog, BackupObject } from '../../src/storage/types.js';
import { fakeRunner, fakeStarted, type FakeRunner } from '../jobs/fake-runner.js';
import { slackTestConfig } from '../helpers/slack-config.js';
import { startTestBot, type TestBot } from '../helpers/slack-bot.js';
import type { ApiCall } from '../helpers/slack-fake.js';
import { TEST_SIGNING_SECRET } from '../helpers/slack-sign.js';

const objects: BackupObject[] = [
  {
    key: 'dumptruck/app-db/2024/05/02/app-db_20240502T030000Z.sql.gz',
    size: 2048,
    lastModified: new Date('2024-05-02T03:00:00Z'),
    state: 'complete',
  },
  {
    key: 'dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz',
    size: 1024,
    lastModified: new Date('2024-05-01T03:00:00Z'),
    state: 'complete',
  },
];
const expiresAt = new Date('2024-05-03T03:00:00Z');

const catalog: BackupCatalog = {
  list: async (target) => (target === 'app-db' ? objects : []),
  resolve: async (target, key = 'latest') => {
    if (key === 'latest') {
      const newest = target === 'app-db' ? objects[0] : undefined;
      if (!newest) throw new DumptruckError('NOT_FOUND', 'storage', `no backups of ${target} yet`);
      return newest;
    }
    if (!key.startsWith(`dumptruck/${target}/`)) throw new InputError(`${key} is not a backup of ${target}`);
    const found = objects.find((o) => o.key === key);
    if (!found) throw new DumptruckError('NOT_FOUND', 'storage', `no object ${key}`);
    return found;
  },
  link: async (key) => ({ url: `https://s3.example/backups/${key}?X-Amz-Expires=86400&X-Amz-Signature=abc`, expiresAt }),
  // No forged objects here: the refusal is the real catalog's (test/slack/trust-flow.test.ts).
  linkStored: async (target, key) => {
    const object = await catalog.resolve(target, key);
    return { object, link: await catalog.link(object.key) };
  },
};

const config = (queue: { concurrency?: number; maxPending?: number } = {}) =>
  slackTestConfig(
    {
      'app-db': {},
      billing: { channels: ['C0OPS'] },
      locked: { channels: ['C0OPS'], users: ['U0ALICE'] },
      a: {},
      b: {},
      c: {},
    },
    queue,
  );

let t: TestBot;
let runner: FakeRunner;

async function start(queue: { concurrency?: number; maxPending?: number } = {}): Promise<TestBot> {
  runner = fakeRunner();
  t = await startTestBot({ config: config(queue), runBackup: runner.runBackup, catalog });
  return t;
}

afterEach(async () => {
  await t?.stop();
});

const posts = (channel?: string) => t.slack.ok('chat.postMessage').filter((c) => channel === undefined || c.args.channel === channel);
const isResult = (call: ApiCall) =>
  call.method === 'chat.postMessage' && /^:(white_check_mark|x|no_entry_sign): Backup of/.test(String(call.args.text));

/** Nothing was posted and nothing reached the runner or the queue. */
async function expectNothingQueued(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(posts()).toEqual([]);
  expect(runner.runs).toEqual([]);
  expect(t.bot.queue.status()).toEqual({ running: [], queued: [] });
}

describe('request verification', () => {
  it('rejects a bad signature and a stale timestamp, and accepts a good one', async () => {
    await start();
    const forged = await t.command('run app-db', {}, { secret: 'f'.repeat(32) });
    expect(forged.status).toBe(401);
    const stale = await t.command('run app-db', {}, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(stale.status).toBe(401);
    await expectNothingQueued();
    const good = await t.command('help');
    expect(good.status).toBe(200);
    expect(TEST_SIGNING_SECRET).toHaveLength(32);
  });
});

describe('bad input and refusals: an ephemeral reply with the ack, nothing queued', () => {
  it.each([
    [
      '',
      'C0OPS',
      'U0ALICE',
      'tell me what to do: /backup needs a command or a target\nTry `/backup run app-db`, or `/backup help` for every command.',
    ],
    [
      'run',
      'C0OPS',
      'U0ALICE',
      'which target? `/backup run <target>` needs a target name\nTry `/backup run app-db`; targets: `app-db`, `billing`, `locked`, `a`, `b`, `c`.',
    ],
    [
      'run nope',
      'C0OPS',
      'U0ALICE',
      'unknown target `nope`\nTargets: `app-db`, `billing`, `locked`, `a`, `b`, `c`. `/backup targets` lists them.',
    ],
    [
      'run app-db;reboot',
      'C0OPS',
      'U0ALICE',
      '`app-db;reboot` is not a target name: names use only lowercase letters, digits, - and _\nTargets: `app-db`, `billing`, `locked`, `a`, `b`, `c`. `/backup targets` lists them.',
    ],
    [
      'run ../../etc',
      'C0OPS',
      'U0ALICE',
      '`../../etc` is not a target name: names use only lowercase letters, digits, - and _\nTargets: `app-db`, `billing`, `locked`, `a`, `b`, `c`. `/backup targets` lists them.',
    ],
    ['run app-db now', 'C0OPS', 'U0ALICE', 'unexpected extra words after `/backup run <target>`: `now`\nUsage: `/backup run <target>`.'],
    [
      `run ${'x'.repeat(500)}`,
      'C0OPS',
      'U0ALICE',
      'that command is 504 characters long; /backup commands are at most 300\nTry `/backup run app-db` or `/backup help`.',
    ],
    ['run billing', 'C0RANDOM', 'U0ALICE', "you can't back up `billing` from this channel\n`billing` is allowed in <#C0OPS>; ask there."],
    [
      'locked',
      'C0OPS',
      'U0EVE',
      'you are not on the list of people who may back up `locked`\nAsk one of <@U0ALICE>, or have your user id added to targets.locked.users.',
    ],
    [
      'cancel locked',
      'C0OPS',
      'U0EVE',
      'you are not on the list of people who may cancel backups of `locked`\nAsk one of <@U0ALICE>, or have your user id added to targets.locked.users.',
    ],
    [
      'link billing latest',
      'C0RANDOM',
      'U0ALICE',
      "you can't get links to backups of `billing` from this channel\n`billing` is allowed in <#C0OPS>; ask there.",
    ],
    [
      'list billing',
      'D0DM',
      'U0ALICE',
      "you can't list backups of `billing` from this channel\n`billing` is allowed in <#C0OPS>; ask there.",
    ],
  ])('%j from %s by %s', async (text, channel_id, user_id, reply) => {
    await start();
    const res = await t.command(text, { channel_id, user_id });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ response_type: 'ephemeral', replace_original: false, text: reply });
    await expectNothingQueued();
    expect(t.slack.responses).toEqual([]);
  });

  it('a channel the bot is not in: told how to fix it, and the job is cancelled at once', async () => {
    await start();
    t.slack.notInChannel('C0NOTIN');
    const res = await t.command('run app-db', { channel_id: 'C0NOTIN' });
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    const reply = await t.slack.waitForResponse(res.responseUrl);
    expect(reply.body).toEqual({
      response_type: 'ephemeral',
      replace_original: false,
      text: "I can't post in this channel (not_in_channel), so the backup of `app-db` was not started. Invite me with `/invite @dumptruck`, or run it from a channel I am in.",
    });
    await expectNothingQueuedOrAborted();
  });
});

async function expectNothingQueuedOrAborted(): Promise<void> {
  await t.bot.reporters.idle();
  expect(t.bot.queue.status()).toEqual({ running: [], queued: [] });
  for (const run of runner.runs) expect(run.signal?.aborted).toBe(true);
  expect(posts()).toEqual([]);
}

describe('a run', () => {
  it('acks at once, posts a parent, then queued, progress edits and the result with a link in its thread', async () => {
    await start();
    const res = await t.command('run app-db');
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    const run = await runner.started('app-db');
    expect(run.request.trigger).toEqual({ kind: 'slack', by: 'U0ALICE', detail: 'C0OPS' });
    const parent = await t.slack.waitForCall((c) => c.method === 'chat.postMessage' && c.args.thread_ts === undefined);
    expect(parent.args.channel).toBe('C0OPS');
    expect(parent.args.text).toBe(':package: Backup of `app-db` requested by <@U0ALICE>. Progress in the thread.');
    const parentTs = '1700000001.000100';
    const status = await t.slack.waitForCall((c) => c.method === 'chat.postMessage' && c.args.thread_ts === parentTs);
    expect(String(status.args.text)).toMatch(/^:hourglass_flowing_sand: `app-db` is queued: next to start\.$|^:arrow_forward: Starting/);

    run.emit({ type: 'started', jobId: run.request.jobId!, info: fakeStarted('app-db') });
    for (let i = 1; i <= 20; i++) {
      run.emit({
        type: 'progress',
        jobId: run.request.jobId!,
        progress: {
          dumpedBytes: i * 1_048_576,
          storedBytes: i * 262_144,
          elapsedMs: i * 50,
          bytesPerSecond: 20_971_520,
          estimatedBytes: 104_857_600,
        },
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await t.slack.waitForCall((c) => c.method === 'chat.update' && /MiB dumped/.test(String(c.args.text)));
    run.succeed();
    const result = await t.slack.waitForCall(isResult);
    expect(result.args.thread_ts).toBe(parentTs);
    expect(String(result.args.text)).toContain('Key: dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz');
    expect(String(result.args.text)).toContain(
      'Download (link expires 2024-05-03 03:00 UTC): https://s3.example/backups/dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz?X-Amz-Expires=86400&X-Amz-Signature=abc',
    );
    await t.bot.reporters.idle();

    const updates = t.slack.ok('chat.update');
    // Progress edits are throttled: 20 events in 1 s became at most a few edits.
    const progressEdits = updates.filter((c) => /MiB dumped/.test(String(c.args.text)));
    expect(progressEdits.length).toBeGreaterThanOrEqual(1);
    expect(progressEdits.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < progressEdits.length; i++) expect(progressEdits[i]!.at - progressEdits[i - 1]!.at).toBeGreaterThanOrEqual(250);
    expect(updates.at(-1)!.args).toMatchObject({
      ts: parentTs,
      text: ':white_check_mark: Backup of `app-db` requested by <@U0ALICE> finished: 12.0 MiB in 1m 3s.',
    });
    expect(updates.at(-2)!.args.text).toBe(':white_check_mark: Done in 1m 3s: dumped 45.0 MiB, stored 12.0 MiB.');
    // Every message of the run went to the channel the command came from.
    expect(new Set(t.slack.calls.filter((c) => c.method.startsWith('chat.')).map((c) => c.args.channel))).toEqual(new Set(['C0OPS']));
  });

  it('a second request for the same target links to the first thread instead of queueing again', async () => {
    await start();
    await t.command('app-db');
    await runner.started('app-db');
    await t.slack.waitForCall((c) => c.method === 'chat.getPermalink');
    const again = await t.command('run app-db', { user_id: 'U0BOB' });
    expect(again.json).toEqual({
      response_type: 'ephemeral',
      replace_original: false,
      text: 'A backup of `app-db` is already running, requested by <@U0ALICE>: follow it in the <https://fake.slack.com/archives/C0OPS/p1700000001000100|thread>. It was not queued twice.',
    });
    expect(runner.runs).toHaveLength(1);
    expect(posts().filter((c) => c.args.thread_ts === undefined)).toHaveLength(1);
  });

  it('a full queue is refused with a clear reply and nothing is posted for it', async () => {
    await start({ concurrency: 1, maxPending: 1 });
    await t.command('run a');
    await t.command('run b');
    await runner.started('a');
    await t.slack.waitForCall((c) => c.method === 'chat.getPermalink' && posts().length >= 4);
    const before = posts().length;
    const full = await t.command('run c');
    expect(full.json?.text).toBe(
      'queue failed: 1 backup is already waiting (queue.maxPending is 1)\nTry again when one of them has started; `/backup status` shows the queue.',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(posts()).toHaveLength(before);
    expect(runner.runs.map((r) => r.request.target)).toEqual(['a']);
  });

  it('/backup status lists running and queued jobs with their threads', async () => {
    await start({ concurrency: 1 });
    await t.command('run a');
    await t.command('run b');
    await runner.started('a');
    await t.slack.waitForCall(() => t.slack.ok('chat.getPermalink').length === 2);
    const status = await t.command('status');
    expect(status.json?.text).toMatch(
      /^\*Running\* \(1\)\n• `a`, for [\d.]+s, by <@U0ALICE> \(<https:\/\/fake\.slack\.com\/archives\/C0OPS\/p\d+\|thread>\)\n\*Queued\* \(1\)\n1\. `b`, waiting [\d.]+s, by <@U0ALICE> \(<https:\/\/fake\.slack\.com\/archives\/C0OPS\/p\d+\|thread>\)$/,
    );
  });

  it('/backup cancel removes a queued job without running it; its thread says so', async () => {
    await start({ concurrency: 1 });
    await t.command('run a');
    await t.command('run b');
    await runner.started('a');
    await t.slack.waitForCall(() => t.slack.ok('chat.getPermalink').length === 2);
    const cancel = await t.command('cancel b', { user_id: 'U0BOB' });
    expect(cancel.json?.text).toMatch(
      /^Removing the queued backup of `b` \(<https:\/\/fake\.slack\.com\/archives\/C0OPS\/p\d+\|thread>\); nothing will be stored\.$/,
    );
    const result = await t.slack.waitForCall((c) => isResult(c) && String(c.args.text).includes('`b`'));
    expect(result.args.text).toBe(':no_entry_sign: Backup of `b` cancelled by <@U0BOB>. Nothing was stored.');
    runner.run('a').succeed();
    await t.bot.reporters.idle();
    expect(runner.runs.map((r) => r.request.target)).toEqual(['a']);
    const nothing = await t.command('cancel b');
    expect(nothing.json?.text).toBe('No backup of `b` is queued or running, so there is nothing to cancel.');
  });

  it('the Cancel button aborts a running job through its signal', async () => {
    await start();
    await t.command('run app-db');
    const run = await runner.started('app-db');
    const status = await t.slack.waitForCall((c) => c.method === 'chat.postMessage' && c.args.thread_ts !== undefined);
    const cancel = status.args.blocks.find((b: any) => b.type === 'actions').elements[0];
    expect(cancel).toMatchObject({ action_id: 'dumptruck_cancel', value: run.request.jobId });
    const click = await t.button({
      actionId: 'dumptruck_cancel',
      value: cancel.value,
      user_id: 'U0BOB',
      messageTs: '1700000002.000100',
      threadTs: String(status.args.thread_ts),
    });
    expect(click.status).toBe(200);
    expect(click.text).toBe('');
    expect((await t.slack.waitForResponse(click.responseUrl)).body.text).toMatch(/^Stopping the running backup of `app-db`/);
    expect(run.signal?.aborted).toBe(true);
    const result = await t.slack.waitForCall(isResult);
    expect(result.args.text).toBe(':no_entry_sign: Backup of `app-db` cancelled by <@U0BOB>. Nothing was stored.');
    await t.bot.reporters.idle();
    // Cancelled: the status message has lost its button.
    const last = t.slack
      .ok('chat.update')
      .filter((c) => c.args.ts === '1700000002.000100')
      .at(-1)!;
    expect(last.args.text).toBe(':no_entry_sign: Cancelled by <@U0BOB>.');
    expect(JSON.stringify(last.args.blocks)).not.toContain('dumptruck_cancel');
  });

  it('the Cancel button is refused to someone the target does not allow; an old one says the job is over', async () => {
    await start();
    await t.command('run locked');
    const run = await runner.started('locked');
    const refused = await t.button({ actionId: 'dumptruck_cancel', value: run.request.jobId!, user_id: 'U0EVE', messageTs: '1.1' });
    expect((await t.slack.waitForResponse(refused.responseUrl)).body.text).toBe(
      'you are not on the list of people who may cancel backups of `locked`\nAsk one of <@U0ALICE>, or have your user id added to targets.locked.users.',
    );
    expect(run.signal?.aborted).toBe(false);
    run.succeed();
    await t.slack.waitForCall(isResult);
    const stale = await t.button({ actionId: 'dumptruck_cancel', value: run.request.jobId!, messageTs: '1.1' });
    expect((await t.slack.waitForResponse(stale.responseUrl)).body.text).toBe(
      'That backup has already finished; there is nothing to cancel.',
    );
  });

  it('a failure shows stage and reason with a Retry button; Retry runs again in the same thread', async () => {
    await start();
    await t.command('run app-db');
    const run = await runner.started('app-db');
    run.fail(new DumptruckError('CONNECT_FAILED', 'connect', 'database "app" does not exist'));
    const failure = await t.slack.waitForCall(isResult);
    expect(failure.args.text).toBe(
      ':x: Backup of `app-db` failed (stage `connect`). Nothing was stored.\nconnect failed: database "app" does not exist',
    );
    const retry = failure.args.blocks.find((b: any) => b.type === 'actions').elements[0];
    expect(retry).toMatchObject({ action_id: 'dumptruck_retry', value: '{"target":"app-db","ownParent":true}' });
    await t.bot.reporters.idle();

    const parentTs = String(failure.args.thread_ts);
    const click = await t.button({
      actionId: 'dumptruck_retry',
      value: retry.value,
      user_id: 'U0BOB',
      messageTs: '1700000003.000100',
      threadTs: parentTs,
    });
    expect(click.status).toBe(200);
    const second = await runner.started('app-db', 2);
    expect(second.request.trigger).toEqual({ kind: 'retry', by: 'U0BOB', detail: 'C0OPS' });
    second.succeed();
    const done = await t.slack.waitForCall((c) => isResult(c) && String(c.args.text).includes('finished'));
    expect(done.args.thread_ts).toBe(parentTs);
    await t.bot.reporters.idle();
    // No second parent: the retry lives in the first thread, and the parent shows the new outcome.
    expect(posts().filter((c) => c.args.thread_ts === undefined)).toHaveLength(1);
    expect(t.slack.ok('chat.update').at(-1)!.args).toMatchObject({
      ts: parentTs,
      text: ':white_check_mark: Backup of `app-db` requested by <@U0BOB> (retry) finished: 12.0 MiB in 1m 3s.',
    });
  });

  it('survives 429s and Slack errors without losing the result', async () => {
    await start();
    t.slack.fail('chat.update', { status: 429, retryAfter: 1 }, 2);
    await t.command('run app-db');
    const run = await runner.started('app-db');
    await t.slack.waitForCall((c) => c.method === 'chat.getPermalink');
    for (let i = 1; i <= 10; i++) {
      run.emit({
        type: 'progress',
        jobId: run.request.jobId!,
        progress: { dumpedBytes: i, storedBytes: i, elapsedMs: i, bytesPerSecond: 1, estimatedBytes: 0 },
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.slack.fail('chat.postMessage', { error: 'internal_error' });
    t.slack.fail('chat.postMessage', { status: 429, retryAfter: 1 });
    run.succeed();
    const result = await t.slack.waitForCall((c) => isResult(c) && c.outcome === 'ok', 20_000);
    expect(String(result.args.text)).toContain('https://s3.example/');
    await t.bot.reporters.idle();
    expect(
      t.slack.calls
        .filter((c) => c.outcome !== 'ok')
        .map((c) => `${c.method} ${c.outcome}`)
        .sort(),
    ).toEqual(['chat.postMessage HTTP 429', 'chat.postMessage internal_error', 'chat.update HTTP 429', 'chat.update HTTP 429']);
    expect(t.slack.ok('chat.update').at(-1)!.args.text).toMatch(/finished/);
  }, 30_000);
});

describe('list, link, verify, targets, help', () => {
  it('list and link answer through response_url', async () => {
    await start();
    const list = await t.command('list app-db');
    expect(list.text).toBe('');
    expect((await t.slack.waitForResponse(list.responseUrl)).body.text).toBe(
      [
        '*Backups of `app-db`*, newest first:',
        '• `dumptruck/app-db/2024/05/02/app-db_20240502T030000Z.sql.gz`: 2.0 KiB, 2024-05-02 03:00 UTC',
        '• `dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz`: 1.0 KiB, 2024-05-01 03:00 UTC',
        '`/backup link app-db <key>` makes a download link.',
      ].join('\n'),
    );
    const link = await t.command('link app-db');
    expect((await t.slack.waitForResponse(link.responseUrl)).body.text).toBe(
      'Download `dumptruck/app-db/2024/05/02/app-db_20240502T030000Z.sql.gz` (2.0 KiB, 2024-05-02 03:00 UTC); the link expires 2024-05-03 03:00 UTC:\nhttps://s3.example/backups/dumptruck/app-db/2024/05/02/app-db_20240502T030000Z.sql.gz?X-Amz-Expires=86400&X-Amz-Signature=abc',
    );
    const other = await t.command('link app-db dumptruck/billing/2024/05/01/x.sql.gz');
    expect((await t.slack.waitForResponse(other.responseUrl)).body.text).toBe(
      'dumptruck/billing/2024/05/01/x.sql.gz is not a backup of app-db',
    );
    const none = await t.command('link billing');
    expect((await t.slack.waitForResponse(none.responseUrl)).body.text).toBe('storage failed: no backups of billing yet');
    expect(posts()).toEqual([]);
  });

  it('verify, targets and help answer with the ack', async () => {
    await start();
    // This bot was built without `trust` (test/slack/trust-flow.test.ts has one with it).
    expect((await t.command('verify app-db')).json?.text).toBe(
      'verification and pruning are not set up in this bot\nAsk an admin: the bot was started without them.',
    );
    expect((await t.command('targets', { channel_id: 'C0RANDOM' })).json?.text).toBe(
      '*Targets*\n• `app-db` (plain)\n• `billing` (plain): not from this channel\n• `locked` (plain): not from this channel\n• `a` (plain)\n• `b` (plain)\n• `c` (plain)',
    );
    expect((await t.command('help')).json?.text).toMatch(/^\*dumptruck\* backs up PostgreSQL databases/);
    await expectNothingQueued();
  });
});
