import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PgBoss, type Db } from 'pg-boss';
import { formatDuration } from '../config/units.js';
import { CancelledError, DumptruckError, TimeoutError, type ErrorCode } from '../errors.js';
import {
  failureOf,
  JobSubscribers,
  QUEUE_EVENTS,
  type AnyJob,
  type EnqueueOptions,
  type Enqueued,
  type JobContext,
  type JobEventShape,
  type JobHandler,
  type JobKind,
  type JobOf,
  type JobOutcome,
  type JobRequest,
  type JobState,
  type Queue,
  type QueueStatus,
} from '../jobs/queue.js';
import type { DrainableQueue } from '../jobs/shutdown.js';
import { unrefTimer } from '../jobs/timer.js';
import type { JobKinds, Trigger } from '../types.js';
import type { Config, StateConfig } from '../config/schema.js';
import { resolvePassword, type SecretDeps } from '../secrets/index.js';
import { statePoolOptions } from './pool.js';
import { replicaId } from './record.js';

// The queue of a fleet (config `state:`): the same Queue as the in-process JobQueue, with its
// jobs in the state database through pg-boss, so that any replica may take a request and any
// replica may run it. pg-boss holds the jobs and decides, exactly, the one job per target
// (an `exclusive` queue keyed by target refuses a second queued-or-active job); this module adds
// what pg-boss does not know: which replica runs a job, where its Slack thread is (opaque here),
// why it was cancelled, which replicas are alive, and the fleet-wide cap.
//
// The Queue interface answers synchronously (refusals, status, the duplicate's job), so each
// replica keeps a picture of the fleet's live jobs, refreshed every `pollMs`; the database stays
// the judge: two replicas that both accept the same request at the same moment send two jobs, and
// pg-boss keeps one (the other's handle settles cancelled, saying so).

/** pg-boss's queue for every kind of job: one queue, so that one job per target holds across kinds. */
const QUEUE = 'dumptruck-jobs';
/** Live jobs are 'created' (waiting), 'retry' (put back) or 'active' (running). */
const LIVE = ['created', 'retry', 'active'];

export interface FleetQueueOptions {
  /** The state database, password included (in memory only: errors name host and database). */
  readonly connectionString: string;
  /** dumptruck's schema (config `state.schema`); pg-boss gets `<schema>_boss`. */
  readonly schema: string;
  /** Jobs this replica runs at once (config `queue.concurrency`). */
  readonly concurrency: number;
  /** Jobs allowed to wait fleet-wide (config `queue.maxPending`). */
  readonly maxPending: number;
  /** Running time after which a job is aborted (config `queue.jobTimeout`). */
  readonly jobTimeoutMs: number;
  /** Jobs running at once across the fleet (config `queue.fleetConcurrency`); absent: no fleet-wide cap. */
  readonly fleetConcurrency?: number | undefined;
  /** A replica not heard from for this long is taken for dead (config `state.staleAfter`). */
  readonly staleAfterMs: number;
  /** How often the fleet's jobs are read and free slots filled. Default 1000 ms. */
  readonly pollMs?: number;
  /** This replica's name. Default `hostname:pid`. */
  readonly replica?: string;
  /** Default: ignore. A subscriber that throws must not break the job or other subscribers. */
  readonly onListenerError?: (err: unknown, event: JobEventShape) => void;
  /** The state database failed in the background (the loop retries at its next turn). Default: ignore. */
  readonly onError?: (err: unknown, what: string) => void;
  /**
   * This replica started a job it did not take the request for (or a retry): `place` is what the
   * receiving replica gave setPlace() (its thread), so the caller can report there. Undefined when
   * none was set within a few seconds. `payload` is the job's (plain JSON): a verification's key,
   * a restore's plan, which its thread renders.
   */
  readonly onAdopt?: (job: AnyJob, place: unknown, how: AdoptedHow) => void;
  /** A dead replica's running job was noticed here (exactly one replica is told): retried once elsewhere, or not again. */
  readonly onStale?: (stale: StaleJob) => void;
  /** The multipart uploads a dead replica had in progress (recordUpload), handed to exactly one replica to abort. */
  readonly onStaleUploads?: (uploadIds: readonly string[]) => void;
}

