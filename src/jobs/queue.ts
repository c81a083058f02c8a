import { randomUUID } from 'node:crypto';
import PQueue from 'p-queue';
import { formatDuration } from '../config/units.js';
import { CancelledError, DumptruckError, TimeoutError, isDumptruckError, toDumptruckError } from '../errors.js';
import type {
  AnyJob,
  Enqueued,
  JobEvent,
  JobEventShape,
  JobKind,
  JobKinds,
  JobOf,
  JobOutcome,
  JobState,
  QueueRefusal,
  Trigger,
} from '../types.js';
import { unrefTimer } from './timer.js';

export type { AnyJob, Enqueued, Job, JobEventShape, JobKind, JobOf, JobOutcome, JobState, QueueRefusal } from '../types.js';

// The one queue engine every entry point in this process shares (slash commands, buttons, alerts
// and schedules). It knows jobs and targets, never Slack, and no kind of job: each kind's owner
// registers its handler (backups in jobs/runner.ts, snapshots in snapshots/enqueue.ts, verify,
// prune and restore in jobs/maintenance.ts). Reporters subscribe to job events; refusals come
// back as data for the entry point to word.

export interface JobQueueOptions {
  /** Jobs running at once (config `queue.concurrency`). */
  readonly concurrency: number;
  /** Jobs allowed to wait for a slot; more are refused as queue-full (config `queue.maxPending`). */
  readonly maxPending: number;
  /** Running time after which a job is aborted with a TimeoutError (config `queue.jobTimeout`). */
  readonly jobTimeoutMs: number;
  /** Default: 8 hex characters of a random UUID; short enough for Slack button values and application_name. */
  readonly newJobId?: () => string;
  /** Default: `new Date()`. */
  readonly now?: () => Date;
  /** Default: an unref'd setTimeout, so a pending timeout never keeps a finished process alive. */
  readonly setTimer?: (callback: () => void, ms: number) => () => void;
  /** Default: ignore. A subscriber that throws must not break the job or other subscribers. */
  readonly onListenerError?: (err: unknown, event: JobEventShape) => void;
}

export interface EnqueueOptions<E extends JobEventShape = JobEvent> {
  /** Subscribed before anything is emitted, so it sees the first `queued` event. */
  readonly onEvent?: (event: E) => void;
}

/** What a kind's handler is given to run one job. */
export interface JobContext<K extends JobKind> {
  readonly jobId: string;
  readonly target: string;
  readonly trigger: Trigger;
  readonly payload: JobKinds[K]['payload'];
  /** Aborted on cancel and timeout; the job then settles with that reason. */
  readonly signal: AbortSignal;
  /** Events other than the queue's own (queued, finished, failed) reach subscribers. */
  readonly onEvent: (event: JobKinds[K]['event']) => void;
}

/** Runs one job of kind K; registered by the kind's owner. */
export type JobHandler<K extends JobKind> = (context: JobContext<K>) => Promise<JobKinds[K]['result']>;

/** A job asked for; kinds without a payload need none. */
export type JobRequest<K extends JobKind> = {
  readonly kind: K;
  readonly target: string;
  readonly trigger: Trigger;
} & (undefined extends JobKinds[K]['payload'] ? { readonly payload?: undefined } : { readonly payload: JobKinds[K]['payload'] });

export interface QueueStatus {
  readonly running: readonly AnyJob[];
  /** In the order they will start. */
  readonly queued: readonly AnyJob[];
}

/**
 * The interface every queue implementation offers (today the in-process JobQueue below). One job
 * per target whatever its kind: a second request of the same kind gets the job already there,
 * one of another kind is refused as target-busy.
 */
