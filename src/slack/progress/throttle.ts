import type { Clock } from '../clock.js';
import { retryDelayMs } from './retry.js';

// Edits one message at most once per interval however fast states arrive. Only the newest state
// is kept: an edit that was skipped, failed or rate-limited is replaced by a newer one, never
// replayed. The final state is always sent (retried until it lands or cannot).

export interface ThrottleOptions<T> {
  readonly send: (state: T) => Promise<unknown>;
  /** Slack allows about one chat.update per second per message; 3000 ms leaves room for many jobs. */
  readonly intervalMs: number;
  readonly clock: Clock;
  /** When the message was last written (e.g. just posted); the first edit waits an interval from it. Default: long ago. */
  readonly lastSentAt?: number;
  /** Attempts for the final state before giving up. Default 6. */
  readonly finalAttempts?: number;
  /** Told about every failed send; the updater itself never throws. */
  readonly onError?: (err: unknown, final: boolean) => void;
}

export class ThrottledUpdater<T> {
  private pending: { readonly state: T } | undefined;
  private final = false;
  private finalAttempt = 0;
  private nextAt: number;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: ThrottleOptions<T>) {
    this.nextAt = (options.lastSentAt ?? -Infinity) + options.intervalMs;
  }

  /** The earliest time the next write to this job's messages keeps to the interval. */
  get nextAllowedAt(): number {
    return this.nextAt;
  }

  /** Queues a state; ignored once the final one is in. */
  push(state: T): void {
    if (this.final) return;
    this.pending = { state };
    this.kick();
  }

  /** Queues the final state; resolves when it was sent or could not be. */
  async finish(state: T): Promise<void> {
    this.final = true;
    this.pending = { state };
    this.kick();
    while (this.loop) await this.loop;
  }

  /** Drops what is pending and sends nothing more: another replica edits this message now. */
  stop(): void {
    this.final = true;
    this.pending = undefined;
  }

  private kick(): void {
    this.loop ??= this.drain().finally(() => {
      this.loop = undefined;
    });
  }

  private async drain(): Promise<void> {
    const { clock, intervalMs, send } = this.options;
    while (this.pending) {
      const wait = this.nextAt - clock.now();
      if (wait > 0) await clock.sleep(wait);
      const taken = this.pending;
      if (!taken) break;
      this.pending = undefined;
      const final = this.final;
      try {
        await send(taken.state);
        this.nextAt = clock.now() + intervalMs;
      } catch (err) {
        this.options.onError?.(err, final);
        const delay = retryDelayMs(err, final ? this.finalAttempt : 0);
        this.nextAt = clock.now() + Math.max(intervalMs, delay ?? 0);
        if (final) this.finalAttempt++;
        const retry = delay !== undefined && (!final || this.finalAttempt < (this.options.finalAttempts ?? 6));
        // Resend only if nothing newer arrived meanwhile; a permanent error drops the state.
        if (retry) this.pending ??= taken;
      }
    }
  }
}