export interface AdoptedHow {
  /** A retry (after a crash or a hand-back), not the first attempt. */
  readonly retried: boolean;
  readonly payload: unknown;
}

export interface StaleJob {
  readonly jobId: string;
  readonly kind: JobKind;
  readonly target: string;
  /** The replica that stopped. */
  readonly replica: string;
  readonly place: unknown;
  /** True: put back in the queue for another replica; false: it had been retried once already and is failed. */
  readonly retried: boolean;
}

/** What a job carries in pg-boss: everything another replica needs to run it (payloads are plain data). */
interface JobData {
  readonly jobId: string;
  readonly kind: JobKind;
  readonly target: string;
  readonly trigger: Trigger;
  readonly payload?: unknown;
  readonly enqueuedAt: string;
}

/** What a settled job leaves in pg-boss's `output`, for the replicas that did not run it. */
type Output = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

interface LiveRow {
  boss_id: string;
  data: JobData;
  state: string;
  started_on: Date | null;
  replica: string | null;
  cancel_reason: string | null;
}

type AnyEvent = JobEventShape & Record<string, unknown>;

/** One job as this replica knows it: one it took the request for, runs, or only sees in the fleet. */
class FleetJob extends JobSubscribers<AnyEvent> {
  state: JobState = 'queued';
  startedAt: Date | undefined;
  position: number | undefined;
  replica: string | undefined;
  readonly settled: Promise<JobOutcome<unknown>>;
  readonly controller = new AbortController();
  /** This replica runs it now. */
  runningHere = false;
  /** Aborted to go back in the queue (a shutdown), not to end. */
  handedBack = false;
  /** The request was taken here, so a reporter here follows it until another replica starts it. */
  readonly receivedHere: boolean;
  /** Told that another replica runs it (the `moved` event), once. */
  moved = false;
  /** Known to pg-boss (sent, or seen in the fleet); until then a refresh must not take its absence for an end. */
  known: boolean;
  /** Resolves once the send to pg-boss is over (at once for a job seen in the fleet). */
  sent: Promise<void> = Promise.resolve();
  resolveSettled!: (outcome: JobOutcome<unknown>) => void;

  constructor(
    readonly bossId: string,
    readonly data: JobData,
    receivedHere: boolean,
    onListenerError: (err: unknown, event: AnyEvent) => void,
  ) {
    super(onListenerError);
    this.receivedHere = receivedHere;
    this.known = !receivedHere;
    this.settled = new Promise((resolve) => {
      this.resolveSettled = resolve;
    });
  }

  get id(): string {
    return this.data.jobId;
  }
  get kind(): JobKind {
    return this.data.kind;
  }
  get target(): string {
    return this.data.target;
  }
  get trigger(): Trigger {
    return this.data.trigger;
  }
  get enqueuedAt(): Date {
    return new Date(this.data.enqueuedAt);
  }
  get live(): boolean {
    return this.state === 'queued' || this.state === 'running';
  }

  settle(outcome: JobOutcome<unknown>): void {
    if (!this.live) return;
    this.state = outcome.ok ? 'finished' : 'failed';
    this.position = undefined;
    this.emit(
      outcome.ok
        ? { type: 'finished', jobId: this.id, result: outcome.result }
        : { type: 'failed', jobId: this.id, target: this.target, error: outcome.error },
    );
    this.resolveSettled(outcome);
  }
}

/**
 * The fleet queue of config `state:` and `queue:`, not started yet (start() it once the job kinds
 * are registered). The state password is resolved here, from any secret source.
 */
export async function openFleet(
  config: Pick<Config, 'queue'> & { readonly state: StateConfig },
  deps: SecretDeps,
  hooks: Pick<FleetQueueOptions, 'onAdopt' | 'onStale' | 'onStaleUploads' | 'onError' | 'onListenerError'>,
): Promise<FleetQueue> {
  const { state, queue } = config;
  const password = await resolvePassword('state', state.password, deps, 'state.password');
  const url = new URL(state.url);
  // In this in-memory URL only: pg lets a URL without one override a `password` option.
  if (password !== undefined) url.password = encodeURIComponent(password);
  return new FleetQueue({
    connectionString: url.toString(),
    schema: state.schema,
    concurrency: queue.concurrency,
    maxPending: queue.maxPending,
    jobTimeoutMs: queue.jobTimeoutMs,
    fleetConcurrency: queue.fleetConcurrency,
    staleAfterMs: state.staleAfterMs,
    ...hooks,
  });
}

