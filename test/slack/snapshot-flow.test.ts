// /backup snapshot and /backup snapshots for real: signed requests into Bolt's HTTP receiver,
// the fake Slack Web API, and the RDS calls on moto's server (through a proxy that makes new
// snapshots spend a few polls in `creating`, as RDS does). Dumps use the fake runner: only
// their place in the queue matters here.
import { DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSnapshotService } from '../../src/snapshots/snapshot.js';
import { fakeRunner, type FakeRunner } from '../jobs/fake-runner.js';
import { motoRds, NO_BACKUPS, rdsTestConfig, startRdsServers, type RdsServers } from '../helpers/rds.js';
import { startTestBot, type TestBot } from '../helpers/slack-bot.js';
import type { ApiCall } from '../helpers/slack-fake.js';

let rds: RdsServers;
let t: TestBot | undefined;
let runner: FakeRunner;

beforeAll(async () => {
  rds = await startRdsServers(['app-db-prod', 'busy-db-prod', 'cancel-db-prod']);
}, 60_000);

afterAll(async () => {
  await rds?.stop();
});

afterEach(async () => {
  rds.slow.release();
  for (const run of runner?.runs ?? []) if (!run.settled) run.succeed();
  await t?.stop();
  t = undefined;
});

async function start(): Promise<TestBot> {
  const config = rdsTestConfig(rds.slow.endpoint, {
    'app-db': { channels: ['C0OPS'], keepLast: 5 },
    'busy-db': {},
    'cancel-db': {},
    plain: 'no-rds',
  });
  runner = fakeRunner();
  // Polls slower than the reporter's edit interval (300 ms), so each percent gets its own edit.
  const snapshots = createSnapshotService({ config, rds: motoRds(rds.moto), pollIntervalMs: 400 });
  t = await startTestBot({ config, runBackup: runner.runBackup, catalog: NO_BACKUPS, app: { snapshots } });
  return t;
}

const posted = (pattern: RegExp) => (c: ApiCall) =>
  c.method === 'chat.postMessage' && c.outcome === 'ok' && pattern.test(String(c.args.text));
const edited = (pattern: RegExp) => (c: ApiCall) => c.method === 'chat.update' && c.outcome === 'ok' && pattern.test(String(c.args.text));

async function snapshotsOf(instanceId: string) {
  return (
    (await rds.admin.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: instanceId, SnapshotType: 'manual' }))).DBSnapshots ?? []
  );
}

