/**
 * Fetched secrets, kept for a short time. Long enough that a burst of jobs (an alert storm, a
 * schedule firing for every target) costs one request to the secret manager; short enough that
 * a rotated password is picked up within a minute. Values live only in this map, never in logs.
 */
export class SecretCache {
  private readonly entries = new Map<string, { readonly value: string; readonly expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<string>>();

  /**
   * The cached value for `key` while it is younger than `ttlMs`, else `fetch()`'s. Concurrent
   * callers share one fetch. Failures are not cached: the next job tries again.
   */
  async get(key: string, ttlMs: number, now: () => number, fetch: () => Promise<string>): Promise<string> {
    const hit = this.entries.get(key);
    if (hit && now() < hit.expiresAt) return hit.value;
    this.entries.delete(key);
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const fetched = fetch().then((value) => {
      if (ttlMs > 0) this.entries.set(key, { value, expiresAt: now() + ttlMs });
      return value;
    });
    this.inflight.set(key, fetched);
    try {
      return await fetched;
    } finally {
      this.inflight.delete(key);
    }
  }

  /** Drops one source's value, e.g. after the database rejected it. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