export class FleetQueue implements Queue {
  private readonly pool: pg.Pool;
  private readonly boss: PgBoss;
  private readonly s: string;
  private readonly b: string;
  private readonly me: string;
  private readonly pollMs: number;
  private readonly handlers = new Map<JobKind, (context: JobContext<JobKind>) => Promise<unknown>>();
  /** Every live job this replica knows of, by pg-boss id. */
  private readonly jobs = new Map<string, FleetJob>();
  /** Writes to the database still under way (sends, settles), awaited by shutdown. */
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;
  private stopped = false;
  private ticking: Promise<void> | undefined;
  private again = false;
  private stopTimers: (() => void)[] = [];
  private shutdownDone: Promise<void> | undefined;

  constructor(private readonly options: FleetQueueOptions) {
    this.s = `"${options.schema}"`;
    this.b = `"${options.schema}_boss"`;
    this.me = options.replica ?? replicaId();
    this.pollMs = options.pollMs ?? 1000;
    this.pool = new pg.Pool(statePoolOptions(options.connectionString, 'dumptruck-fleet', Math.max(4, options.concurrency + 2)));
    // An idle connection the server drops is reported here; the next query opens a new one.
    this.pool.on('error', () => undefined);
    this.boss = new PgBoss({
      connectionString: options.connectionString,
      schema: `${options.schema}_boss`,
      application_name: 'dumptruck-boss',
      max: 2,
      // Cron is the scheduler's business (jobs/scheduler.ts), not pg-boss's.
      schedule: false,
    });
    this.boss.on('error', (err: unknown) => options.onError?.(err, 'pg-boss'));
  }

  /** Creates pg-boss's schema when missing (the state store's migration made the fleet's tables), then starts taking jobs. */
  async start(): Promise<void> {
    await this.boss.start();
    // Idempotent: every replica creates it at start. retryLimit 1 is the one retry after a crash;
    // other failures settle as `completed` with their outcome, so pg-boss never retries them.
    await this.boss.createQueue(QUEUE, {
      policy: 'exclusive',
      retryLimit: 1,
      // A backstop behind the stale check: pg-boss fails a job still active this long after its start.
      expireInSeconds: Math.ceil(this.options.jobTimeoutMs / 1000) + 600,
    });
    await this.heartbeat();
    // What a job leaves here is read while it is live and just after; a week is plenty.
    await this.query(`delete from ${this.s}.fleet_jobs where created_at < now() - interval '7 days'`, []);
    await this.query(`delete from ${this.s}.fleet_uploads where created_at < now() - interval '7 days'`, []);
    const beat = Math.max(200, Math.floor(this.options.staleAfterMs / 4));
    const every = (ms: number, run: () => void) => {
      const timer = setInterval(run, ms);
      timer.unref();
      this.stopTimers.push(() => clearInterval(timer));
    };
    // Its own timer: a slow fetch must not make this replica look dead.
    every(beat, () => void this.heartbeat().catch((err: unknown) => this.options.onError?.(err, 'heartbeat')));
    every(this.pollMs, () => this.kick());
    this.kick();
  }

  register<K extends JobKind>(kind: K, handler: JobHandler<K>): this {
    this.handlers.set(kind, handler as unknown as (context: JobContext<JobKind>) => Promise<unknown>);
    return this;
  }

