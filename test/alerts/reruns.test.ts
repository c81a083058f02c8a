// The rerun controller on the real JobQueue with a fake runner and a fake timer: which alerts join
// which run, how many attempts, how long between them, and what the reporter is told, in order.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { AlertReruns, MAX_BACKOFF_MS, retryDelayMs, type AlertRun, type RerunEvent, type RerunLedger } from '../../src/alerts/reruns.js';
import { testServers } from '../helpers/fixtures.js';
import { stateStores } from '../helpers/state-db.js';
import { DumptruckError } from '../../src/errors.js';
import { fakeRunner } from '../jobs/fake-runner.js';
import { accepted, backupQueue } from '../helpers/queue.js';
import { refusalError } from '../../src/slack/messages/queue.js';

class FakeTimer {
  readonly pending: Array<{ readonly ms: number; readonly fire: () => void; cancelled: boolean }> = [];
  readonly set = (callback: () => void, ms: number) => {
    const timer = { ms, fire: callback, cancelled: false };
    this.pending.push(timer);
    return () => {
      timer.cancelled = true;
    };
  };
  /** Fires the oldest live timer and returns its delay. */
  fire(): number {
    const timer = this.pending.find((t) => !t.cancelled);
    if (!timer) throw new Error('no timer pending');
    timer.cancelled = true;
    timer.fire();
    return timer.ms;
  }
  get live(): number {
    return this.pending.filter((t) => !t.cancelled).length;
  }
}

const tick = async () => {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
};
const connectFailed = () => new DumptruckError('CONNECT_FAILED', 'connect', 'connect failed: password authentication failed');
const alert = (ts: string) => ({ channel: 'C0ALERTS', ts, by: 'B0WEBHOOK' });

function setup(
  opts: {
    attempts?: number;
    backoffMs?: number;
    windowMs?: number;
    accepting?: () => boolean;
    maxPending?: number;
    ledger?: RerunLedger;
  } = {},
) {
  let now = Date.parse('2024-05-01T03:00:00Z');
  let ids = 0;
  const runner = fakeRunner();
  const queue = backupQueue(runner.runBackup, {
    concurrency: 1,
    maxPending: opts.maxPending ?? 10,
    jobTimeoutMs: 60_000,
    newJobId: () => `job${++ids}`,
  });
  const timer = new FakeTimer();
  const told: string[] = [];
  const describe = (run: AlertRun, e: RerunEvent): string => {
    switch (e.type) {
      case 'attempt':
        return `${run.id} attempt ${e.attempt} ${e.job.id}${e.created ? '' : ' (followed)'}`;
      case 'ended':
        return `${run.id} ended ${e.attempt} ${e.outcome.ok ? 'ok' : e.outcome.error.code}`;
      case 'retrying':
        return `${run.id} retrying ${e.attempt} in ${e.delayMs}${e.created ? '' : ' (not shown)'}`;
      case 'exhausted':
        return `${run.id} exhausted ${e.error.code}`;
      case 'stopped':
        return `${run.id} stopped ${e.reason}`;
      case 'elsewhere':
        return `${run.id} elsewhere ${e.verdict.kind}${e.verdict.kind === 'joined' ? ` ${e.verdict.alert.ts}` : ''}`;
    }
  };
  const reruns = new AlertReruns({
    queue,
    retry: { attempts: opts.attempts ?? 3, backoffMs: opts.backoffMs ?? 1000 },
    windowMs: opts.windowMs ?? 600_000,
    refusalError,
    report: async (run, event) => {
      told.push(describe(run, event));
    },
    now: () => new Date(now),
    setTimer: timer.set,
    ...(opts.accepting ? { accepting: opts.accepting } : {}),
    ...(opts.ledger ? { ledger: opts.ledger, onLedgerError: (err: unknown) => told.push(`ledger error ${String(err)}`) } : {}),
  });
  return { runner, queue, timer, told, reruns, advance: (ms: number) => (now += ms) };
}