export interface Queue {
  register<K extends JobKind>(kind: K, handler: JobHandler<K>): this;
  enqueue<K extends JobKind>(request: JobRequest<K>, options?: EnqueueOptions<JobKinds[K]['event']>): Enqueued<JobOf<K>>;
  get(target: string): AnyJob | undefined;
  getById(jobId: string): AnyJob | undefined;
  cancel(target: string, reason?: string): AnyJob | undefined;
  cancelJob(jobId: string, reason?: string): AnyJob | undefined;
  status(): QueueStatus;
  close(): void;
  shutdown(reason?: string): Promise<void>;
}

/** Starts a job's work; `emit` forwards the runner's own events. */
type StartJob = (jobId: string, signal: AbortSignal, emit: (event: JobEventShape) => void) => Promise<unknown>;

/** The queue's own events; a runner's copies of them are dropped, the queue reports them once. */
export const QUEUE_EVENTS = new Set(['queued', 'finished', 'failed']);
type QueueEvent =
  | Extract<JobEvent, { type: 'queued' | 'failed' }>
  | { readonly type: 'finished'; readonly jobId: string; readonly result: unknown };
type AnyEvent = QueueEvent | JobEventShape;

/**
 * One job's subscribers and its newest event, for every queue implementation. A subscriber that
 * throws is reported through `onListenerError`; the job and the other subscribers go on.
 */
export class JobSubscribers<E extends JobEventShape = JobEventShape> {
  lastEvent: E | undefined;
  private readonly listeners = new Set<(event: E) => void>();

  constructor(private readonly onListenerError: (err: unknown, event: E) => void) {}

  subscribe(listener: (event: E) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: E): void {
    this.lastEvent = event;
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
  }
}

// One class for every kind: the kind decides the result and event types, so the public methods
// hand it out as the matching Job type.
class QueuedJob extends JobSubscribers<AnyEvent> {
  state: JobState = 'queued';
  startedAt: Date | undefined;
  position: number | undefined;
  readonly settled: Promise<JobOutcome<unknown>>;
  /** Aborted on cancel or timeout; the runner kills pg_dump and aborts the upload. */
  readonly controller = new AbortController();
  /** Aborted only to take a waiting job out of p-queue: p-queue races a running task against its signal and would free the slot before the runner has cleaned up. */
  readonly dequeue = new AbortController();
  resolveSettled!: (outcome: JobOutcome<unknown>) => void;

  constructor(
    readonly id: string,
    readonly kind: JobKind,
    readonly target: string,
    readonly trigger: Trigger,
    readonly enqueuedAt: Date,
    readonly start: StartJob,
    onListenerError: (err: unknown, event: AnyEvent) => void,
  ) {
    super(onListenerError);
    this.settled = new Promise((resolve) => {
      this.resolveSettled = resolve;
    });
  }
}

export class JobQueue implements Queue {
  private readonly pqueue: PQueue;
  private readonly waiting: QueuedJob[] = [];
  private readonly running = new Set<QueuedJob>();
  private readonly byTarget = new Map<string, QueuedJob>();
  private readonly byId = new Map<string, QueuedJob>();
  private readonly handlers = new Map<JobKind, (context: JobContext<JobKind>) => Promise<unknown>>();
  private readonly newJobId: () => string;
  private readonly now: () => Date;
  private readonly setTimer: (callback: () => void, ms: number) => () => void;
  private closed = false;

  constructor(private readonly options: JobQueueOptions) {
    this.pqueue = new PQueue({ concurrency: options.concurrency });
    this.newJobId = options.newJobId ?? (() => randomUUID().slice(0, 8));
    this.now = options.now ?? (() => new Date());
    this.setTimer = options.setTimer ?? unrefTimer;
  }

  /** Makes jobs of `kind` runnable here; registering a kind again replaces its handler. */
  register<K extends JobKind>(kind: K, handler: JobHandler<K>): this {
    this.handlers.set(kind, handler as unknown as (context: JobContext<JobKind>) => Promise<unknown>);
    return this;
  }

