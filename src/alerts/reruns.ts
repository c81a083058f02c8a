// One rerun per target per burst of alerts, retried with backoff until it succeeds or runs out of
// attempts. Knows the queue and time, never Slack: a reporter is told each step and awaited, so
// that a thread reads in order (an attempt's result before the retry notice).
//
// - An alert for a target whose run is queued, running, waiting to retry, or ended less than
//   `windowMs` ago joins that run instead of starting another (a storm of alerts is one run).
// - Each attempt goes through the shared queue: a backup of the target already queued or running
//   (a slash command, the schedule) is followed as this attempt rather than doubled.
// - A failed attempt is retried after backoffMs, 2 x backoffMs, 4 x backoffMs ... (doubling, at
//   most an hour, or backoffMs itself when that is longer) until `attempts` have run. A cancelled
//   attempt ends the run: somebody decided to stop it.
// - A fleet (config `state:`) keeps runs in a RerunLedger: a run starts only once it has claimed
//   its alert and its target there (a re-delivery to another replica is a duplicate, an alert
//   while another replica's run is on joins that), a pending retry is written down, and the
//   replica that takes it when due (its own, or any other after a restart) runs the attempt.
import { randomBytes } from 'node:crypto';
import type { DumptruckError } from '../errors.js';
import type { AlertRef, EndedRunState, LedgerVerdict, RerunLedger } from '../types.js';
import type { BackupResult, Trigger } from '../jobs/events.js';
import type { Job, JobOutcome, Queue, QueueRefusal } from '../jobs/queue.js';
import { unrefTimer } from '../jobs/timer.js';

export type { AlertRef, EndedRunState, LedgerRun, LedgerVerdict, PendingRetry, RerunLedger } from '../types.js';

export type RunState = 'active' | EndedRunState;

export interface AlertRun {
  readonly id: string;
  readonly target: string;
  /** The alert that started it; attempts report in its thread. */
  readonly alert: AlertRef;
  readonly state: RunState;
  /** The current or last attempt, 1-based. */
  readonly attempt: number;
  readonly attempts: number;
  /** The current or last attempt's job (absent when the queue refused it). */
  readonly job: Job | undefined;
  readonly startedAt: Date;
  readonly endedAt: Date | undefined;
  /** While waiting to retry. */
  readonly nextAttemptAt: Date | undefined;
  readonly result: BackupResult | undefined;
  readonly error: DumptruckError | undefined;
  /** Alerts that joined it after the first. */
  readonly joined: number;
}

export type RerunEvent =
  /** `created`: false when the attempt follows a backup of the target that was already queued or running. */
  | { readonly type: 'attempt'; readonly job: Job; readonly attempt: number; readonly created: boolean }
  /** `job` is absent when the queue refused the attempt (full, or another operation holds the target). */
  | {
      readonly type: 'ended';
      readonly job: Job | undefined;
      readonly attempt: number;
      readonly created: boolean;
      readonly outcome: JobOutcome;
    }
  /** `created`: the failed attempt was the run's own job (its result is in the thread), not a followed one or a refusal. */
  | {
      readonly type: 'retrying';
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: DumptruckError;
      readonly created: boolean;
    }
  | { readonly type: 'exhausted'; readonly error: DumptruckError }
  /** Cancelled by someone, or the bot is shutting down: no more attempts. */
  | { readonly type: 'stopped'; readonly reason: 'cancelled' | 'shutdown'; readonly error?: DumptruckError }
  /** Fleet: the ledger gave this alert to another replica's run (`joined`), or it was handled already (`duplicate`). */
  | { readonly type: 'elsewhere'; readonly verdict: Exclude<LedgerVerdict, { readonly kind: 'claimed' }> };

export type Receipt = { readonly kind: 'started'; readonly run: AlertRun } | { readonly kind: 'joined'; readonly run: AlertRun };

export interface AlertRerunsOptions {
  readonly queue: Pick<Queue, 'enqueue' | 'cancelJob'>;
  /** Attempts in all (the first run included) and the first retry's delay: config alerts.retry. */
  readonly retry: { readonly attempts: number; readonly backoffMs: number };
  /** config alerts.window. */
  readonly windowMs: number;
  /**
   * Told each step, awaited before the next. A rejected `attempt` (its thread could not be
   * posted) cancels a job the run created and ends the run; other rejections are ignored.
   */
  readonly report: (run: AlertRun, event: RerunEvent) => Promise<void>;
  /** The queue's refusal of an attempt as the error the run reports (worded by slack/messages). */
  readonly refusalError: (refusal: QueueRefusal) => DumptruckError;
  /** False while the bot drains for a restart: no new attempts. Default: always true. */
  readonly accepting?: () => boolean;
  /** Default: `new Date()`. */
  readonly now?: () => Date;
  /** Default: an unref'd setTimeout; returns its cancel. */
  readonly setTimer?: (callback: () => void, ms: number) => () => void;
  /** Fleet: runs shared through the state database. Default: none, this process alone decides. */
  readonly ledger?: RerunLedger;
  /** With a ledger: how long an attempt may go unheard of before its run counts as dead. Default: 12 hours. */
  readonly staleMs?: number;
  /** With a ledger: a ledger call failed; the run goes on as if this process were alone (a double run beats none). */
  readonly onLedgerError?: (err: unknown) => void;
}