describe('retryDelayMs', () => {
  it('doubles from the configured backoff, at most an hour unless the backoff itself is longer', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(120_000, n))).toEqual([120_000, 240_000, 480_000, 960_000]);
    expect(retryDelayMs(120_000, 9)).toBe(MAX_BACKOFF_MS);
    expect(retryDelayMs(7_200_000, 3)).toBe(7_200_000);
  });
});

describe('AlertReruns', () => {
  it('fails twice, then succeeds: three attempts, doubling waits, each step reported in order', async () => {
    const { runner, timer, told, reruns } = setup({ attempts: 3, backoffMs: 1000 });
    const { kind, run } = reruns.receive('app-db', alert('1.1'));
    expect(kind).toBe('started');
    (await runner.started('app-db', 1)).fail(connectFailed());
    await tick();
    expect(timer.fire()).toBe(1000);
    (await runner.started('app-db', 2)).fail(connectFailed());
    await tick();
    expect(timer.fire()).toBe(2000);
    (await runner.started('app-db', 3)).succeed();
    await reruns.idle();
    expect(told).toEqual([
      'r1 attempt 1 job1',
      'r1 ended 1 CONNECT_FAILED',
      'r1 retrying 2 in 1000',
      'r1 attempt 2 job2',
      'r1 ended 2 CONNECT_FAILED',
      'r1 retrying 3 in 2000',
      'r1 attempt 3 job3',
      'r1 ended 3 ok',
    ]);
    expect(run).toMatchObject({ state: 'succeeded', attempt: 3, result: { target: 'app-db' } });
    expect(runner.runs.map((r) => r.request.trigger)).toEqual([
      { kind: 'alert', by: 'B0WEBHOOK', detail: 'C0ALERTS/1.1' },
      { kind: 'alert', by: 'B0WEBHOOK', detail: 'C0ALERTS/1.1 (attempt 2 of 3)' },
      { kind: 'alert', by: 'B0WEBHOOK', detail: 'C0ALERTS/1.1 (attempt 3 of 3)' },
    ]);
  });

  it('exhausts its attempts: the last failure is reported as exhausted, no more timers', async () => {
    const { runner, timer, told, reruns } = setup({ attempts: 2 });
    const { run } = reruns.receive('app-db', alert('1.1'));
    (await runner.started('app-db', 1)).fail(connectFailed());
    await tick();
    timer.fire();
    (await runner.started('app-db', 2)).fail(connectFailed());
    await reruns.idle();
    expect(told.slice(-2)).toEqual(['r1 ended 2 CONNECT_FAILED', 'r1 exhausted CONNECT_FAILED']);
    expect(timer.live).toBe(0);
    expect(run).toMatchObject({ state: 'failed', attempt: 2, error: { code: 'CONNECT_FAILED' } });
  });

  it('alerts for the same target join the run while it is active and for `window` after it ended; then a new run', async () => {
    const { runner, told, reruns, advance } = setup({ windowMs: 600_000 });
    const first = reruns.receive('app-db', alert('1.1'));
    const joins = Array.from({ length: 9 }, (_, i) => reruns.receive('app-db', alert(`2.${i}`)));
    expect(joins.every((j) => j.kind === 'joined' && j.run === first.run)).toBe(true);
    expect(first.run.joined).toBe(9);
    // Another target is another run.
    expect(reruns.receive('billing', alert('3.1')).kind).toBe('started');
    (await runner.started('app-db')).succeed();
    (await runner.started('billing')).succeed();
    await reruns.idle();
    advance(599_999);
    expect(reruns.receive('app-db', alert('4.1'))).toMatchObject({ kind: 'joined', run: first.run });
    advance(1);
    expect(reruns.current('app-db')).toBeUndefined();
    expect(reruns.receive('app-db', alert('5.1')).kind).toBe('started');
    expect(told.filter((t) => t.includes('attempt')).length).toBe(3);
  });

  it('follows a backup of the target already queued by someone else instead of doubling it', async () => {
    const { runner, queue, told, reruns } = setup();
    const { job } = accepted(queue.enqueue({ kind: 'backup', target: 'app-db', trigger: { kind: 'slack', by: 'U0ALICE' } }));
    reruns.receive('app-db', alert('1.1'));
    (await runner.started('app-db')).succeed();
    await reruns.idle();
    expect(told).toEqual([`r1 attempt 1 ${job.id} (followed)`, 'r1 ended 1 ok']);
    expect(runner.runs).toHaveLength(1);
  });

  it('a refused attempt (queue full) counts as failed and is retried; its reason is not shown anywhere yet', async () => {
    const { runner, queue, timer, told, reruns } = setup({ maxPending: 0, attempts: 2 });
    accepted(queue.enqueue({ kind: 'backup', target: 'other', trigger: { kind: 'slack', by: 'U1' } }));
    reruns.receive('app-db', alert('1.1'));
    await tick();
    expect(told).toEqual(['r1 ended 1 QUEUE_FULL', 'r1 retrying 2 in 1000 (not shown)']);
    (await runner.started('other')).succeed();
    await tick();
    timer.fire();
    (await runner.started('app-db')).succeed();
    await reruns.idle();
    expect(told.slice(-2)).toEqual(['r1 attempt 2 job2', 'r1 ended 2 ok']);
  });

  it('a cancelled attempt ends the run without retrying', async () => {
    const { runner, queue, timer, told, reruns } = setup();
    const { run } = reruns.receive('app-db', alert('1.1'));
    await runner.started('app-db');
    queue.cancel('app-db', 'cancelled by <@U0ALICE>');
    await reruns.idle();
    expect(told).toEqual(['r1 attempt 1 job1', 'r1 ended 1 CANCELLED', 'r1 stopped cancelled']);
    expect(timer.live).toBe(0);
    expect(run.state).toBe('stopped');
  });

  it('stop() ends a run waiting to retry at once; no attempt starts while not accepting', async () => {
    let accepting = true;
    const { runner, timer, told, reruns } = setup({ accepting: () => accepting });
    reruns.receive('app-db', alert('1.1'));
    (await runner.started('app-db')).fail(connectFailed());
    await tick();
    expect(timer.live).toBe(1);
    reruns.stop();
    await reruns.idle();
    expect(told.at(-1)).toBe('r1 stopped shutdown');
    expect(runner.runs).toHaveLength(1);

    const other = setup({ accepting: () => accepting });
    accepting = false;
    other.reruns.receive('app-db', alert('2.1'));
    await other.reruns.idle();
    expect(other.told).toEqual(['r1 stopped shutdown']);
    expect(other.runner.runs).toHaveLength(0);
  });

  it('a thread that cannot be posted cancels the job the run created and ends the run', async () => {
    const runner = fakeRunner();
    const queue = backupQueue(runner.runBackup, { concurrency: 1, maxPending: 10, jobTimeoutMs: 60_000 });
    const reruns = new AlertReruns({
      queue,
      retry: { attempts: 3, backoffMs: 1000 },
      windowMs: 1000,
      refusalError,
      report: async (_run, event) => {
        if (event.type === 'attempt') throw new Error('not_in_channel');
      },
    });
    const { run } = reruns.receive('app-db', alert('1.1'));
    await reruns.idle();
    expect(run.state).toBe('stopped');
    expect(await run.job!.settled).toMatchObject({ ok: false, error: { code: 'CANCELLED' } });
    expect(runner.runs).toHaveLength(0);
  });
});

