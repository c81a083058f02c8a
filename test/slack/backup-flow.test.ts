// The whole bot for real: signed requests into Bolt's HTTP receiver, the fake Slack Web API,
// and behind them the real runner and catalog on the shared PostgreSQL and versitygw.
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import type { RunBackup } from '../../src/jobs/types.js';
import type { SpawnFn } from '../../src/pipeline/pgdump.js';
import type { Clock } from '../../src/slack/clock.js';
import { createCatalog } from '../../src/storage/catalog.js';
import {
  lockTable,
  releaseLock,
  restoreFromUrl,
  seedDatabase,
  tableDigests,
  testConfig,
  testServers,
  uniquePrefix,
  type TargetSpec,
} from '../helpers/fixtures.js';
import { startTestBot, type TestBot } from '../helpers/slack-bot.js';
import type { ApiCall } from '../helpers/slack-fake.js';
import { FakeClock } from '../helpers/slack-clock.js';
import { eventually } from '../helpers/bot-process.js';
import { holdDumpOutput, uploadInProgress } from '../helpers/held-dump.js';

const servers = testServers();
const SRC = 'slack_src';
const BIG = 'slack_big';
const prefix = uniquePrefix('slack');

const targets: Record<string, TargetSpec> = {
  'app-db': { db: SRC, extra: 'channels: [C0OPS]' },
  custom: { db: SRC, format: 'custom' },
  big: { db: BIG },
  // Its own target, so that "nothing left" is not confused with big's successful backup.
  'big-cancel': { db: BIG },
  nodb: { db: 'slack_does_not_exist' },
  t1: { db: SRC },
  t2: { db: SRC },
  t3: { db: SRC },
  t4: { db: SRC },
  t5: { db: SRC },
};

function config(queue = 'concurrency: 2\n  maxPending: 20'): Config {
  return testConfig(servers, prefix, targets, `queue:\n  ${queue}\n`);
}

/** The real runner, counting how many runs are in flight at once. */
function realRunner(cfg: Config, spawn?: SpawnFn): { runBackup: RunBackup; maxInFlight: () => number } {
  const run = createBackupRunner({
    config: cfg,
    s3: servers.s3.client(),
    env: servers.env,
    progressIntervalMs: 50,
    ...(spawn ? { spawn } : {}),
  });
  let inFlight = 0;
  let max = 0;
  return {
    runBackup: async (request, options) => {
      inFlight++;
      max = Math.max(max, inFlight);
      try {
        return await run(request, options);
      } finally {
        inFlight--;
      }
    },
    maxInFlight: () => max,
  };
}

let t: TestBot | undefined;

/** `spawn` replaces the runner's (e.g. a held pg_dump); `clock` the reporter's (a FakeClock moved by hand). */
async function start(
  cfg: Config = config(),
  options: { readonly spawn?: SpawnFn; readonly clock?: Clock } = {},
): Promise<{ bot: TestBot; maxInFlight: () => number }> {
  const runner = realRunner(cfg, options.spawn);
  t = await startTestBot({
    config: cfg,
    runBackup: runner.runBackup,
    catalog: createCatalog({ s3: servers.s3.client(), storage: cfg.storage, env: servers.env }),
    ...(options.clock ? { app: { clock: options.clock } } : {}),
  });
  return { bot: t, maxInFlight: runner.maxInFlight };
}

afterEach(async () => {
  await t?.stop();
  t = undefined;
});

beforeAll(async () => {
  await Promise.all([seedDatabase(servers.pg, SRC, 20_000), seedDatabase(servers.pg, BIG, 800_000)]);
}, 240_000);

afterAll(async () => {
  await servers.pg.dropDatabase('slack_restored');
});

const resultFor = (target: string) => (c: ApiCall) =>
  c.method === 'chat.postMessage' &&
  c.outcome === 'ok' &&
  new RegExp(`^:(white_check_mark|x|no_entry_sign): Backup of \`${target}\``).test(String(c.args.text));