  /**
   * Queues a job, or returns the job of the same kind already queued or running for the target
   * (one operation per database at a time: a second one would only double the load for the same
   * data). Refused, as data, while another kind holds the target, when `maxPending` jobs already
   * wait and no slot is free, and once the queue is closed.
   */
  enqueue<K extends JobKind>(request: JobRequest<K>, options: EnqueueOptions<JobKinds[K]['event']> = {}): Enqueued<JobOf<K>> {
    const { kind, target, trigger } = request;
    const handler = this.handlers.get(kind);
    // A programming error, not a refusal: whoever built this queue forgot to register the kind.
    if (!handler) throw new DumptruckError('INTERNAL', 'internal', `no ${kind} jobs are registered on this queue`);
    const refusal = this.refusal(kind, target);
    if (refusal === 'same') return { ok: true, job: this.byTarget.get(target) as unknown as JobOf<K>, created: false };
    if (refusal) return { ok: false, refusal };

    const start: StartJob = (jobId, signal, emit) =>
      handler({
        jobId,
        target,
        trigger,
        payload: request.payload,
        signal,
        onEvent: (event) => {
          if (!QUEUE_EVENTS.has(event.type)) emit(event);
        },
      });
    const job = new QueuedJob(this.newJobId(), kind, target, trigger, this.now(), start, this.options.onListenerError ?? (() => {}));
    if (options.onEvent) job.subscribe(options.onEvent as (event: AnyEvent) => void);
    this.byTarget.set(job.target, job);
    this.byId.set(job.id, job);
    this.waiting.push(job);
    job.position = this.waiting.length;
    job.emit({ type: 'queued', jobId: job.id, target: job.target, position: job.position });

    this.pqueue
      .add(() => this.run(job), { signal: job.dequeue.signal })
      .catch((reason: unknown) => {
        // Only a waiting job's removal lands here: run() never throws.
        this.settle(job, { ok: false, error: asError(reason) });
      });
    return { ok: true, job: job as unknown as JobOf<K>, created: true };
  }

  /** 'same': the target's job of this kind is already there and is the answer. */
  private refusal(kind: JobKind, target: string): QueueRefusal | 'same' | undefined {
    const existing = this.byTarget.get(target);
    if (existing?.kind === kind) return 'same';
    if (existing) return { reason: 'target-busy', kind, target, busy: { id: existing.id, kind: existing.kind, state: existing.state } };
    if (this.closed) return { reason: 'draining', kind, target };
    const slotFree = this.running.size + this.waiting.length < this.options.concurrency;
    if (!slotFree && this.waiting.length >= this.options.maxPending)
      return { reason: 'queue-full', kind, target, maxPending: this.options.maxPending };
    return undefined;
  }

  /** The queued or running job for a target. */
  get(target: string): AnyJob | undefined {
    return this.byTarget.get(target) as unknown as AnyJob | undefined;
  }

  /** A queued or running job by id (buttons carry ids, so an old button cannot cancel a newer run). */
  getById(jobId: string): AnyJob | undefined {
    return this.byId.get(jobId) as unknown as AnyJob | undefined;
  }

  /**
   * Cancels the target's job: a waiting job is removed without running, a running one is aborted
   * and settles once the runner has cleaned up (no object, no multipart upload). `reason` becomes
   * the CancelledError's message, e.g. "cancelled by <@U123>".
   */
  cancel(target: string, reason?: string): AnyJob | undefined {
    const job = this.byTarget.get(target);
    if (!job) return undefined;
    const error = new CancelledError(reason);
    if (job.state === 'queued') {
      this.leaveWaiting(job);
      job.controller.abort(error);
      job.dequeue.abort(error);
    } else {
      job.controller.abort(error);
    }
    return job as unknown as AnyJob;
  }

  /** Like cancel(), but only if that exact job is still queued or running. */
  cancelJob(jobId: string, reason?: string): AnyJob | undefined {
    const job = this.byId.get(jobId);
    return job ? this.cancel(job.target, reason) : undefined;
  }