/** Longest wait between attempts, unless alerts.retry.backoff itself is longer. */
export const MAX_BACKOFF_MS = 3_600_000;

/** The wait after failed attempt `failed` (1-based): backoff, 2 x backoff, 4 x backoff, ... */
export function retryDelayMs(backoffMs: number, failed: number): number {
  return Math.max(backoffMs, Math.min(backoffMs * 2 ** (failed - 1), MAX_BACKOFF_MS));
}

class Run implements AlertRun {
  state: RunState = 'active';
  attempt = 0;
  job: Job | undefined;
  endedAt: Date | undefined;
  nextAttemptAt: Date | undefined;
  result: BackupResult | undefined;
  error: DumptruckError | undefined;
  joined = 0;

  constructor(
    readonly id: string,
    readonly target: string,
    readonly alert: AlertRef,
    readonly attempts: number,
    readonly startedAt: Date,
  ) {}
}

export class AlertReruns {
  private readonly latest = new Map<string, Run>();
  private readonly driving = new Set<Promise<void>>();
  private readonly sleepers = new Set<() => void>();
  private readonly now: () => Date;
  private readonly setTimer: (callback: () => void, ms: number) => () => void;
  private stopping = false;
  private runIds = 0;

  constructor(private readonly options: AlertRerunsOptions) {
    this.now = options.now ?? (() => new Date());
    this.setTimer = options.setTimer ?? unrefTimer;
  }

  /** The target's newest run, if it is still active or ended within the window. */
  current(target: string): AlertRun | undefined {
    const run = this.latest.get(target);
    if (!run) return undefined;
    if (run.state === 'active' || (run.endedAt && this.now().getTime() - run.endedAt.getTime() < this.options.windowMs)) return run;
    return undefined;
  }

  /** Starts a run for the alert, or joins the target's current one. Synchronous: the work happens in the background. */
  receive(target: string, alert: AlertRef): Receipt {
    const existing = this.current(target) as Run | undefined;
    if (existing) {
      existing.joined++;
      return { kind: 'joined', run: existing };
    }
    // Ids name a run across the fleet when it is shared.
    const id = this.options.ledger ? `r-${randomBytes(6).toString('hex')}` : `r${++this.runIds}`;
    const run = new Run(id, target, alert, this.options.retry.attempts, this.now());
    this.latest.set(target, run);
    this.start(run, false);
    return { kind: 'started', run };
  }

  /**
   * Fleet: takes on the runs waiting for a retry that this process does not drive (scheduled
   * before a restart, or by a replica that died); when due, one replica takes each attempt.
   * Returns how many it took on.
   */
  async resume(): Promise<number> {
    const { ledger } = this.options;
    if (!ledger || !this.accepting()) return 0;
    let taken = 0;
    for (const pending of await ledger.pending()) {
      if (this.current(pending.target)) continue;
      const run = new Run(pending.id, pending.target, pending.alert, pending.attempts, pending.startedAt);
      run.attempt = pending.attempt;
      run.nextAttemptAt = pending.nextAttemptAt;
      this.latest.set(pending.target, run);
      this.start(run, true);
      taken++;
    }
    return taken;
  }

  private start(run: Run, resumed: boolean): void {
    const drive = this.drive(run, resumed).finally(() => this.driving.delete(drive));
    this.driving.add(drive);
  }

  /**
   * No more attempts: runs waiting to retry end now (with a ledger they are left in it for a replica
   * to take when due), runs with a job end when it does (the queue cancels those on shutdown).
   */
  stop(): void {
    this.stopping = true;
    for (const wake of [...this.sleepers]) wake();
  }

  /** Resolves when every run has ended and its last step has been reported. */
  async idle(): Promise<void> {
    while (this.driving.size > 0) await Promise.all([...this.driving]);
  }

  private accepting(): boolean {
    return !this.stopping && (this.options.accepting?.() ?? true);
  }