  enqueue<K extends JobKind>(request: JobRequest<K>, options: EnqueueOptions<JobKinds[K]['event']> = {}): Enqueued<JobOf<K>> {
    const { kind, target, trigger } = request;
    if (!this.handlers.has(kind)) throw new DumptruckError('INTERNAL', 'internal', `no ${kind} jobs are registered on this queue`);
    const existing = this.byTarget(target);
    if (existing?.kind === kind) return { ok: true, job: existing as unknown as JobOf<K>, created: false };
    if (existing)
      return {
        ok: false,
        refusal: { reason: 'target-busy', kind, target, busy: { id: existing.id, kind: existing.kind, state: existing.state } },
      };
    if (this.closed) return { ok: false, refusal: { reason: 'draining', kind, target } };
    const { queued } = this.status();
    const slotFree =
      this.runningHere().length + queued.filter((j) => (j as unknown as FleetJob).receivedHere).length < this.options.concurrency;
    if (!slotFree && queued.length >= this.options.maxPending)
      return { ok: false, refusal: { reason: 'queue-full', kind, target, maxPending: this.options.maxPending } };

    const bossId = randomUUID();
    const data: JobData = {
      // The first 8 hex characters of its pg-boss id: short for Slack button values, unique among live jobs in practice.
      jobId: bossId.slice(0, 8),
      kind,
      target,
      trigger,
      ...(request.payload === undefined ? {} : { payload: request.payload }),
      enqueuedAt: new Date().toISOString(),
    };
    const job = new FleetJob(bossId, data, true, this.options.onListenerError ?? (() => {}));
    if (options.onEvent) job.subscribe(options.onEvent as (event: AnyEvent) => void);
    this.jobs.set(bossId, job);
    job.position = queued.length + 1;
    job.emit({ type: 'queued', jobId: job.id, target, position: job.position });
    job.sent = this.send(job);
    this.track(job.sent);
    return { ok: true, job: job as unknown as JobOf<K>, created: true };
  }

  /** Records where a job is reported (its Slack thread), for the replica that will run it. */
  setPlace(jobId: string, place: unknown): void {
    const job = this.getById(jobId) as unknown as FleetJob | undefined;
    if (!job) return;
    const record = async () => {
      // The thread is often open before the send has written the job's row.
      await job.sent;
      await this.query(
        `insert into ${this.s}.fleet_jobs (boss_id, job_id, place) values ($1, $2, $3)
         on conflict (boss_id) do update set place = excluded.place`,
        [job.bossId, job.id, JSON.stringify(place)],
      );
    };
    this.track(record().catch((err: unknown) => this.options.onError?.(err, 'recording a thread')));
  }

  get(target: string): AnyJob | undefined {
    return this.byTarget(target) as unknown as AnyJob | undefined;
  }

  getById(jobId: string): AnyJob | undefined {
    return [...this.jobs.values()].find((j) => j.live && j.id === jobId) as unknown as AnyJob | undefined;
  }

  /**
   * Cancels the target's job wherever it is. Running here: aborted now. Elsewhere or waiting: the
   * reason is recorded and pg-boss cancels it; the replica running it sees that at its next
   * refresh and aborts it cleanly (no object, no multipart upload), and its thread says why.
   */
  cancel(target: string, reason?: string): AnyJob | undefined {
    const job = this.byTarget(target);
    if (!job) return undefined;
    const error = new CancelledError(reason);
    if (job.runningHere) {
      job.controller.abort(error);
    } else {
      this.track(this.cancelInBoss(job, error.message));
      // Waiting: it never runs, so its thread can say so now. Running elsewhere: settled once the refresh sees it cancelled.
      if (job.state === 'queued') job.settle({ ok: false, error });
    }
    return job as unknown as AnyJob;
  }

  cancelJob(jobId: string, reason?: string): AnyJob | undefined {
    const job = this.getById(jobId);
    return job ? this.cancel(job.target, reason) : undefined;
  }

  /**
   * Targets with a job running anywhere in the fleet, read now (not the picture of the last
   * refresh): their multipart uploads may belong to another replica, so the orphan sweep leaves
   * them alone (a crashed replica's upload is swept once the retry of its job has ended).
   */
  async runningTargets(): Promise<string[]> {
    const { rows } = await this.query<{ target: string }>(
      `select distinct data->>'target' as target from ${this.b}.job where name = $1 and state::text = 'active'`,
      [QUEUE],
    );
    return rows.map((r) => r.target);
  }

  /** The fleet's live jobs as of the last refresh (each with the replica running it) and this replica's own. */
  status(): QueueStatus {
    const live = [...this.jobs.values()].filter((j) => j.live);
    return {
      running: live.filter((j) => j.state === 'running') as unknown as AnyJob[],
      queued: live.filter((j) => j.state === 'queued').sort((a, b) => (a.position ?? 0) - (b.position ?? 0)) as unknown as AnyJob[],
    };
  }