function downloadUrl(text: string): string {
  const url = /^Download \(link expires [^)]+\): (\S+)$/m.exec(text)?.[1];
  if (!url) throw new Error(`no download link in:\n${text}`);
  return url;
}

async function expectNothingLeft(target: string): Promise<void> {
  expect(await servers.s3.listKeys(servers.bucket, `${prefix}/${target}/`)).toEqual([]);
  const uploads = await servers.s3.listMultipartUploads(servers.bucket);
  expect(uploads.filter((u) => u.Key?.startsWith(`${prefix}/${target}/`))).toEqual([]);
}

describe('a /backup run against PostgreSQL and versitygw', () => {
  it('threads the whole run; the presigned link downloads a dump that restores', async () => {
    const { bot } = await start();
    const ack = await bot.command('run app-db');
    expect(ack.status).toBe(200);
    expect(ack.text).toBe('');
    const result = await bot.slack.waitForCall(resultFor('app-db'), 60_000);
    await bot.bot.reporters.idle();

    const posts = bot.slack.ok('chat.postMessage');
    const [parent, status] = posts;
    expect(parent!.args).toMatchObject({
      channel: 'C0OPS',
      text: ':package: Backup of `app-db` requested by <@U0ALICE>. Progress in the thread.',
    });
    const threadTs = '1700000001.000100';
    expect(status!.args.thread_ts).toBe(threadTs);
    // Whatever the job had reached when it was posted: queued, starting or dumping.
    expect(status!.args.text).toMatch(
      /^(:hourglass_flowing_sand: `app-db` is queued: next to start\.|:arrow_forward: (Starting|Dumping) )/,
    );
    expect(result.args.thread_ts).toBe(threadTs);

    const text = String(result.args.text);
    const key = /^Key: (\S+)$/m.exec(text)?.[1];
    expect(key).toMatch(new RegExp(`^${prefix}/app-db/\\d{4}/\\d{2}/\\d{2}/app-db_\\d{8}T\\d{6}Z-\\d{3}-[0-9a-f]{6}\\.sql\\.gz$`));
    const sha = /^SHA-256: ([0-9a-f]{64})$/m.exec(text)?.[1];
    const url = downloadUrl(text);
    // The button carries the same link.
    expect(JSON.stringify(result.args.blocks)).toContain(JSON.stringify(url));

    const bytes = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(sha);
    await restoreFromUrl(servers.pg, url, 'plain', 'slack_restored');
    expect(await tableDigests(servers.pg, 'slack_restored')).toEqual(await tableDigests(servers.pg, SRC));

    // The status message was edited in place (started or progress, then the final state), and the parent got the outcome.
    const edits = bot.slack.ok('chat.update');
    expect(edits.filter((c) => c.args.ts === status!.ts).at(-1)!.args.text).toMatch(
      /^:white_check_mark: Done in .+: dumped .+, stored .+\.$/,
    );
    expect(edits.at(-1)!.args).toMatchObject({
      ts: threadTs,
      text: expect.stringMatching(/^:white_check_mark: Backup of `app-db` requested by <@U0ALICE> finished: /),
    });
  });

  it("edits progress into the status message at most once per interval of the reporter's clock, each edit a newer state", async () => {
    // The reporter's clock moves only when the test moves it, and pg_dump's output is held mid-stream
    // so that the job keeps sending progress for as long as the test needs: every edit is accounted for.
    const clock = new FakeClock(1_800_000_000_000);
    const dump = holdDumpOutput(8 * 1024 * 1024);
    const { bot } = await start(config(), { spawn: dump.spawn, clock });
    await bot.command('run big');
    await dump.held;
    const job = bot.bot.queue.get('big')!;
    const nextProgress = () =>
      new Promise<void>((resolve) => {
        const stop = job.subscribe((e) => {
          if (e.type === 'progress') {
            stop();
            resolve();
          }
        });
      });
    const status = await bot.slack.waitForCall(
      (c) => c.method === 'chat.postMessage' && c.args.thread_ts !== undefined && JSON.stringify(c.args.blocks).includes(job.id),
    );
    const edits = () => bot.slack.ok('chat.update').filter((c) => c.args.ts === status.ts);
    /** One more progress event has arrived and the updater is waiting on the clock for its turn. */
    const waitingWithProgress = async () => {
      await nextProgress();
      await eventually(() => (clock.sleeping === 1 ? true : undefined), 'the status updater waiting for its interval');
    };

    // Posted at the clock's start; no edit until an interval (300 ms) has passed on that clock.
    await waitingWithProgress();
    await clock.advance(299);
    expect(edits()).toEqual([]);
    await clock.advance(1);
    const first = await bot.slack.waitForCall((c) => c.method === 'chat.update' && c.args.ts === status.ts);
    expect(String(first.args.text)).toMatch(/MiB dumped, .+ stored, .+\/s, .+ elapsed, (about \d+% of .+|past the estimate)/);

    // Progress keeps coming every 50 ms of real time; the next edit still waits its interval.
    await waitingWithProgress();
    await clock.advance(299);
    expect(edits()).toHaveLength(1);
    await clock.advance(1);
    await bot.slack.waitForCall(() => edits().length === 2);
    expect(String(edits()[1]!.args.text)).toMatch(/MiB dumped, .+ stored, .+\/s, .+ elapsed/);
    expect(edits()[1]!.args.text).not.toBe(first.args.text);

    dump.release();
    await bot.slack.waitForCall(resultFor('big'), 120_000);
    // The final status and the parent's outcome wait their turn on the same clock.
    let idle = false;
    void bot.bot.reporters.idle().then(() => (idle = true));
    while (!idle) await clock.advance(300);
    expect(edits().at(-1)!.args.text).toMatch(/^:white_check_mark: Done in /);
  });

  it('a failure run: stage and reason in the thread, a Retry button, nothing stored', async () => {
    const { bot } = await start();
    await bot.command('run nodb');
    const result = await bot.slack.waitForCall(resultFor('nodb'), 60_000);
    expect(String(result.args.text)).toMatch(
      /^:x: Backup of `nodb` failed \(stage `connect`\)\. Nothing was stored\.\nconnect failed: .*database "slack_does_not_exist" does not exist/,
    );
    expect(JSON.stringify(result.args.blocks)).toContain('dumptruck_retry');
    await bot.bot.reporters.idle();
    await expectNothingLeft('nodb');
  });

  it('cancel while queued: never runs; cancel while running (button): pg_dump stops and no object or upload is left', async () => {
    const { bot } = await start(config('concurrency: 1\n  maxPending: 5'));
    const lock = await lockTable(servers.pg, SRC);
    try {
      await bot.command('run t1');
      await bot.command('run t2');
      await bot.slack.waitForCall(() => bot.slack.ok('chat.getPermalink').length === 2);
      expect(bot.bot.queue.status().queued.map((j) => j.target)).toEqual(['t2']);

      const cancelQueued = await bot.command('cancel t2');
      expect(cancelQueued.json?.text).toMatch(/^Removing the queued backup of `t2`/);
      const t2 = await bot.slack.waitForCall(resultFor('t2'));
      expect(t2.args.text).toBe(':no_entry_sign: Backup of `t2` cancelled by <@U0ALICE>. Nothing was stored.');

      // t1 is running: pg_dump is waiting for the lock.
      const job = bot.bot.queue.get('t1')!;
      expect(job.state).toBe('running');
      const status = bot.slack
        .ok('chat.postMessage')
        .find((c) => c.args.thread_ts !== undefined && JSON.stringify(c.args.blocks).includes(job.id))!;
      const click = await bot.button({
        actionId: 'dumptruck_cancel',
        value: job.id,
        messageTs: status.ts!,
        threadTs: String(status.args.thread_ts),
      });
      expect(click.status).toBe(200);
      const t1 = await bot.slack.waitForCall(resultFor('t1'), 30_000);
      expect(t1.args.text).toBe(':no_entry_sign: Backup of `t1` cancelled by <@U0ALICE>. Nothing was stored.');
    } finally {
      await releaseLock(lock);
    }
    await bot.bot.reporters.idle();
    await expectNothingLeft('t1');
    await expectNothingLeft('t2');
  });

  it('cancel mid-stream, past the first uploaded part, aborts the multipart upload', async () => {
    // pg_dump's output is held past the first part: the upload exists and the dump cannot finish first.
    const dump = holdDumpOutput(24 * 1024 * 1024);
    const { bot } = await start(config(), { spawn: dump.spawn });
    await bot.command('run big-cancel');
    await dump.held;
    await uploadInProgress(servers.s3, servers.bucket, `${prefix}/big-cancel/`);
    const cancel = await bot.command('cancel big-cancel');
    expect(cancel.json?.text).toMatch(/^Stopping the running backup of `big-cancel`/);
    const result = await bot.slack.waitForCall(resultFor('big-cancel'), 60_000);
    expect(result.args.text).toBe(':no_entry_sign: Backup of `big-cancel` cancelled by <@U0ALICE>. Nothing was stored.');
    await bot.bot.reporters.idle();
    await expectNothingLeft('big-cancel');
  });

  it('a duplicate request and a full queue are answered without a second job', async () => {
    const { bot } = await start(config('concurrency: 1\n  maxPending: 1'));
    const lock = await lockTable(servers.pg, SRC);
    try {
      await bot.command('run t1');
      await bot.slack.waitForCall(() => bot.slack.ok('chat.getPermalink').length === 1);
      const dup = await bot.command('t1', { user_id: 'U0BOB' });
      expect(dup.json?.text).toBe(
        'A backup of `t1` is already running, requested by <@U0ALICE>: follow it in the <https://fake.slack.com/archives/C0OPS/p1700000001000100|thread>. It was not queued twice.',
      );
      await bot.command('run t2');
      const full = await bot.command('run t3');
      expect(full.json?.text).toBe(
        'queue failed: 1 backup is already waiting (queue.maxPending is 1)\nTry again when one of them has started; `/backup status` shows the queue.',
      );
      expect(bot.bot.queue.status().running.map((j) => j.target)).toEqual(['t1']);
      expect(bot.bot.queue.status().queued.map((j) => j.target)).toEqual(['t2']);
    } finally {
      await releaseLock(lock);
    }
    await bot.slack.waitForCall(resultFor('t2'), 60_000);
    await bot.bot.reporters.idle();
    const parents = bot.slack.ok('chat.postMessage').filter((c) => c.args.thread_ts === undefined);
    expect(parents.map((c) => /`(\w+)`/.exec(String(c.args.text))?.[1])).toEqual(['t1', 't2']);
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/t3/`)).toEqual([]);
  });

  it('concurrency 2, five targets at once: never more than two dumps, every thread ends with a result; 100 /backup status sent while they stream are all answered', async () => {
    const { bot, maxInFlight } = await start(config('concurrency: 2\n  maxPending: 10'));
    const names = ['t1', 't2', 't3', 't4', 't5'];
    const acks = await Promise.all(names.map((n) => bot.command(`run ${n}`)));
    expect(acks.map((a) => [a.status, a.text])).toEqual(names.map(() => [200, '']));

    // A burst of commands while backups stream: each gets its status reply (how fast is `npm run bench`'s to measure).
    const burst = await Promise.all(Array.from({ length: 100 }, () => bot.command('status')));
    expect(burst.every((r) => r.status === 200 && typeof r.json?.text === 'string')).toBe(true);

    const results = await Promise.all(names.map((n) => bot.slack.waitForCall(resultFor(n), 120_000)));
    await bot.bot.reporters.idle();
    expect(maxInFlight()).toBe(2);
    for (const r of results)
      expect(String(r.args.text)).toMatch(/^:white_check_mark: Backup of `t\d` finished\.\n[\s\S]*\nDownload \(link expires .+\): http/);
    // Each result landed in its own thread.
    expect(new Set(results.map((r) => r.args.thread_ts)).size).toBe(5);
  });
});
