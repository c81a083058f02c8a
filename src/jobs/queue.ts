import { randomUUID } from 'node:crypto';
import PQueue from 'p-queue';
import { formatDuration } from '../config/units.js';
import { CancelledError, DumptruckError, TimeoutError, isDumptruckError, toDumptruckError } from '../errors.js';
import type { SnapshotJob } from '../snapshots/types.js';
import type { PruneJob, VerifyJob } from './maintenance.js';
import type { BackupResult, JobEvent, Trigger } from './events.js';
import { unrefTimer } from './timer.js';
import type { RunBackup } from './types.js';

// The one queue every entry point in this process shares (slash commands, buttons, later alerts
// and schedules). It knows jobs and targets, never Slack: reporters subscribe to job events.

export type JobState = 'queued' | 'running' | 'finished' | 'failed';

/**
 * What a job does: a logical dump, a provider snapshot, or (on the maintenance queue, see
 * src/jobs/maintenance.ts) a verification or a prune. A target runs one job at a time per queue, whatever its kind.
 */
export type JobKind = 'backup' | 'snapshot' | 'verify' | 'prune';

/** How a job ended; `settled` resolves with it and never rejects, so nobody leaks an unhandled rejection. */
export type JobOutcome<R = BackupResult> = { readonly ok: true; readonly result: R } | { readonly ok: false; readonly error: DumptruckError };

/**
 * What every job event has. The queue itself emits `queued`, `finished` and `failed` with the
 * shapes of JobEvent; a job's runner adds its own progress events.
 */
export interface JobEventShape {
  readonly type: string;
  readonly jobId: string;
}

/** A job as callers see it: `R` is its result, `E` its events, `K` its kind (a backup unless said otherwise). */
export interface Job<R = BackupResult, E extends JobEventShape = JobEvent, K extends JobKind = 'backup'> {
  readonly id: string;
  readonly kind: K;
  readonly target: string;
  readonly trigger: Trigger;
  readonly enqueuedAt: Date;
  readonly state: JobState;
  readonly startedAt: Date | undefined;
  /** 1-based place among waiting jobs; undefined once the job has left the queue. */
  readonly position: number | undefined;
  /** The newest event, so late subscribers (status, a second reporter) can render the current state. */
  readonly lastEvent: E | undefined;
  readonly settled: Promise<JobOutcome<R>>;
  /** Listener errors are reported through `onListenerError` and never reach the job. */
  subscribe(listener: (event: E) => void): () => void;
}

/** Any job on the queue; `kind` tells which. */
export type AnyJob = Job | SnapshotJob | VerifyJob | PruneJob;

export interface JobQueueOptions {
  readonly runBackup: RunBackup;
  /** Backups running at once (config `queue.concurrency`). */
  readonly concurrency: number;
  /** Jobs allowed to wait for a slot; more are refused with QUEUE_FULL (config `queue.maxPending`). */
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

/** Work of another kind than a backup (a provider snapshot) that takes a slot and its target like one. */
export interface TaskRequest<R, E extends JobEventShape, K extends JobKind> {
  readonly kind: K;
  readonly target: string;
  readonly trigger: Trigger;
  /**
   * Runs the job. `signal` is aborted on cancel and timeout; the job then settles with that
   * reason. Events other than the queue's own (queued, finished, failed) reach subscribers.
   */
  readonly run: (context: { readonly jobId: string; readonly signal: AbortSignal; readonly onEvent: (event: E) => void }) => Promise<R>;
}

export interface Enqueued {
  readonly job: Job;
  /** False when a job for the target was already queued or running; that job is returned instead. */
  readonly created: boolean;
}

export interface QueueStatus {
  readonly running: readonly AnyJob[];
  /** In the order they will start. */
  readonly queued: readonly AnyJob[];
}

/** Starts a job's work; `emit` forwards the runner's own events. */
type StartJob = (jobId: string, signal: AbortSignal, emit: (event: JobEventShape) => void) => Promise<unknown>;

/** The queue's own events; a runner's copies of them are dropped, the queue reports them once. */
const QUEUE_EVENTS = new Set(['queued', 'finished', 'failed']);
type QueueEvent = Extract<JobEvent, { type: 'queued' | 'failed' }> | { readonly type: 'finished'; readonly jobId: string; readonly result: unknown };
type AnyEvent = QueueEvent | JobEventShape;

// One class for every kind: the kind decides the result and event types, so the public methods
// hand it out as the matching Job type.
class QueuedJob {
  state: JobState = 'queued';
  startedAt: Date | undefined;
  position: number | undefined;
  lastEvent: AnyEvent | undefined;
  readonly settled: Promise<JobOutcome<unknown>>;
  /** Aborted on cancel or timeout; the runner kills pg_dump and aborts the upload. */
  readonly controller = new AbortController();
  /** Aborted only to take a waiting job out of p-queue: p-queue races a running task against its signal and would free the slot before the runner has cleaned up. */
  readonly dequeue = new AbortController();
  resolveSettled!: (outcome: JobOutcome<unknown>) => void;
  private readonly listeners = new Set<(event: AnyEvent) => void>();

  constructor(
    readonly id: string,
    readonly kind: JobKind,
    readonly target: string,
    readonly trigger: Trigger,
    readonly enqueuedAt: Date,
    readonly start: StartJob,
    private readonly onListenerError: (err: unknown, event: AnyEvent) => void,
  ) {
    this.settled = new Promise((resolve) => {
      this.resolveSettled = resolve;
    });
  }