  /** Takes no new requests and starts no more jobs; running ones go on. */
  close(): void {
    this.closed = true;
  }

  /**
   * This replica's share, for the SIGTERM drain (jobs/shutdown.ts): its running jobs, none queued
   * (waiting jobs belong to the fleet and stay for the other replicas), and a cancel that puts the
   * job back in the queue for another replica instead of ending it.
   */
  local(): DrainableQueue {
    return {
      status: () => ({ running: this.runningHere() as unknown as AnyJob[], queued: [] }),
      cancel: (target: string) => this.handBack(target),
      close: () => this.close(),
      shutdown: () => this.shutdown(),
    };
  }

  /**
   * Stops this replica: running jobs go back in the queue (cancelled here cleanly, then put back
   * for another replica), waiting ones stay queued, and this replica's name leaves the fleet.
   */
  shutdown(): Promise<void> {
    this.shutdownDone ??= (async () => {
      this.closed = true;
      for (const job of this.runningHere()) this.handBack(job.target);
      await Promise.all(this.runningHere().map((j) => j.settled));
      this.stopped = true;
      for (const stop of this.stopTimers) stop();
      await this.ticking;
      while (this.pending.size > 0) await Promise.all([...this.pending]);
      // Reporters following jobs that run elsewhere (or will) let go of them: that replica reports.
      for (const job of this.jobs.values()) {
        if (!job.live) continue;
        this.move(job, undefined);
        job.settle({ ok: false, error: new CancelledError('this replica stopped; the job stays with the fleet') });
      }
      await this.uploadWrites;
      await this.query(`delete from ${this.s}.fleet_uploads where replica = $1`, [this.me]).catch(() => undefined);
      await this.query(`delete from ${this.s}.fleet_replicas where replica = $1`, [this.me]).catch(() => undefined);
      await this.boss.stop({ graceful: false, close: true }).catch(() => undefined);
      await this.pool.end().catch(() => undefined);
    })();
    return this.shutdownDone;
  }