describe('/backup snapshot', () => {
  it('posts a parent, follows status and percent in the thread, and ends with the identifier, size and time', async () => {
    const bot = await start();
    rds.slow.creating([30, 70]);
    const ack = await bot.command('snapshot app-db', { user_id: 'U0ALICE', channel_id: 'C0OPS' });
    expect(ack.status).toBe(200);
    expect(ack.json).toBeUndefined();

    const parent = await bot.slack.waitForCall(posted(/^:camera_with_flash: /));
    expect(parent.args).toMatchObject({
      channel: 'C0OPS',
      text: ':camera_with_flash: Snapshot of `app-db` (RDS instance `app-db-prod`) requested by <@U0ALICE>. Progress in the thread.',
    });
    const result = await bot.slack.waitForCall(posted(/^:white_check_mark: Snapshot of `app-db` is available\./), 20_000);
    expect(result.args.thread_ts).toBe(parent.ts);
    const id = /^Identifier: (dumptruck-app-db-\d{8}t\d{6}z-\d{3}-[0-9a-f]{6})$/m.exec(String(result.args.text))?.[1];
    expect(id).toBeDefined();
    expect(String(result.args.text)).toMatch(
      /^Instance: app-db-prod \(us-east-1\)\nSize: 20 GiB allocated\nCreated: \d{4}-\d\d-\d\d \d\d:\d\d UTC\nDuration: /m,
    );
    expect(String(result.args.text)).toContain('Retention (keep the last 5): nothing to delete.');

    // The status reply was edited in place with the provider's status and percent.
    await bot.slack.waitForCall(edited(/^:white_check_mark: Available after /));
    const status = bot.slack
      .ok('chat.postMessage')
      .find((c) => c.args.thread_ts === parent.ts && /Requesting a snapshot|Snapshot `dumptruck-/.test(String(c.args.text)))!;
    const edits = bot.slack
      .ok('chat.update')
      .filter((c) => c.args.ts === status.ts)
      .map((c) => String(c.args.text));
    expect(
      edits.some(
        (text) => text.includes(`Snapshot \`${id}\` of \`app-db-prod\` (us-east-1): creating, 30%`) || text.includes('creating, 70%'),
      ),
    ).toBe(true);
    expect(edits.at(-1)).toMatch(/^:white_check_mark: Available after /);
    await bot.slack.waitForCall(
      edited(new RegExp(`^:white_check_mark: Snapshot of \`app-db\` requested by <@U0ALICE> is available: \`${id}\` \\(20 GiB\\)\\.$`)),
    );

    // The audit trail is on the snapshot itself.
    const stored = (await snapshotsOf('app-db-prod')).find((s) => s.DBSnapshotIdentifier === id);
    const tags = Object.fromEntries((stored?.TagList ?? []).map((tag) => [tag.Key, tag.Value]));
    expect(tags).toMatchObject({
      'dumptruck:requested-by': 'slack:U0ALICE',
      'dumptruck:source': 'C0OPS',
      'dumptruck:target': 'app-db',
      'dumptruck:created-by': 'dumptruck',
    });

    // And /backup snapshots lists it, ours, next to the automated one.
    const list = await bot.command('snapshots app-db', { channel_id: 'C0OPS' });
    expect(list.json).toBeUndefined();
    const reply = await bot.slack.waitForResponse(list.responseUrl);
    const lines = String(reply.body.text).split('\n');
    expect(lines[0]).toBe('*Snapshots of `app-db`* (RDS instance `app-db-prod`), newest first:');
    expect(lines[1]).toMatch(
      new RegExp(`^• \`${id}\`: manual, by dumptruck for slack:U0ALICE, available, 20 GiB, \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC$`),
    );
    expect(lines[2]).toMatch(/^• `rds:app-db-prod-[\d-]+`: automated, available, 20 GiB, /);
    expect(reply.body.response_type).toBe('ephemeral');
  });

  it('refuses, at once and only to the requester: a target without rds, a channel the target does not allow', async () => {
    const bot = await start();
    const plain = await bot.command('snapshot plain');
    expect(plain.json).toEqual({
      response_type: 'ephemeral',
      replace_original: false,
      text:
        'plain has no RDS instance configured, so there is nothing to snapshot\n' +
        'Add targets.plain.rds: { instanceId, region } to the config, or snapshot one that has it: app-db, busy-db, cancel-db. A logical dump works for every target.',
    });
    const list = await bot.command('snapshots plain');
    expect(list.json?.text).toMatch(/^plain has no RDS instance configured/);
    const elsewhere = await bot.command('snapshot app-db', { channel_id: 'C0ELSE' });
    expect(elsewhere.json?.text).toBe("you can't snapshot `app-db` from this channel\n`app-db` is allowed in <#C0OPS>; ask there.");
    const listElsewhere = await bot.command('snapshots app-db', { channel_id: 'C0ELSE' });
    expect(listElsewhere.json?.text).toBe(
      "you can't list snapshots of `app-db` from this channel\n`app-db` is allowed in <#C0OPS>; ask there.",
    );
    expect(bot.slack.ok('chat.postMessage')).toEqual([]);
  });

  it('a snapshot and a dump of one database never run at once, either way round', async () => {
    const bot = await start();
    await bot.command('run busy-db');
    const dump = await runner.started('busy-db');
    const refused = await bot.command('snapshot busy-db');
    expect(refused.json?.text).toMatch(
      /^queue failed: a backup of busy-db is running \(job \w+\); one operation per database at a time, so this snapshot was not queued\nAsk again once the backup has finished; `\/backup status` shows it\.$/,
    );
    dump.succeed();
    await bot.slack.waitForCall(posted(/^:white_check_mark: Backup of `busy-db` finished/));

    rds.slow.hold();
    await bot.command('snapshot busy-db');
    await bot.slack.waitForCall(
      edited(/^:arrow_forward: Snapshot `dumptruck-busy-db-\d{8}t\d{6}z-\d{3}-[0-9a-f]{6}` of `busy-db-prod` \(us-east-1\): creating, 5%/),
      10_000,
    );
    const again = await bot.command('run busy-db');
    expect(again.json?.text).toMatch(
      /^queue failed: a snapshot of busy-db is running \(job \w+\); one operation per database at a time, so this backup was not queued/,
    );
    const status = await bot.command('status');
    expect(status.json?.text).toMatch(
      /^\*Running\* \(1\)\n• `busy-db` \(RDS snapshot\), for [\d.]+s, creating 5%, by <@U0ALICE> \(<https:\/\/fake\.slack\.com\/archives\/C0OPS\/p\d+\|thread>\)$/,
    );
    const twice = await bot.command('snapshot busy-db');
    expect(twice.json?.text).toMatch(
      /^A snapshot of `busy-db` is already running, requested by <@U0ALICE>: follow it in the <https:\/\/fake\.slack\.com\/archives\/C0OPS\/p\d+\|thread>\. It was not queued twice\.$/,
    );
    rds.slow.release();
    await bot.slack.waitForCall(posted(/^:white_check_mark: Snapshot of `busy-db` is available\./), 10_000);
    expect(runner.runs).toHaveLength(1);
  });

  it('cancel stops following and says the snapshot goes on at AWS, which it does', async () => {
    const bot = await start();
    rds.slow.hold();
    await bot.command('snapshot cancel-db', { user_id: 'U0BOB' });
    const following = await bot.slack.waitForCall(
      edited(/^:arrow_forward: Snapshot `(dumptruck-cancel-db-\d{8}t\d{6}z-\d{3}-[0-9a-f]{6})`/),
      10_000,
    );
    const id = /`(dumptruck-cancel-db-\d{8}t\d{6}z-\d{3}-[0-9a-f]{6})`/.exec(String(following.args.text))![1]!;

    const cancel = await bot.command('cancel cancel-db', { user_id: 'U0BOB' });
    expect(cancel.json?.text).toMatch(
      /^Stopping following the snapshot of `cancel-db` \(<https:\/\/fake\.slack\.com\/archives\/C0OPS\/p\d+\|thread>\); a snapshot AWS has started goes on there \(`\/backup snapshots cancel-db` shows it\)\.$/,
    );
    const result = await bot.slack.waitForCall(posted(/^:no_entry_sign: Snapshot of `cancel-db`/), 10_000);
    expect(result.args.text).toBe(
      `:no_entry_sign: Snapshot of \`cancel-db\`: cancelled by <@U0BOB>. Stopped following it. The snapshot \`${id}\` itself goes on at AWS; \`/backup snapshots cancel-db\` shows how it ends.`,
    );
    await bot.slack.waitForCall(edited(/^:no_entry_sign: Snapshot of `cancel-db` requested by <@U0BOB>: cancelled\.$/));
    expect((await snapshotsOf('cancel-db-prod')).map((s) => s.DBSnapshotIdentifier)).toContain(id);
    const nothing = await bot.command('cancel cancel-db');
    expect(nothing.json?.text).toBe('No backup of `cancel-db` is queued or running, so there is nothing to cancel.');
  });
});