  private async drive(run: Run, resumed: boolean): Promise<void> {
    const { retry, ledger } = this.options;
    if (ledger && !resumed && !(await this.claim(ledger, run))) return;
    // The wait before the next attempt: a resumed run's remainder, then each retry's backoff.
    let waitMs = resumed && run.nextAttemptAt ? Math.max(0, run.nextAttemptAt.getTime() - this.now().getTime()) : undefined;
    for (;;) {
      if (waitMs !== undefined) {
        await this.sleep(waitMs);
        if (ledger) {
          // Left waiting in the ledger: another replica, or this one restarted, takes it when due.
          if (!this.accepting()) return this.forget(run);
          if (!(await this.ledgerCall(() => ledger.takeAttempt(run.id, run.attempt), true))) return this.forget(run);
        }
      }
      run.attempt++;
      run.nextAttemptAt = undefined;
      if (!this.accepting()) return this.end(run, 'stopped', { type: 'stopped', reason: 'shutdown' });
      const attempt = await this.runAttempt(run);
      if (!attempt) return;
      const { outcome, created } = attempt;
      await this.tell(run, { type: 'ended', attempt: run.attempt, ...attempt });

      if (outcome.ok) {
        run.result = outcome.result;
        return this.end(run, 'succeeded');
      }
      const { error } = outcome;
      run.error = error;
      if (error.code === 'CANCELLED') return this.end(run, 'stopped', { type: 'stopped', reason: 'cancelled', error });
      if (!this.accepting()) return this.end(run, 'stopped', { type: 'stopped', reason: 'shutdown', error });
      if (run.attempt >= run.attempts) return this.end(run, 'failed', { type: 'exhausted', error });

      const delayMs = retryDelayMs(retry.backoffMs, run.attempt);
      const at = new Date(this.now().getTime() + delayMs);
      run.nextAttemptAt = at;
      if (ledger) await this.ledgerCall(() => ledger.retrying(run.id, run.attempt, at), undefined);
      await this.tell(run, { type: 'retrying', attempt: run.attempt + 1, delayMs, error, created });
      waitMs = delayMs;
    }
  }

  /** Fleet: whether this run may go on here; a run that may not is told once and forgotten. */
  private async claim(ledger: RerunLedger, run: Run): Promise<boolean> {
    const windowMs = this.options.windowMs;
    const claimed: LedgerVerdict = { kind: 'claimed' };
    const verdict = await this.ledgerCall(() => ledger.begin(run, windowMs, this.options.staleMs ?? 43_200_000), claimed);
    if (verdict.kind === 'claimed') return true;
    this.forget(run);
    await this.tell(run, { type: 'elsewhere', verdict });
    return false;
  }

  /** Ends the run here without a word: another replica has it, or will. Later alerts ask the ledger again. */
  private forget(run: Run): void {
    run.state = 'stopped';
    run.endedAt = this.now();
    run.nextAttemptAt = undefined;
    if (this.latest.get(run.target) === run) this.latest.delete(run.target);
  }

  /** A ledger call whose failure is reported and answered with `fallback`. */
  private async ledgerCall<T>(call: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await call();
    } catch (err) {
      this.options.onLedgerError?.(err);
      return fallback;
    }
  }

  /** Queues (or follows) one attempt and waits for it; undefined when its thread could not be posted and the run was ended. */
  private async runAttempt(run: Run): Promise<{ job: Job | undefined; created: boolean; outcome: JobOutcome } | undefined> {
    const { queue } = this.options;
    const enqueued = queue.enqueue({ kind: 'backup', target: run.target, trigger: this.trigger(run) });
    if (!enqueued.ok) return { job: undefined, created: false, outcome: { ok: false, error: this.options.refusalError(enqueued.refusal) } };
    const { job, created } = enqueued;
    run.job = job;
    try {
      await this.options.report(run, { type: 'attempt', job, attempt: run.attempt, created });
    } catch {
      if (created) queue.cancelJob(job.id, 'cancelled: its Slack thread could not be posted');
      run.state = 'stopped';
      run.endedAt = this.now();
      await this.endInLedger(run);
      return undefined;
    }
    return { job, created, outcome: await job.settled };
  }

  private trigger(run: Run): Trigger {
    const detail = `${run.alert.channel}/${run.alert.ts}`;
    return {
      kind: 'alert',
      by: run.alert.by,
      detail: run.attempt === 1 ? detail : `${detail} (attempt ${run.attempt} of ${run.attempts})`,
    };
  }

  private async end(run: Run, state: EndedRunState, event?: RerunEvent): Promise<void> {
    run.state = state;
    run.endedAt = this.now();
    run.nextAttemptAt = undefined;
    await this.endInLedger(run);
    if (event) await this.tell(run, event);
  }

  private async endInLedger(run: Run): Promise<void> {
    const { ledger } = this.options;
    if (ledger && run.state !== 'active') await this.ledgerCall(() => ledger.end(run.id, run.state as EndedRunState), undefined);
  }

  private async tell(run: Run, event: RerunEvent): Promise<void> {
    try {
      await this.options.report(run, event);
    } catch {
      // The reporter logs its own failures; the run goes on.
    }
  }

  /** Resolves after `ms`, or at once on stop(). */
  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      let cancel = () => {};
      const wake = () => {
        this.sleepers.delete(wake);
        cancel();
        resolve();
      };
      this.sleepers.add(wake);
      cancel = this.setTimer(wake, ms);
    });
  }
}