// Two replicas' AlertReruns, each with its own queue and runner, sharing one ledger on the real
// PostgreSQL (a database of this file's own).
describe('AlertReruns in a fleet', () => {
  const stores = stateStores(testServers(), 'reruns_fleet');
  let ledgers: RerunLedger[] = [];
  beforeAll(() => {
    ledgers = stores.map((store, i) => store.coordination(`replica-${i}`));
  });
  const pair = () => [setup({ ledger: ledgers[0]! }), setup({ ledger: ledgers[1]! })] as const;

  it('the same alert delivered to both replicas runs once; the other replica says nothing in the thread', async () => {
    const [a, b] = pair();
    const runs = [a.reruns.receive('dup-db', alert('1.1')).run, b.reruns.receive('dup-db', alert('1.1')).run];
    await Promise.race([a.runner.started('dup-db'), b.runner.started('dup-db')]);
    const [winner, loser] = a.runner.runs.length === 1 ? [a, b] : [b, a];
    winner.runner.run('dup-db').succeed();
    await Promise.all([a.reruns.idle(), b.reruns.idle()]);
    expect(a.runner.runs.length + b.runner.runs.length).toBe(1);
    expect(loser.told).toEqual([expect.stringMatching(/^r-[0-9a-f]+ elsewhere duplicate$/)]);
    expect(winner.told.map((t) => t.replace(/^r-[0-9a-f]+ /, ''))).toEqual(['attempt 1 job1', 'ended 1 ok']);
    expect(runs.map((r) => r.state).sort()).toEqual(['stopped', 'succeeded']);
    // The loser asks the ledger again for the next alert, which joins the winner's run (within the window).
    expect(loser.reruns.current('dup-db')).toBeUndefined();
    loser.reruns.receive('dup-db', alert('1.2'));
    await loser.reruns.idle();
    expect(loser.told.at(-1)).toMatch(/ elsewhere joined 1\.1$/);
    expect(loser.runner.runs).toHaveLength(0);
  });

  it('a retry left waiting by a replica that stopped is carried out by another that resumes, exactly once', async () => {
    const [a, b] = pair();
    a.reruns.receive('retry-db', alert('2.1'));
    (await a.runner.started('retry-db')).fail(connectFailed());
    // The wait is written to the ledger before the timer is armed.
    await vi.waitFor(() => expect(a.timer.live).toBe(1));
    // A shuts down while waiting: the retry stays in the ledger, and A's thread gets no "stopped".
    a.reruns.stop();
    await a.reruns.idle();
    expect(a.told.map((t) => t.replace(/^r-[0-9a-f]+ /, ''))).toEqual(['attempt 1 job1', 'ended 1 CONNECT_FAILED', 'retrying 2 in 1000']);

    expect(await b.reruns.resume()).toBe(1);
    // Resuming twice does not double it.
    expect(await b.reruns.resume()).toBe(0);
    await vi.waitFor(() => expect(b.timer.live).toBe(1));
    expect(b.timer.fire()).toBe(1000);
    const second = await b.runner.started('retry-db');
    expect(second.request.trigger).toEqual({ kind: 'alert', by: 'B0WEBHOOK', detail: 'C0ALERTS/2.1 (attempt 2 of 3)' });
    second.succeed();
    await b.reruns.idle();
    expect(b.told.map((t) => t.replace(/^r-[0-9a-f]+ /, ''))).toEqual(['attempt 2 job1', 'ended 2 ok']);
    expect(a.runner.runs).toHaveLength(1);
    // Ended in the ledger: nothing left to resume.
    expect(await a.reruns.resume()).toBe(0);
  });

  it('when the replica that scheduled a retry and one that resumed it both wake, one takes the attempt', async () => {
    const [a, b] = pair();
    a.reruns.receive('race-db', alert('3.1'));
    (await a.runner.started('race-db')).fail(connectFailed());
    await vi.waitFor(() => expect(a.timer.live).toBe(1));
    expect(await b.reruns.resume()).toBe(1);
    a.timer.fire();
    await vi.waitFor(() => expect(b.timer.live).toBe(1));
    b.timer.fire();
    await Promise.race([a.runner.started('race-db', 2), b.runner.started('race-db')]);
    for (const r of [a, b]) for (const run of r.runner.runs.filter((x) => !x.settled)) run.succeed();
    await Promise.all([a.reruns.idle(), b.reruns.idle()]);
    expect(a.runner.runs.length + b.runner.runs.length).toBe(3 - 1);
  });
});