  /** Runs a refresh now (and again after one already running). */
  kick(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        try {
          await this.sweepStale();
          await this.refresh();
          await this.fill();
        } catch (err) {
          this.options.onError?.(err, 'refreshing the fleet');
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.ticking = undefined;
    });
  }

  private runningHere(): FleetJob[] {
    return [...this.jobs.values()].filter((j) => j.runningHere && j.live);
  }

  private byTarget(target: string): FleetJob | undefined {
    return [...this.jobs.values()].find((j) => j.live && j.target === target);
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(text, values);
  }

  private async heartbeat(): Promise<void> {
    await this.query(
      `insert into ${this.s}.fleet_replicas (replica, seen_at) values ($1, now()) on conflict (replica) do update set seen_at = now()`,
      [this.me],
    );
  }

  private async send(job: FleetJob): Promise<void> {
    try {
      await this.query(`insert into ${this.s}.fleet_jobs (boss_id, job_id) values ($1, $2) on conflict (boss_id) do nothing`, [
        job.bossId,
        job.id,
      ]);
      // `exclusive` with the target as singleton key: pg-boss inserts nothing (null) while the
      // target has a job waiting or running anywhere in the fleet.
      const id = await this.boss.send(QUEUE, job.data as unknown as object, { id: job.bossId, singletonKey: job.target });
      if (id === null) {
        job.settle({
          ok: false,
          error: new CancelledError(
            `cancelled: another replica took a request for ${job.target} at the same moment, and one job per database runs at a time; that one goes on`,
          ),
        });
        return;
      }
      job.known = true;
      this.kick();
    } catch (err) {
      job.settle({
        ok: false,
        error: new DumptruckError('STATE_UNAVAILABLE', 'state', 'could not queue the job in the state database', { cause: err }),
      });
    }
  }

  private async cancelInBoss(job: FleetJob, reason: string): Promise<void> {
    try {
      await this.query(`update ${this.s}.fleet_jobs set cancel_reason = $2 where boss_id = $1`, [job.bossId, reason]);
      // A cancel right after the request: its send must have landed for pg-boss to cancel it.
      await job.sent;
      await this.boss.cancel(QUEUE, job.bossId);
    } catch (err) {
      this.options.onError?.(err, 'cancelling a job');
    }
  }

  /** Reads the fleet's live jobs (and this replica's running ones whatever their state) and brings the picture up to date. */
  private async refresh(): Promise<void> {
    const mine = this.runningHere().map((j) => j.bossId);
    // Only a job known before the read can be judged gone by it: one whose send committed while
    // the read was under way is missing from the rows without having ended (it was reported as
    // "the worker running this stopped" and then ran to success).
    const knownBefore = new Set([...this.jobs.values()].filter((j) => j.known).map((j) => j.bossId));
    const { rows } = await this.query<LiveRow>(
      `select j.id::text as boss_id, j.data, j.state::text as state, j.started_on, f.replica, f.cancel_reason
       from ${this.b}.job j left join ${this.s}.fleet_jobs f on f.boss_id = j.id
       where j.name = $1 and (j.state::text = any($2::text[]) or j.id = any($3::uuid[]))
       order by j.created_on, j.id`,
      [QUEUE, LIVE, mine],
    );
    const seen = new Set<string>();
    let position = 0;
    for (const row of rows) {
      seen.add(row.boss_id);
      let job = this.jobs.get(row.boss_id);
      if (job?.runningHere) {
        // Cancelled from another replica, or failed under us by a stale check (we were taken for dead): stop.
        if (row.state !== 'active' || (row.replica !== null && row.replica !== this.me))
          job.controller.abort(new CancelledError(row.cancel_reason ?? 'cancelled: another replica took this job over'));
        continue;
      }
      if (!LIVE.includes(row.state)) continue;
      if (!job) {
        job = new FleetJob(row.boss_id, row.data, false, this.options.onListenerError ?? (() => {}));
        this.jobs.set(row.boss_id, job);
      }
      job.known = true;
      if (!job.live) continue;
      if (row.state === 'active') {
        job.state = 'running';
        job.position = undefined;
        job.startedAt = row.started_on ?? undefined;
        job.replica = row.replica ?? undefined;
        if (row.replica && row.replica !== this.me) this.move(job, row.replica);
      } else {
        position += 1;
        job.state = 'queued';
        if (job.position !== position) {
          job.position = position;
          job.emit({ type: 'queued', jobId: job.id, target: job.target, position });
        }
      }
    }
    // Jobs that left the live set: read how they ended, for whoever follows them here.
    const gone = [...this.jobs.values()].filter((j) => !seen.has(j.bossId) && knownBefore.has(j.bossId) && !j.runningHere);
    for (const job of gone) {
      if (job.live) job.settle(await this.outcomeOf(job));
      this.jobs.delete(job.bossId);
    }
    for (const [id, job] of this.jobs) if (!job.live) this.jobs.delete(id);
  }

  /**
   * A multipart upload of this replica's started (or ended): recorded so that, should this replica
   * die, the one that notices aborts it at once instead of leaving it to the age-based sweep.
   * Writes go one after another, so an upload's removal never overtakes its insert.
   */
  recordUpload(uploadId: string): void {
    this.writeUpload(`insert into ${this.s}.fleet_uploads (upload_id, replica) values ($1, $2) on conflict do nothing`, [
      uploadId,
      this.me,
    ]);
  }

  forgetUpload(uploadId: string): void {
    this.writeUpload(`delete from ${this.s}.fleet_uploads where upload_id = $1`, [uploadId]);
  }

  private uploadWrites: Promise<unknown> = Promise.resolve();

  private writeUpload(sql: string, values: unknown[]): void {
    this.uploadWrites = this.uploadWrites.then(() =>
      this.query(sql, values).catch((err: unknown) => this.options.onError?.(err, 'recording an upload')),
    );
  }

  /** Tells a reporter following `job` here that another replica runs (and reports) it now. */
  private move(job: FleetJob, replica: string | undefined): void {
    if (job.moved || !job.receivedHere) return;
    job.moved = true;
    job.emit({ type: 'moved', jobId: job.id, ...(replica ? { replica } : {}) });
  }

  private async outcomeOf(job: FleetJob): Promise<JobOutcome<unknown>> {
    const { rows } = await this.query<{ state: string; output: Output | null; cancel_reason: string | null }>(
      `select j.state::text as state, j.output, f.cancel_reason from ${this.b}.job j left join ${this.s}.fleet_jobs f on f.boss_id = j.id where j.id = $1`,
      [job.bossId],
    );
    const row = rows[0];
    const output = row?.output;
    if (output && 'ok' in output) {
      if (output.ok) return { ok: true, result: output.result };
      return { ok: false, error: new DumptruckError(output.code, 'internal', output.message) };
    }
    if (row?.state === 'cancelled') return { ok: false, error: new CancelledError(row.cancel_reason ?? undefined) };
    return { ok: false, error: new DumptruckError('INTERNAL', 'internal', 'the worker running this stopped') };
  }

  /** Starts waiting jobs while this replica has free slots (and the fleet, with a cap). */
  private async fill(): Promise<void> {
    while (!this.closed && !this.stopped && this.runningHere().length < this.options.concurrency) {
      const fetched = await this.fetchOne();
      if (!fetched) return;
      this.run(fetched.job, fetched.retryCount);
    }
  }

  /**
   * Takes one waiting job, recording this replica as its runner in the same transaction (so no
   * running job is ever without a replica the stale check can judge). With a fleet-wide cap, the
   * count of running jobs and the claim happen under one advisory lock: pg-boss's own
   * groupConcurrency counts in each fetch's snapshot, so two replicas fetching at once could both
   * see a free slot; serialised, the second sees the first's committed claim.
   */
  private async fetchOne(): Promise<{ job: FleetJob; retryCount: number } | undefined> {
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const cap = this.options.fleetConcurrency;
      if (cap !== undefined) {
        await client.query(`select pg_advisory_xact_lock(hashtext($1))`, [`dumptruck fleet cap ${this.options.schema}`]);
        const { rows } = await client.query<{ n: number }>(
          `select count(*)::int as n from ${this.b}.job where name = $1 and state = 'active'`,
          [QUEUE],
        );
        if ((rows[0]?.n ?? 0) >= cap) {
          await client.query('rollback');
          return undefined;
        }
      }
      const db: Db = { executeSql: (text: string, values?: unknown[]) => client.query(text, values) };
      const [fetched] = await this.boss.fetch<JobData>(QUEUE, { batchSize: 1, includeMetadata: true, db });
      if (!fetched) {
        await client.query('rollback');
        return undefined;
      }
      await client.query(
        `insert into ${this.s}.fleet_jobs (boss_id, job_id, replica) values ($1, $2, $3)
         on conflict (boss_id) do update set replica = excluded.replica`,
        [fetched.id, fetched.data.jobId, this.me],
      );
      await client.query('commit');
      let job = this.jobs.get(fetched.id);
      if (!job || !job.live) {
        job = new FleetJob(fetched.id, fetched.data, false, this.options.onListenerError ?? (() => {}));
        this.jobs.set(fetched.id, job);
      }
      return { job, retryCount: fetched.retryCount };
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private run(job: FleetJob, retryCount: number): void {
    job.runningHere = true;
    job.known = true;
    job.state = 'running';
    job.position = undefined;
    job.startedAt = new Date();
    job.replica = this.me;
    // Not taken here (or taken before a crash or a hand-back): whoever reports for this replica picks up its thread.
    if (!job.receivedHere || retryCount > 0)
      this.track(
        this.placeOf(job).then((place) =>
          this.options.onAdopt?.(job as unknown as AnyJob, place, { retried: retryCount > 0, payload: job.data.payload }),
        ),
      );
    this.track(this.execute(job, retryCount));
  }

  /** The thread the receiving replica recorded; it may still be posting it when the job starts here. */
  private async placeOf(job: FleetJob): Promise<unknown> {
    for (let waited = 0; waited < 10_000 && job.live; waited += 250) {
      const { rows } = await this.query<{ place: unknown }>(`select place from ${this.s}.fleet_jobs where boss_id = $1`, [
        job.bossId,
      ]).catch(() => ({ rows: [] as { place: unknown }[] }));
      if (rows[0]?.place) return rows[0].place;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return undefined;
  }

  private async execute(job: FleetJob, retryCount: number): Promise<void> {
    const handler = this.handlers.get(job.kind);
    const { jobTimeoutMs } = this.options;
    const clearTimer = unrefTimer(() => {
      job.controller.abort(new TimeoutError(`timed out after ${formatDuration(jobTimeoutMs)} (queue.jobTimeout)`));
    }, jobTimeoutMs);
    let outcome: JobOutcome<unknown>;
    try {
      if (!handler) throw new DumptruckError('INTERNAL', 'internal', `no ${job.kind} jobs are registered on this replica`);
      const result = await handler({
        jobId: job.id,
        target: job.target,
        trigger: job.trigger,
        payload: job.data.payload as never,
        signal: job.controller.signal,
        onEvent: (event) => {
          if (!QUEUE_EVENTS.has(event.type)) job.emit(event as AnyEvent);
        },
      });
      outcome = { ok: true, result };
    } catch (err) {
      outcome = { ok: false, error: failureOf(err, job.controller.signal) };
    } finally {
      clearTimer();
    }
    const attempt = { id: job.bossId, retryCount };
    try {
      if (job.handedBack) {
        // Failed with retries left goes back to `retry`; one that had used its retry is put back explicitly.
        await this.boss.fail(QUEUE, attempt, { handedBack: this.me });
        await this.boss.retry(QUEUE, job.bossId);
      } else {
        const output: Output = outcome.ok
          ? { ok: true, result: outcome.result }
          : { ok: false, code: outcome.error.code, message: outcome.error.message };
        // Fenced by the attempt: a job cancelled or taken over meanwhile is left as it is.
        await this.boss.complete(QUEUE, attempt, output);
      }
    } catch (err) {
      this.options.onError?.(err, 'settling a job');
    }
    job.runningHere = false;
    job.settle(outcome);
    this.kick();
  }

  /** Cancels a job running here so that it goes back in the queue; its thread says so. */
  private handBack(target: string): AnyJob | undefined {
    const job = this.runningHere().find((j) => j.target === target);
    if (!job) return undefined;
    job.handedBack = true;
    job.controller.abort(
      new CancelledError(
        'cancelled: this replica is shutting down and did not finish it within the grace period; it is back in the queue for another replica',
      ),
    );
    return job as unknown as AnyJob;
  }

  /**
   * Replicas not heard from within staleAfter are dead: each one's row is deleted by exactly one
   * replica (the delete locks it), which fails its running jobs in pg-boss (back to `retry` for the
   * one retry, `failed` after that) and says so through onStale.
   */
  private async sweepStale(): Promise<void> {
    // The delete locks each dead replica's row: exactly one replica gets it back, and handles it.
    const stale = (
      await this.query<{ replica: string }>(
        `delete from ${this.s}.fleet_replicas where seen_at < now() - $1 * interval '1 millisecond' and replica <> $2 returning replica`,
        [this.options.staleAfterMs, this.me],
      )
    ).rows.map((r) => r.replica);
    if (stale.length === 0) return;
    const uploads = await this.query<{ upload_id: string }>(
      `delete from ${this.s}.fleet_uploads where replica = any($1) returning upload_id`,
      [stale],
    );
    if (uploads.rows.length > 0) this.options.onStaleUploads?.(uploads.rows.map((r) => r.upload_id));
    const { rows } = await this.query<{ replica: string; boss_id: string; place: unknown; retry_count: number; data: JobData }>(
      `select f.replica, f.boss_id::text, f.place, j.retry_count, j.data
       from ${this.s}.fleet_jobs f join ${this.b}.job j on j.id = f.boss_id
       where f.replica = any($1) and j.state = 'active'`,
      [stale],
    );
    for (const row of rows) {
      const output: Output = { ok: false, code: 'INTERNAL', message: `the worker running this (${row.replica}) stopped` };
      // pg-boss's typings leave CommandResponse empty; at run time it counts the jobs it changed.
      const { affected } = (await this.boss.fail(QUEUE, { id: row.boss_id, retryCount: row.retry_count }, output)) as { affected?: number };
      if (!affected) continue;
      this.options.onStale?.({
        jobId: row.data.jobId,
        kind: row.data.kind,
        target: row.data.target,
        replica: row.replica,
        place: row.place,
        retried: row.retry_count < 1,
      });
    }
  }
}
