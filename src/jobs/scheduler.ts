import type { Cron } from 'croner';
import { compileSchedule } from '../config/cron.js';
import type { Config } from '../config/schema.js';
import { toDumptruckError, type DumptruckError } from '../errors.js';
import { keyTime } from '../storage/keys.js';
import type { BackupCatalog } from '../storage/types.js';
import type { Trigger } from './events.js';
import type { Job, Queue, QueueRefusal } from './queue.js';
import { unrefTimer } from './timer.js';

// The bot's own cron: targets.<name>.schedule (+ timezone) enqueue through the same JobQueue as
// every other entry point, so a scheduled run never overlaps a queued or running job of its
// target (the queue keeps one per target; the fire is then reported as skipped).
//
// Missed runs: on start, each scheduled target's newest backup in the bucket (any trigger) is
// the reference. If a fire time of its schedule has passed since that backup, one catch-up run
// is enqueued at once, however many fires were missed; a target with no backup at all waits for
// its next fire. The bucket, not local state, is the memory: a redeploy on another host, or a
// backup taken by hand in between, counts.
//
// A fleet (config `state:`): every replica runs this same schedule, and each fire time (a regular
// fire or a catch-up) is claimed in the state database before it is enqueued, so exactly one
// replica enqueues it; the others skip it quietly.

export type SchedulerEvent =
  | { readonly type: 'enqueued'; readonly target: string; readonly job: Job; readonly scheduledFor: Date; readonly catchUp: boolean }
  /** A job of the target was already queued or running: this fire does not add another. */
  | { readonly type: 'skipped'; readonly target: string; readonly job: Job; readonly scheduledFor: Date; readonly catchUp: boolean }
  /** The queue refused the run (full, shutting down, another operation holds the target); the reporter words it. */
  | {
      readonly type: 'refused';
      readonly target: string;
      readonly refusal: QueueRefusal;
      readonly scheduledFor: Date;
      readonly catchUp: boolean;
    }
  /** Another replica claimed this fire time and enqueues it: nothing to do here. */
  | { readonly type: 'claimed-elsewhere'; readonly target: string; readonly scheduledFor: Date; readonly catchUp: boolean }
  /** The claim could not be made (state database unreachable): this replica enqueues the fire anyway. */
  | { readonly type: 'claim-failed'; readonly target: string; readonly scheduledFor: Date; readonly error: DumptruckError }
  /** The missed-run check could not read the bucket; the regular schedule goes on. */
  | { readonly type: 'catch-up-failed'; readonly target: string; readonly error: DumptruckError };

/** A fleet's record of fire times taken: one replica enqueues each. */
export interface FireClaims {
  /** True for the first caller to claim the target's fire time, false for every other (exact under races). */
  claim(target: string, scheduledFor: Date): Promise<boolean>;
}

/** One process: every fire is its own. */
export const alwaysClaim: FireClaims = { claim: async () => true };

export interface SchedulerOptions {
  readonly config: Config;
  readonly queue: Pick<Queue, 'enqueue'>;
  /** For the missed-run check: the newest backup of a target. */
  readonly catalog: Pick<BackupCatalog, 'list'>;
  /** Default: `new Date()`. */
  readonly now?: () => Date;
  /** Default: an unref'd setTimeout. Called again for delays beyond setTimeout's 24.8-day ceiling. */
  readonly setTimer?: (callback: () => void, ms: number) => () => void;
  /** Reporters (Slack: the target's report channel) subscribe to `job` here. A throwing listener is ignored. */
  readonly onEvent?: (event: SchedulerEvent) => void;
  /** Fleet: claims each fire time first. Default: none, every fire is enqueued at once (as with alwaysClaim, but synchronously). */
  readonly claims?: FireClaims;
}

