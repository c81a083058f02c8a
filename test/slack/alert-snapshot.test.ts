// alerts.action snapshot|both end to end: a failure alert as a signed event callback into
// Bolt's HTTP receiver, the fake Slack Web API, RDS on moto's server (new snapshots spend a few
// polls in `creating`), dumps on the fake runner (only their order matters here).
import { DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RerunLedger } from '../../src/alerts/reruns.js';
import type { AlertDecision } from '../../src/slack/alerts/intake.js';
import { createSnapshotService } from '../../src/snapshots/snapshot.js';
import { fakeRunner, type FakeRunner } from '../jobs/fake-runner.js';
import { motoRds, NO_BACKUPS, rdsTestConfig, startRdsServers, type RdsServers } from '../helpers/rds.js';
import { startTestBot, type TestBot } from '../helpers/slack-bot.js';
import type { ApiCall } from '../helpers/slack-fake.js';
import { testServers } from '../helpers/fixtures.js';
import { stateStores } from '../helpers/state-db.js';

const ALERTS = 'C0ALERTS';
let rds: RdsServers;
const bots: TestBot[] = [];
const runners: FakeRunner[] = [];
/** The newest bot's runner. */
let runner: FakeRunner;
let seq = 0;

beforeAll(async () => {
  rds = await startRdsServers(['snap-db-prod', 'both-db-prod']);
}, 60_000);

afterAll(async () => {
  await rds?.stop();
});

afterEach(async () => {
  for (const run of runners.splice(0).flatMap((r) => r.runs)) if (!run.settled) run.succeed();
  for (const bot of bots.splice(0)) await bot.stop();
});

/** `alertLedger`: a replica of a fleet. `alert(text, ts)` delivers the message with that ts (a re-delivery); default a new one. */
async function start(
  alertLedger?: RerunLedger,
): Promise<{ bot: TestBot; runner: FakeRunner; alert: (text: string, ts?: string) => Promise<{ ts: string; decision: AlertDecision }> }> {
  const config = rdsTestConfig(
    rds.slow.endpoint,
    { 'snap-db': { alertAction: 'snapshot' }, 'both-db': { alertAction: 'both' }, 'plain-db': 'no-rds' },
    { alerts: { channels: [ALERTS], action: 'snapshot' } },
  );
  runner = fakeRunner();
  runners.push(runner);
  const decisions: AlertDecision[] = [];
  const snapshots = createSnapshotService({ config, rds: motoRds(rds.moto), pollIntervalMs: 50 });
  const bot = await startTestBot({
    config,
    runBackup: runner.runBackup,
    catalog: NO_BACKUPS,
    app: { snapshots, onAlertDecision: (d) => decisions.push(d), ...(alertLedger ? { alertLedger } : {}) },
  });
  bots.push(bot);
  return {
    bot,
    runner,
    async alert(text, ts = `${1_700_100_000 + ++seq}.000300`) {
      const response = await bot.event(
        { type: 'message', channel: ALERTS, channel_type: 'channel', user: 'U0ALICE', client_msg_id: `c-${ts}`, text, ts },
        `Ev${ts}`,
      );
      expect(response.status).toBe(200);
      await bot.slack.waitForCall(() => decisions.some((d) => d.ts === ts));
      return { ts, decision: decisions.find((d) => d.ts === ts)! };
    },
  };
}

const inThread = (bot: TestBot, ts: string) => bot.slack.ok('chat.postMessage').filter((c: ApiCall) => c.args.thread_ts === ts);
const textIn = (bot: TestBot, ts: string, pattern: RegExp) => () => inThread(bot, ts).some((c) => pattern.test(String(c.args.text)));