  subscribe(listener: (event: AnyEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: AnyEvent): void {
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

export class JobQueue {
  private readonly pqueue: PQueue;
  private readonly waiting: QueuedJob[] = [];
  private readonly running = new Set<QueuedJob>();
  private readonly byTarget = new Map<string, QueuedJob>();
  private readonly byId = new Map<string, QueuedJob>();
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

  /**
   * Queues a backup of `target`, or returns the job already queued or running for it (one dump
   * per database at a time: a second one would only double the load for the same data).
   * Throws QUEUE_FULL when `maxPending` jobs are already waiting and no slot is free.
   */
  enqueue(request: { readonly target: string; readonly trigger: Trigger }, options: EnqueueOptions = {}): Enqueued {
    const { target, trigger } = request;
    const start: StartJob = (jobId, signal, emit) =>
      this.options.runBackup(
        { target, trigger, jobId },
        {
          signal,
          onEvent: (event) => {
            if (!QUEUE_EVENTS.has(event.type)) emit(event);
          },
        },
      );
    const { job, created } = this.add('backup', request, start, options.onEvent as ((event: JobEventShape) => void) | undefined);
    return { job: job as unknown as Job, created };
  }

  /**
   * Queues work of another kind (a provider snapshot) under the same rules as a backup: a slot of
   * `concurrency`, `maxPending`, the timeout, cancel, and one job per target. A second request of
   * the same kind gets the job already there; while a job of another kind holds the target, the
   * request is refused with TARGET_BUSY (a snapshot and a dump of one database never run at once).
   */
  enqueueTask<R, E extends JobEventShape, K extends JobKind>(request: TaskRequest<R, E, K>, options: EnqueueOptions<E> = {}): { readonly job: Job<R, E, K>; readonly created: boolean } {
    const start: StartJob = (jobId, signal, emit) =>
      request.run({
        jobId,
        signal,
        onEvent: (event) => {
          if (!QUEUE_EVENTS.has(event.type)) emit(event);
        },
      });
    const { job, created } = this.add(request.kind, request, start, options.onEvent as ((event: JobEventShape) => void) | undefined);
    return { job: job as unknown as Job<R, E, K>, created };
  }

  private add(kind: JobKind, request: { readonly target: string; readonly trigger: Trigger }, start: StartJob, onEvent: ((event: JobEventShape) => void) | undefined): { job: QueuedJob; created: boolean } {
    const existing = this.byTarget.get(request.target);
    if (existing?.kind === kind) return { job: existing, created: false };
    if (existing) {
      throw new DumptruckError(
        'TARGET_BUSY',
        'queue',
        `a ${existing.kind} of ${request.target} is ${existing.state === 'running' ? 'running' : 'queued'} (job ${existing.id}); one operation per database at a time, so this ${kind} was not queued`,
        { hint: `Ask again once the ${existing.kind} has finished; \`/backup status\` shows it.` },
      );
    }
    if (this.closed) {
      throw new DumptruckError('QUEUE_FULL', 'queue', 'the bot is shutting down and takes no new backups', {
        hint: 'Try again in a minute, once it has restarted.',
      });
    }
    const slotFree = this.running.size + this.waiting.length < this.options.concurrency;
    if (!slotFree && this.waiting.length >= this.options.maxPending) {
      const { maxPending } = this.options;
      throw new DumptruckError(
        'QUEUE_FULL',
        'queue',
        `${maxPending} backup${maxPending === 1 ? ' is' : 's are'} already waiting (queue.maxPending is ${maxPending})`,
        { hint: 'Try again when one of them has started; `/backup status` shows the queue.' },
      );
    }

    const job = new QueuedJob(this.newJobId(), kind, request.target, request.trigger, this.now(), start, this.options.onListenerError ?? (() => {}));
    if (onEvent) job.subscribe(onEvent);
    this.byTarget.set(job.target, job);
    this.byId.set(job.id, job);
    this.waiting.push(job);
    job.position = this.waiting.length;
    job.emit({ type: 'queued', jobId: job.id, target: job.target, position: job.position });

    this.pqueue.add(() => this.run(job), { signal: job.dequeue.signal }).catch((reason: unknown) => {
      // Only a waiting job's removal lands here: run() never throws.
      this.settle(job, { ok: false, error: asError(reason) });
    });
    return { job, created: true };
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

  /** Refuses new jobs (QUEUE_FULL, "shutting down") and leaves queued and running ones alone: the start of a graceful shutdown. */
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
      const reason: unknown = job.controller.signal.aborted ? job.controller.signal.reason : undefined;
      // The runner's report of this cancel or timeout wins only when it adds to the queue's reason
      // ("...; the store did not confirm that the partial upload was aborted"); a generic one never does.
      const addsTo = isDumptruckError(reason) && isDumptruckError(err) && err.code === reason.code && err.message.startsWith(`${reason.message}; `);
      const said = addsTo ? err : reason;
      outcome = { ok: false, error: isDumptruckError(said) ? said : asError(err) };
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

function asError(err: unknown): DumptruckError {
  return toDumptruckError(err, 'INTERNAL', 'internal');
}