/** setTimeout's ceiling; longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry {
  readonly target: string;
  readonly cron: Cron;
  readonly describe: string;
  next: Date | undefined;
  cancel: (() => void) | undefined;
}

export class Scheduler {
  private readonly entries: Entry[];
  private readonly now: () => Date;
  private readonly setTimer: (callback: () => void, ms: number) => () => void;
  private running = false;

  constructor(private readonly options: SchedulerOptions) {
    this.now = options.now ?? (() => new Date());
    this.setTimer = options.setTimer ?? unrefTimer;
    this.entries = Object.entries(options.config.targets)
      .filter(([, t]) => t.schedule !== undefined)
      .map(([target, t]) => ({
        target,
        cron: compileSchedule(t.schedule!, t.timezone),
        describe: `${t.schedule} ${t.timezone ?? 'UTC'}`,
        next: undefined,
        cancel: undefined,
      }));
  }

  /** Scheduled targets and their next fire time (undefined before start()). */
  upcoming(): { readonly target: string; readonly schedule: string; readonly next: Date | undefined }[] {
    return this.entries.map((e) => ({ target: e.target, schedule: e.describe, next: e.next }));
  }

  /** Arms every schedule, then runs the missed-run check; resolves once catch-up runs are enqueued. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const startedAt = this.now();
    for (const entry of this.entries) this.arm(entry, startedAt);
    await Promise.all(this.entries.map((entry) => this.catchUp(entry, startedAt)));
  }

  stop(): void {
    this.running = false;
    for (const entry of this.entries) {
      entry.cancel?.();
      entry.cancel = undefined;
      entry.next = undefined;
    }
  }

  private arm(entry: Entry, from: Date): void {
    if (!this.running) return;
    const next = entry.cron.nextRun(from);
    entry.next = next ?? undefined;
    if (!next) return;
    this.wait(entry, next);
  }

  private wait(entry: Entry, due: Date): void {
    const delay = Math.max(0, due.getTime() - this.now().getTime());
    entry.cancel = this.setTimer(
      () => {
        entry.cancel = undefined;
        if (!this.running) return;
        // Early (the ceiling above, or a timer that ran fast): keep waiting for the same fire.
        if (this.now().getTime() < due.getTime()) {
          this.wait(entry, due);
          return;
        }
        void this.fire(entry, due, false);
        this.arm(entry, due);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  private async catchUp(entry: Entry, startedAt: Date): Promise<void> {
    let newest: Date | undefined;
    try {
      const [latest] = await this.options.catalog.list(entry.target);
      newest = latest ? (keyTime(latest.key) ?? latest.lastModified) : undefined;
    } catch (err) {
      this.report({ type: 'catch-up-failed', target: entry.target, error: toDumptruckError(err, 'STORAGE_FAILED', 'storage') });
      return;
    }
    if (!newest || !this.running) return;
    const missed = missedFire(entry.cron, newest, startedAt);
    if (missed) await this.fire(entry, missed, true);
  }

  /** Resolves once the fire is enqueued or left to another replica. */
  private async fire(entry: Entry, scheduledFor: Date, catchUp: boolean): Promise<void> {
    const { claims } = this.options;
    // Without claims the enqueue stays synchronous with the timer, as for one process it always was.
    if (!claims) return this.enqueue(entry, scheduledFor, catchUp);
    // The same claim for a regular fire and a catch-up of that fire time: two replicas starting
    // together, or one starting while another fires, make one run.
    await claims.claim(entry.target, scheduledFor).then(
      (claimed) => {
        if (!this.running) return;
        if (claimed) this.enqueue(entry, scheduledFor, catchUp);
        else this.report({ type: 'claimed-elsewhere', target: entry.target, scheduledFor, catchUp });
      },
      (err: unknown) => {
        if (!this.running) return;
        // A missed backup is worse than a doubled one (the queue keeps one job per target anyway).
        this.report({
          type: 'claim-failed',
          target: entry.target,
          scheduledFor,
          error: toDumptruckError(err, 'STATE_UNAVAILABLE', 'state'),
        });
        this.enqueue(entry, scheduledFor, catchUp);
      },
    );
  }

  private enqueue(entry: Entry, scheduledFor: Date, catchUp: boolean): void {
    const trigger: Trigger = {
      kind: 'schedule',
      by: 'scheduler',
      detail: catchUp ? `${entry.describe}, catch-up for the missed ${scheduledFor.toISOString()} run` : entry.describe,
      ...(catchUp ? { catchUpFor: scheduledFor } : {}),
    };
    const base = { target: entry.target, scheduledFor, catchUp };
    const enqueued = this.options.queue.enqueue({ kind: 'backup', target: entry.target, trigger });
    if (!enqueued.ok) this.report({ type: 'refused', refusal: enqueued.refusal, ...base });
    else this.report(enqueued.created ? { type: 'enqueued', job: enqueued.job, ...base } : { type: 'skipped', job: enqueued.job, ...base });
  }

  private report(event: SchedulerEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A broken reporter must not stop the schedule.
    }
  }
}

/**
 * Pure: the most recent fire time of `cron` after the newest backup and up to `now`, if any: a
 * run that should have happened while nothing did. Several missed fires give one catch-up.
 */
export function missedFire(cron: Cron, newestBackup: Date, now: Date): Date | undefined {
  const first = cron.nextRun(newestBackup);
  if (!first || first.getTime() > now.getTime()) return undefined;
  return cron.previousRuns(1, now)[0] ?? first;
}
