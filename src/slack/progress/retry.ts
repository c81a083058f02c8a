import { webApi } from '@slack/bolt';
import type { Clock } from '../clock.js';

// When a Web API call is worth repeating, and after how long. The WebClient is built with
// rejectRateLimitedCalls, so 429s surface here: the reporter then sends the newest state after
// Retry-After instead of the client replaying a stale edit.

/** Platform errors that say "not now" rather than "never". */
const TRANSIENT_PLATFORM_ERRORS = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);
const MAX_BACKOFF_MS = 30_000;

/** Milliseconds to wait before trying again, or undefined when repeating cannot help (bad channel, invalid blocks). */
export function retryDelayMs(err: unknown, attempt: number): number | undefined {
  const backoff = Math.min(1000 * 2 ** attempt, MAX_BACKOFF_MS);
  const e = err as { code?: unknown; retryAfter?: unknown; statusCode?: unknown; data?: { error?: unknown } };
  switch (e?.code) {
    case webApi.ErrorCode.RateLimitedError:
      return typeof e.retryAfter === 'number' ? e.retryAfter * 1000 : backoff;
    case webApi.ErrorCode.RequestError:
      return backoff;
    case webApi.ErrorCode.HTTPError:
      return typeof e.statusCode === 'number' && e.statusCode >= 500 ? backoff : undefined;
    case webApi.ErrorCode.PlatformError:
      return TRANSIENT_PLATFORM_ERRORS.has(String(e.data?.error)) ? backoff : undefined;
    default:
      return undefined;
  }
}

export interface RetryOptions {
  readonly clock: Clock;
  /** Calls in all, the first included. */
  readonly attempts: number;
}

/** For messages that must arrive (parent, result): repeats transient failures, throws the last error. */
export async function withRetry<T>(call: () => Promise<T>, { clock, attempts }: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const delay = retryDelayMs(err, attempt);
      if (delay === undefined || attempt + 1 >= attempts) throw err;
      await clock.sleep(delay);
    }
  }
}
