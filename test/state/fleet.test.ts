// The fleet queue (config `state:`) on the shared real PostgreSQL: several FleetQueue instances in
// this process stand for replicas sharing one state database, with pg-boss under them. Handlers
// here are plain functions: what is tested is who runs what, when, and how it ends.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { Maintenance, type TrustOps } from '../../src/jobs/maintenance.js';
import type { JobContext } from '../../src/jobs/queue.js';
import { FleetQueue, type FleetQueueOptions, type StaleJob } from '../../src/state/fleet.js';
import type { BackupResult, RestorePlan, RestoreRunReport } from '../../src/types.js';
import { openState } from '../../src/state/store.js';
import { testServers } from '../helpers/fixtures.js';
import { stateConfigOf } from '../helpers/state-db.js';

const servers = testServers();
const DB = 'fleet_engine';
let url: string;
let schemaN = 0;
let schema = '';
const started: FleetQueue[] = [];
/** Schemas whose tables exist: a replica's store migrates before its queue starts, as in the bot. */
const migrated = new Set<string>();

beforeAll(async () => {
  await servers.pg.dropDatabase(DB);
  await servers.pg.createDatabase(DB);
  const { user, password } = servers.pg.superuser;
  url = `postgres://${user}:${encodeURIComponent(password)}@${servers.pg.host}:${servers.pg.port}/${DB}`;
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((q) => q.shutdown()));
});

afterAll(async () => {
  await servers.pg.dropDatabase(DB);
});

/** A fresh schema per test: each test's fleet is alone. */
function nextSchema(): string {
  schemaN += 1;
  schema = `fleet_t${schemaN}`;
  return schema;
}

async function replica(name: string, options: Partial<FleetQueueOptions> = {}): Promise<FleetQueue> {
  if (!migrated.has(schema)) {
    const { config, env } = stateConfigOf(servers, DB);
    await (await openState({ ...config, schema }, { env })).close();
    migrated.add(schema);
  }
  const queue = new FleetQueue({
    connectionString: url,
    schema,
    concurrency: 1,
    maxPending: 50,
    jobTimeoutMs: 60_000,
    staleAfterMs: 1500,
    pollMs: 200,
    replica: name,
    ...options,
  });
  started.push(queue);
  await queue.start();
  return queue;
}

/** A handler that records each run and holds it until released (or aborted). */
function recorder(replicaName: string, log: Run[], hold: { release?: Promise<void> } = {}) {
  return async (ctx: JobContext<'backup'>): Promise<BackupResult> => {
    const run: Run = { replica: replicaName, target: ctx.target, start: Date.now(), end: undefined };
    log.push(run);
    try {
      await Promise.race([
        hold.release ?? sleep(300),
        new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true })),
      ]);
    } finally {
      run.end = Date.now();
    }
    return { target: ctx.target, key: `k/${ctx.target}` } as unknown as BackupResult;
  };
}

/** A run held until `release()` is called. */
function held(): { release: () => void; hold: { release: Promise<void> } } {
  let release!: () => void;
  const hold = { release: new Promise<void>((resolve) => (release = resolve)) };
  return { release, hold };
}