describe('failure alerts with alerts.action snapshot or both', () => {
  it("snapshot: an RDS snapshot in the alert's thread, tagged with the alert as its source, and no dump", async () => {
    const { bot, alert } = await start();
    rds.slow.creating([50]);
    const { ts, decision } = await alert('Automated backup of snap-db failed');
    expect(decision).toMatchObject({ outcome: 'started', target: 'snap-db', detail: 'backup of snap-db failed (snapshot)' });
    await bot.slack.waitForCall(textIn(bot, ts, /^:white_check_mark: Snapshot of `snap-db` is available\./), 10_000);
    await bot.bot.alerts.idle();
    const posts = inThread(bot, ts).map((c) => String(c.args.text));
    expect(posts[0]).toMatch(/^:arrow_forward: (Requesting a snapshot of RDS instance `snap-db-prod`|Snapshot `dumptruck-snap-db-)/);
    expect(posts).toHaveLength(2);
    // No parent of its own: the alert is the thread.
    expect(bot.slack.ok('chat.postMessage').filter((c) => c.args.thread_ts === undefined)).toEqual([]);
    expect(runner.runs).toEqual([]);
    const snapshots =
      (await rds.admin.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'snap-db-prod', SnapshotType: 'manual' })))
        .DBSnapshots ?? [];
    const tags = Object.fromEntries((snapshots[0]?.TagList ?? []).map((tag) => [tag.Key, tag.Value]));
    expect(tags).toMatchObject({ 'dumptruck:requested-by': 'alert:U0ALICE', 'dumptruck:source': `${ALERTS}/${ts}` });
  });

  it('fleet: a snapshot job taken over from another replica is reported in the thread it was asked in, naming the instance', async () => {
    const { bot } = await start();
    rds.slow.creating([50]);
    // Snapshot identifiers carry the second they were taken in: the previous test's snapshot of this target must not share it.
    await new Promise((r) => setTimeout(r, 1100));
    // What a fleet replica does when it starts a job received elsewhere: adopt it in the recorded thread.
    const enqueued = bot.bot.queue.enqueue({ kind: 'snapshot', target: 'snap-db', trigger: { kind: 'slack', by: 'U0ALICE' } });
    if (!enqueued.ok) throw new Error('refused');
    const ts = '1700200000.000100';
    bot.bot.adopt(
      enqueued.job,
      { channel: ALERTS, threadTs: ts, ownParent: false, statusTs: '1700200000.000200' },
      { retried: true, payload: undefined },
    );
    await bot.slack.waitForCall(textIn(bot, ts, /^:(white_check_mark|x|no_entry_sign): Snapshot of `snap-db`/), 20_000);
    const posts = inThread(bot, ts).map((c) => String(c.args.text));
    expect(posts.at(-1)).toMatch(/^:white_check_mark: Snapshot of `snap-db` .*is available/);
    expect(posts[0]).toMatch(/^:arrow_forward: (Requesting a snapshot of RDS instance `snap-db-prod`|Snapshot `dumptruck-snap-db-)/);
  });

  it('both: the snapshot first, then the dump once it is available, never at once', async () => {
    const { bot, alert } = await start();
    rds.slow.creating([10, 60]);
    const { ts, decision } = await alert('Automated backup of both-db failed');
    expect(decision.detail).toBe('backup of both-db failed (snapshot, then dump)');
    const dump = await runner.started('both-db');
    // The dump started only after the snapshot's result was in the thread.
    expect(textIn(bot, ts, /^:white_check_mark: Snapshot of `both-db` is available\./)()).toBe(true);
    expect(dump.request.trigger).toEqual({ kind: 'alert', by: 'U0ALICE', detail: `${ALERTS}/${ts}` });
    dump.succeed();
    await bot.slack.waitForCall(textIn(bot, ts, /^:white_check_mark: Backup of `both-db` finished\./), 10_000);
    await bot.bot.alerts.idle();
  });

  it('a target without rds dumps, whatever alerts.action says', async () => {
    const { alert } = await start();
    const { decision } = await alert('Automated backup of plain-db failed');
    expect(decision).toMatchObject({ outcome: 'started', target: 'plain-db', detail: 'backup of plain-db failed' });
    const dump = await runner.started('plain-db');
    dump.succeed();
  });
});

describe('alerts.action both in a fleet (two replicas, one state database)', () => {
  const stores = stateStores(testServers(), 'alert_snapshot_fleet');

  it('the same alert delivered to both replicas takes one snapshot and one dump, in one thread', async () => {
    const a = await start(stores[0]!.coordination('replica-a'));
    const b = await start(stores[1]!.coordination('replica-b'));
    const ts = `${1_700_100_000 + ++seq}.000300`;
    await Promise.all([a.alert('Automated backup of both-db failed', ts), b.alert('Automated backup of both-db failed', ts)]);
    const dump = await Promise.race([a.runner.started('both-db'), b.runner.started('both-db')]);
    const [winner, loser] = a.runner.runs.length > 0 ? [a, b] : [b, a];
    dump.succeed();
    await winner.bot.slack.waitForCall(textIn(winner.bot, ts, /^:white_check_mark: Backup of `both-db` finished\./), 10_000);
    await Promise.all([a.bot.bot.alerts.idle(), b.bot.bot.alerts.idle()]);
    expect(loser.runner.runs).toEqual([]);
    expect(inThread(loser.bot, ts)).toEqual([]);
    const snapshots =
      (await rds.admin.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'both-db-prod', SnapshotType: 'manual' })))
        .DBSnapshots ?? [];
    const fromThisAlert = snapshots.filter((snap) =>
      snap.TagList?.some((tag) => tag.Key === 'dumptruck:source' && tag.Value === `${ALERTS}/${ts}`),
    );
    expect(fromThisAlert).toHaveLength(1);
  });
});