  status(): QueueStatus {
    return { running: [...this.running] as unknown as AnyJob[], queued: [...this.waiting] as unknown as AnyJob[] };
  }

  /** Refuses new jobs (as draining) and leaves queued and running ones alone: the start of a graceful shutdown. */
  close(): void {
    this.closed = true;
  }

  /** Refuses new jobs, cancels every queued and running one and waits until all have cleaned up. */
  async shutdown(reason = 'cancelled: the bot is shutting down'): Promise<void> {
    this.closed = true;
    const jobs = [...this.waiting, ...this.running];
    for (const job of [...this.waiting].reverse()) this.cancel(job.target, reason);
    for (const job of [...this.running]) this.cancel(job.target, reason);
    await Promise.all(jobs.map((job) => job.settled));
  }

  private async run(job: QueuedJob): Promise<void> {
    this.leaveWaiting(job);
    job.state = 'running';
    job.startedAt = this.now();
    this.running.add(job);
    const { jobTimeoutMs } = this.options;
    const clearTimer = this.setTimer(() => {
      job.controller.abort(new TimeoutError(`timed out after ${formatDuration(jobTimeoutMs)} (queue.jobTimeout)`));
    }, jobTimeoutMs);
    let outcome: JobOutcome<unknown>;
    try {
      // enqueue() is called before a Slack ack goes out; whatever the runner does before its
      // first await must not delay that ack.
      await new Promise((resolve) => setImmediate(resolve));
      job.controller.signal.throwIfAborted();
      // The queue reports the end itself, exactly once, and as what caused it (a timeout
      // rather than the runner's generic cancellation): start() passes on only the runner's own events.
      const result = await job.start(job.id, job.controller.signal, (event) => job.emit(event));
      outcome = { ok: true, result };
    } catch (err) {
      outcome = { ok: false, error: failureOf(err, job.controller.signal) };
    } finally {
      clearTimer();
      this.running.delete(job);
    }
    this.settle(job, outcome);
  }

  private leaveWaiting(job: QueuedJob): void {
    const index = this.waiting.indexOf(job);
    if (index < 0) return;
    this.waiting.splice(index, 1);
    job.position = undefined;
    // Everyone behind moved up one place; tell them, so threads show the real position.
    for (const behind of this.waiting.slice(index)) {
      behind.position = this.waiting.indexOf(behind) + 1;
      behind.emit({ type: 'queued', jobId: behind.id, target: behind.target, position: behind.position });
    }
  }

  private settle(job: QueuedJob, outcome: JobOutcome<unknown>): void {
    if (job.state === 'finished' || job.state === 'failed') return;
    job.state = outcome.ok ? 'finished' : 'failed';
    if (this.byTarget.get(job.target) === job) this.byTarget.delete(job.target);
    this.byId.delete(job.id);
    job.emit(
      outcome.ok
        ? { type: 'finished', jobId: job.id, result: outcome.result }
        : { type: 'failed', jobId: job.id, target: job.target, error: outcome.error },
    );
    job.resolveSettled(outcome);
  }
}

/**
 * What a job that threw ended with: the cancel or timeout that aborted it, else what it threw.
 * Shared by every queue implementation, so a job reports its end the same way wherever it runs.
 */
export function failureOf(err: unknown, signal: AbortSignal): DumptruckError {
  const reason: unknown = signal.aborted ? signal.reason : undefined;
  // The runner's report of this cancel or timeout wins only when it adds to the queue's reason
  // ("...; the store did not confirm that the partial upload was aborted"); a generic one never does.
  const addsTo =
    isDumptruckError(reason) && isDumptruckError(err) && err.code === reason.code && err.message.startsWith(`${reason.message}; `);
  const said = addsTo ? err : reason;
  return isDumptruckError(said) ? said : asError(err);
}

function asError(err: unknown): DumptruckError {
  return toDumptruckError(err, 'INTERNAL', 'internal');
}
