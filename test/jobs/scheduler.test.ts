import { describe, expect, it, vi } from 'vitest';
import { compileSchedule } from '../../src/config/cron.js';
import { Scheduler, missedFire, type FireClaims, type SchedulerEvent } from '../../src/jobs/scheduler.js';
import { createCatalog } from '../../src/storage/catalog.js';
import { objectKey } from '../../src/storage/keys.js';
import { testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { putBytes } from '../helpers/objects.js';
import { stateStores } from '../helpers/state-db.js';
import { fakeRunner } from './fake-runner.js';
import { accepted, backupQueue } from '../helpers/queue.js';

// The scheduler on a fake clock: timers are recorded and fired by the test, the queue and its
// one-job-per-target rule are real, the runner is a fake, the missed-run check reads versitygw.
const servers = testServers();

function fakeClock(start: string) {
  let now = new Date(start);
  const timers: { at: number; ms: number; callback: () => void; cancelled: boolean }[] = [];
  return {
    now: () => now,
    setTimer: (callback: () => void, ms: number) => {
      const timer = { at: now.getTime() + ms, ms, callback, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
    pending: () => timers.filter((t) => !t.cancelled),
    /** Moves the clock to `to`, firing due timers in order (including ones they arm). */
    advance(to: string) {
      const end = new Date(to).getTime();
      for (;;) {
        const due = timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        due.cancelled = true;
        now = new Date(due.at);
        due.callback();
      }
      now = new Date(end);
    },
  };
}

function setup(start: string, schedule = '0 2 * * *', timezone = 'Asia/Seoul', fleet?: { claims: FireClaims; prefix: string }) {
  const prefix = fleet?.prefix ?? uniquePrefix('sched');
  const config = testConfig(servers, prefix, {
    nightly: { db: 'unused', extra: `schedule: "${schedule}"\ntimezone: ${timezone}` },
    manual: { db: 'unused' },
  });
  const clock = fakeClock(start);
  const runner = fakeRunner();
  const queue = backupQueue(runner.runBackup, {
    concurrency: 2,
    maxPending: 10,
    jobTimeoutMs: 3_600_000,
    now: clock.now,
    setTimer: () => () => {},
  });
  const s3 = servers.s3.client();
  const catalog = createCatalog({ s3, storage: config.storage, env: servers.env });
  const events: SchedulerEvent[] = [];
  const scheduler = new Scheduler({
    config,
    queue,
    catalog,
    now: clock.now,
    setTimer: clock.setTimer,
    onEvent: (e) => events.push(e),
    ...(fleet ? { claims: fleet.claims } : {}),
  });
  const plant = (at: string) => putBytes(s3, servers.bucket, objectKey(prefix, 'nightly', new Date(at), 'plain'), 'x');
  return { config, clock, runner, queue, scheduler, events, plant };
}

describe('Scheduler', () => {
  it("fires at the cron time in the target's time zone, through the queue, and arms the next day", async () => {
    // 01:59 in Seoul (UTC+9) is 16:59 UTC the day before.
    const { clock, runner, scheduler, events } = setup('2026-11-21T16:59:00Z');
    await scheduler.start();
    expect(scheduler.upcoming()).toEqual([{ target: 'nightly', schedule: '0 2 * * * Asia/Seoul', next: new Date('2026-11-21T17:00:00Z') }]);
    expect(clock.pending().map((t) => t.ms)).toEqual([60_000]);
    expect(runner.runs).toHaveLength(0);

    clock.advance('2026-11-21T17:00:00Z');
    const run = await runner.started('nightly');
    expect(run.request.trigger).toEqual({ kind: 'schedule', by: 'scheduler', detail: '0 2 * * * Asia/Seoul' });
    expect(events).toMatchObject([{ type: 'enqueued', target: 'nightly', scheduledFor: new Date('2026-11-21T17:00:00Z'), catchUp: false }]);
    expect(scheduler.upcoming()[0]!.next).toEqual(new Date('2026-11-22T17:00:00Z'));
    run.succeed();
    await (events[0] as { job: { settled: Promise<unknown> } }).job.settled;

    clock.advance('2026-11-22T17:00:00Z');
    await runner.started('nightly', 2);
    expect(events.map((e) => e.type)).toEqual(['enqueued', 'enqueued']);
    scheduler.stop();
  });

  it('never overlaps a queued or running job of the same target: the fire is reported as skipped', async () => {
    const { clock, runner, queue, scheduler, events } = setup('2026-11-21T16:59:00Z');
    await scheduler.start();
    const manual = accepted(queue.enqueue({ kind: 'backup', target: 'nightly', trigger: { kind: 'slack', by: 'U1' } })).job;
    await runner.started('nightly');

    clock.advance('2026-11-21T17:00:00Z');
    expect(events).toMatchObject([{ type: 'skipped', target: 'nightly', job: manual, catchUp: false }]);
    expect(runner.runs).toHaveLength(1);
    runner.run('nightly').succeed();
    await manual.settled;

    clock.advance('2026-11-22T17:00:00Z');
    await runner.started('nightly', 2);
    expect(events.map((e) => e.type)).toEqual(['skipped', 'enqueued']);
    scheduler.stop();
  });

  it('on start, runs one catch-up for fires missed since the newest backup in the bucket', async () => {
    const { runner, scheduler, events, plant } = setup('2026-11-21T20:00:00Z');
    // Newest backup from the 20th's run (02:00 Seoul); the 21st's and 22nd's 02:00 have passed since.
    await plant('2026-11-18T17:00:04Z');
    await plant('2026-11-19T17:00:04Z');
    await scheduler.start();
    const run = await runner.started('nightly');
    expect(runner.runs).toHaveLength(1);
    expect(run.request.trigger.detail).toBe('0 2 * * * Asia/Seoul, catch-up for the missed 2026-11-21T17:00:00.000Z run');
    expect(run.request.trigger.catchUpFor).toEqual(new Date('2026-11-21T17:00:00.000Z'));
    expect(events).toMatchObject([{ type: 'enqueued', catchUp: true, scheduledFor: new Date('2026-11-21T17:00:00Z') }]);
    scheduler.stop();
  });

  it('no catch-up when the newest backup is after the last fire, nor for a target without backups', async () => {
    const recent = setup('2026-11-21T20:00:00Z');
    await recent.plant('2026-11-21T17:00:03Z');
    await recent.scheduler.start();
    const none = setup('2026-11-21T20:00:00Z');
    await none.scheduler.start();
    expect(recent.runner.runs).toHaveLength(0);
    expect(none.runner.runs).toHaveLength(0);
    expect([...recent.events, ...none.events]).toEqual([]);
    recent.scheduler.stop();
    none.scheduler.stop();
  });

  it("waits beyond setTimeout's ceiling by re-arming, and stop() cancels", async () => {
    // Yearly, 40 days away: longer than 2^31-1 ms.
    const { clock, runner, scheduler } = setup('2026-11-22T00:00:00Z', '0 0 1 1 *', 'UTC');
    await scheduler.start();
    expect(clock.pending().map((t) => t.ms)).toEqual([2 ** 31 - 1]);
    clock.advance('2026-12-30T00:00:00Z');
    expect(runner.runs).toHaveLength(0);
    expect(clock.pending()).toHaveLength(1);
    clock.advance('2027-01-01T00:00:00Z');
    await runner.started('nightly');
    scheduler.stop();
    expect(clock.pending()).toEqual([]);
  });

  it('missedFire: the latest fire after the newest backup, or nothing', () => {
    const cron = compileSchedule('0 2 * * *', 'UTC');
    expect(missedFire(cron, new Date('2026-11-20T02:00:05Z'), new Date('2026-11-22T01:00:00Z'))).toEqual(new Date('2026-11-21T02:00:00Z'));
    expect(missedFire(cron, new Date('2026-11-20T02:00:05Z'), new Date('2026-11-22T03:00:00Z'))).toEqual(new Date('2026-11-22T02:00:00Z'));
    expect(missedFire(cron, new Date('2026-11-21T02:00:05Z'), new Date('2026-11-22T01:59:59Z'))).toBeUndefined();
  });
});

describe('Scheduler in a fleet (two replicas, one state database)', () => {
  const stores = stateStores(servers, 'scheduler_fleet');

  it('a catch-up both replicas find at start runs once, and so does each fire time after it', async () => {
    const prefix = uniquePrefix('sched-fleet');
    const replicas = stores.map((store, i) =>
      setup('2026-11-21T20:00:00Z', undefined, undefined, { claims: store.coordination(`r${i}`), prefix }),
    );
    const [a, b] = replicas as [ReturnType<typeof setup>, ReturnType<typeof setup>];
    const runs = () => [...a.runner.runs, ...b.runner.runs];
    // Both see the 21st's fire missed since the newest backup, and start together.
    await a.plant('2026-11-19T17:00:04Z');
    await Promise.all([a.scheduler.start(), b.scheduler.start()]);
    await vi.waitFor(() => expect(runs()).toHaveLength(1));
    expect([...a.events, ...b.events].map((e) => e.type).sort()).toEqual(['claimed-elsewhere', 'enqueued']);
    // Each run ends before the next fire: the queue would otherwise report the fire as skipped.
    const finish = async () => {
      for (const run of runs().filter((r) => !r.settled)) run.succeed();
      await vi.waitFor(() => expect([a.queue.get('nightly'), b.queue.get('nightly')]).toEqual([undefined, undefined]));
    };
    await finish();

    // Three nightly fires, both replicas armed for each: one run per fire time.
    for (const [n, at] of ['2026-11-22T17:00:00Z', '2026-11-23T17:00:00Z', '2026-11-24T17:00:00Z'].entries()) {
      a.clock.advance(at);
      b.clock.advance(at);
      await vi.waitFor(() => expect(a.events.length + b.events.length).toBe(2 * (n + 2)));
      await vi.waitFor(() => expect(runs()).toHaveLength(n + 2));
      expect(runs().find((r) => !r.settled)!.request.trigger).toEqual({
        kind: 'schedule',
        by: 'scheduler',
        detail: '0 2 * * * Asia/Seoul',
      });
      await finish();
    }
    expect([...a.events, ...b.events].filter((e) => e.type === 'enqueued')).toHaveLength(4);
    for (const r of replicas) r.scheduler.stop();
  });
});