interface Run {
  readonly replica: string;
  readonly target: string;
  readonly start: number;
  end: number | undefined;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const slack = (by: string) => ({ kind: 'slack' as const, by });

describe('FleetQueue', () => {
  it('its connections stop, on the server too, a statement the client gave up on, and end a transaction left quiet', async () => {
    nextSchema();
    const { pool } = (await replica('limits:1')) as unknown as { pool: pg.Pool };
    const { rows } = await pool.query<{ statement: string; idle: string }>(
      `select current_setting('statement_timeout') as statement, current_setting('idle_in_transaction_session_timeout') as idle`,
    );
    expect(rows[0]).toEqual({ statement: '15s', idle: '1min' });
  });

  it('runs the same request sent to two replicas at once only once', async () => {
    nextSchema();
    const runs: Run[] = [];
    const a = (await replica('a:1')).register('backup', recorder('a:1', runs));
    const b = (await replica('b:1')).register('backup', recorder('b:1', runs));
    const first = a.enqueue({ kind: 'backup', target: 'app', trigger: slack('U1') });
    const second = b.enqueue({ kind: 'backup', target: 'app', trigger: slack('U2') });
    expect(first.ok && second.ok).toBe(true);
    if (!first.ok || !second.ok) return;
    const outcomes = await Promise.all([first.job.settled, second.job.settled]);
    expect(runs.map((r) => r.target)).toEqual(['app']);
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
    const lost = outcomes.find((o) => !o.ok);
    expect(lost && !lost.ok && lost.error.message).toMatch(/another replica took a request for app at the same moment/);
  });

  it('answers a second request on another replica with the job already there, and refuses another kind as busy', async () => {
    nextSchema();
    const runs: Run[] = [];
    const { release, hold } = held();
    const a = (await replica('a:1')).register('backup', recorder('a:1', runs, hold));
    const b = (await replica('b:1')).register('backup', recorder('b:1', runs, hold)).register('prune', async () => ({}) as never);
    const first = a.enqueue({ kind: 'backup', target: 'app', trigger: slack('U1') });
    if (!first.ok) throw new Error('refused');
    await until(() => b.get('app')?.state === 'running', 'b to see the job running');
    const again = b.enqueue({ kind: 'backup', target: 'app', trigger: slack('U2') });
    expect(again.ok && again.created === false && again.job.id === first.job.id).toBe(true);
    expect(b.status().running.map((j) => [j.id, j.replica])).toEqual([[first.job.id, runs[0]?.replica]]);
    const prune = b.enqueue({ kind: 'prune', target: 'app', trigger: slack('U2') });
    expect(prune).toMatchObject({
      ok: false,
      refusal: { reason: 'target-busy', busy: { id: first.job.id, kind: 'backup', state: 'running' } },
    });
    release();
    await first.job.settled;
    await until(() => b.get('app') === undefined, 'b to see the job gone');
  });

  it('spreads targets over replicas, each run once, within each replica’s concurrency and the fleet-wide cap', async () => {
    nextSchema();
    const runs: Run[] = [];
    const names = ['a:1', 'b:1', 'c:1'];
    const queues: FleetQueue[] = [];
    for (const name of names)
      queues.push((await replica(name, { concurrency: 2, fleetConcurrency: 3 })).register('backup', recorder(name, runs)));
    const targets = Array.from({ length: 12 }, (_, i) => `db${i}`);
    const jobs = targets.map((target, i) => {
      const enqueued = queues[i % 3]!.enqueue({ kind: 'backup', target, trigger: slack('U1') });
      if (!enqueued.ok) throw new Error(`refused ${target}`);
      return enqueued.job;
    });
    const outcomes = await Promise.all(jobs.map((j) => j.settled));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(runs.map((r) => r.target).sort()).toEqual([...targets].sort());
    const overlap = (list: Run[]) =>
      Math.max(...list.map((r) => list.filter((o) => o.start <= r.start && (o.end ?? Infinity) > r.start).length));
    expect(overlap(runs)).toBeLessThanOrEqual(3);
    for (const name of names) expect(overlap(runs.filter((r) => r.replica === name))).toBeLessThanOrEqual(2);
    expect(new Set(runs.map((r) => r.replica)).size).toBeGreaterThan(1);
  });

  it('never reports a job sent while a refresh was reading the fleet as stopped: every run that succeeded is reported so', async () => {
    nextSchema();
    const runs: Run[] = [];
    // Refreshing all the time, so that sends land inside a refresh's read again and again.
    const a = (await replica('a:1', { concurrency: 4, pollMs: 5 })).register(
      'backup',
      recorder('a:1', runs, { release: Promise.resolve() }),
    );
    const jobs = [];
    for (let i = 0; i < 40; i++) {
      const enqueued = a.enqueue({ kind: 'backup', target: `db${i}`, trigger: slack('U1') });
      if (!enqueued.ok) throw new Error(`refused db${i}`);
      jobs.push(enqueued.job);
      await sleep(i % 4);
    }
    const outcomes = await Promise.all(jobs.map((j) => j.settled));
    expect(outcomes.filter((o) => !o.ok).map((o) => !o.ok && o.error.message)).toEqual([]);
    expect(runs).toHaveLength(40);
  });

  it('cancels, from one replica, a job running on another: the runner is aborted with the reason', async () => {
    nextSchema();
    const runs: Run[] = [];
    const never = { release: new Promise<void>(() => {}) };
    const a = (await replica('a:1')).register('backup', recorder('a:1', runs, never));
    const b = (await replica('b:1', { concurrency: 0 as number })).register('backup', recorder('b:1', runs, never));
    const enqueued = b.enqueue({ kind: 'backup', target: 'app', trigger: slack('U1') });
    if (!enqueued.ok) throw new Error('refused');
    await until(() => runs.length === 1 && b.get('app')?.state === 'running', 'a to run it');
    expect(runs[0]?.replica).toBe('a:1');
    b.cancel('app', 'cancelled by <@U2>');
    const outcome = await enqueued.job.settled;
    expect(outcome.ok === false && outcome.error.message).toBe('cancelled by <@U2>');
    const there = a.getById(enqueued.job.id);
    const ranThere = there ? await there.settled : undefined;
    await until(() => runs[0]?.end !== undefined, 'the runner on a to stop');
    if (ranThere) expect(ranThere.ok === false && ranThere.error.message).toBe('cancelled by <@U2>');
  });

  it('notices a replica that stopped without a word, tells once, and runs its job again elsewhere', async () => {
    nextSchema();
    const runs: Run[] = [];
    const stale: StaleJob[] = [];
    const adopted: { place: unknown; retried: boolean }[] = [];
    // The dead replica: it took the job and then stopped answering (its heartbeat times out).
    const dead = (await replica('dead:1')).register('backup', recorder('dead:1', runs, { release: new Promise<void>(() => {}) }));
    const enqueued = dead.enqueue({ kind: 'backup', target: 'app', trigger: slack('U1') });
    if (!enqueued.ok) throw new Error('refused');
    dead.setPlace(enqueued.job.id, { channel: 'C1', threadTs: '1.2', ownParent: true });
    await until(() => runs.length === 1, 'the doomed replica to start it');
    freeze(dead);
    const live = (
      await replica('live:1', { onStale: (s) => stale.push(s), onAdopt: (_job, place, how) => adopted.push({ place, ...how }) })
    ).register('backup', recorder('live:1', runs));
    await until(() => runs.length === 2 && runs[1]?.end !== undefined, 'the retry on the live replica');
    expect(runs.map((r) => r.replica)).toEqual(['dead:1', 'live:1']);
    expect(stale).toEqual([
      {
        jobId: enqueued.job.id,
        kind: 'backup',
        target: 'app',
        replica: 'dead:1',
        place: { channel: 'C1', threadTs: '1.2', ownParent: true },
        retried: true,
      },
    ]);
    await until(() => adopted.length === 1, 'the live replica to adopt the thread');
    expect(adopted).toEqual([{ place: { channel: 'C1', threadTs: '1.2', ownParent: true }, retried: true }]);
    void live;
  });

  it('puts its running job back in the queue on shutdown, for another replica to finish', async () => {
    nextSchema();
    const runs: Run[] = [];
    const adopted: boolean[] = [];
    const a = (await replica('a:1')).register('backup', recorder('a:1', runs, { release: new Promise<void>(() => {}) }));
    const enqueued = a.enqueue({ kind: 'backup', target: 'app', trigger: slack('U1') });
    if (!enqueued.ok) throw new Error('refused');
    await until(() => runs.length === 1, 'a to start it');
    const b = (await replica('b:1', { onAdopt: (_job, _place, how) => adopted.push(how.retried) })).register(
      'backup',
      recorder('b:1', runs),
    );
    await a.shutdown();
    const outcome = await enqueued.job.settled;
    expect(outcome.ok === false && outcome.error.message).toMatch(/back in the queue for another replica/);
    await until(() => runs.length === 2 && runs[1]?.end !== undefined, 'b to finish it');
    expect(runs.map((r) => r.replica)).toEqual(['a:1', 'b:1']);
    await until(() => adopted.length === 1, 'b to adopt it');
    expect(adopted).toEqual([true]);
    await until(() => b.get('app') === undefined, 'b to see it finished');
  });
});

describe('Maintenance on the fleet queue', () => {
  // The parts of the config Maintenance reads; its own queue's limits would come from `queue`.
  const config = { verify: {}, queue: { concurrency: 1, maxPending: 10, jobTimeoutMs: 60_000 } } as unknown as Config;

  /** Trust operations as plain functions: what is tested is where the jobs go, not what they do. */
  function trustOps(seen: { plans: RestorePlan[]; verifying?: Promise<void> } = { plans: [] }): TrustOps {
    return {
      resolve: async (_target, key) => ({ key }) as never,
      verify: async () => {
        await seen.verifying;
        return {} as never;
      },
      prune: async () => ({}) as never,
      planRestore: async () => ({}) as never,
      restore: async (plan) => {
        seen.plans.push(plan);
        return { plan } as unknown as RestoreRunReport;
      },
    };
  }

  it('refuses a verification as target-busy while another replica backs the target up, and gives the same verification once', async () => {
    nextSchema();
    const runs: Run[] = [];
    const { release, hold } = held();
    const a = (await replica('a:1')).register('backup', recorder('a:1', runs, hold));
    const verifying = held();
    const aTrust = new Maintenance({ config, ops: trustOps({ plans: [], verifying: verifying.hold.release }), shared: a });
    const b = (await replica('b:1', { concurrency: 0 as number })).register('backup', recorder('b:1', runs, hold));
    const bTrust = new Maintenance({ config, ops: trustOps(), shared: b });

    const backup = a.enqueue({ kind: 'backup', target: 'app', trigger: slack('U1') });
    if (!backup.ok) throw new Error('refused');
    await until(() => b.get('app')?.state === 'running', 'b to see the backup running on a');
    expect(bTrust.verify('app', 'latest', slack('U2'))).toMatchObject({
      ok: false,
      refusal: { reason: 'target-busy', kind: 'verify', busy: { id: backup.job.id, kind: 'backup', state: 'running' } },
    });
    release();
    await backup.job.settled;
    await until(() => b.get('app') === undefined, 'b to see the backup gone');

    // b only takes requests (no slots): the verification waits in the fleet, where a sees it.
    const first = bTrust.verify('db2', 'latest', slack('U2'));
    if (!first.ok) throw new Error('refused');
    await until(() => a.get('db2')?.state === 'running', 'a to run the verification');
    const second = aTrust.verify('db2', 'latest', slack('U3'));
    expect(second.ok && second.created === false && second.job.id === first.job.id).toBe(true);
    expect(second.ok && second.job.kind).toBe('verify');
    verifying.release();
    expect((await first.job.settled).ok).toBe(true);
  });

  it('runs a restore queued on one replica on another, with its plan as it was asked (dates revived from JSON)', async () => {
    nextSchema();
    const seen = { plans: [] as RestorePlan[] };
    const asker = await replica('a:1', { concurrency: 0 as number });
    const askerTrust = new Maintenance({ config, ops: trustOps(), shared: asker });
    const runner = await replica('b:1');
    new Maintenance({ config, ops: trustOps(seen), shared: runner });
    const backupAt = new Date('2026-11-01T02:03:04.000Z');
    const plan = { target: 'app', key: 'app/k.dump.gz', database: 'app_copy', backupAt } as RestorePlan;
    const enqueued = askerTrust.restore(plan, slack('U1'));
    if (!enqueued.ok) throw new Error('refused');
    expect((await enqueued.job.settled).ok).toBe(true);
    expect(seen.plans).toHaveLength(1);
    expect(seen.plans[0]?.backupAt).toBeInstanceOf(Date);
    expect(seen.plans[0]?.backupAt.getTime()).toBe(backupAt.getTime());
  });
});

/**
 * What SIGKILL leaves of a replica, in this process: no more heartbeats, refreshes or writes
 * (its pool is ended under it), and its job still `active` in pg-boss under its name.
 */
function freeze(queue: FleetQueue): void {
  const internals = queue as unknown as {
    stopped: boolean;
    stopTimers: (() => void)[];
    pool: pg.Pool;
    boss: { stop(o: object): Promise<void> };
  };
  internals.stopped = true;
  for (const stop of internals.stopTimers) stop();
  void internals.boss.stop({ graceful: false, close: true });
  started.splice(started.indexOf(queue), 1);
}
