// Alerts already handled, by every key they arrived under (channel+ts, Slack's event_id, the
// client_msg_id), so a re-delivery or an edit is recognised. Bounded in size and age: Slack
// re-delivers within minutes, and a process does not need last month's alerts.

export interface SeenOptions {
  /** Default 24 hours. */
  readonly ttlMs?: number;
  /** Default 10,000 keys; the oldest go first. */
  readonly maxKeys?: number;
  readonly now: () => number;
}

export class SeenAlerts<V> {
  private readonly entries = new Map<string, { readonly value: V; readonly at: number }>();
  private readonly ttlMs: number;
  private readonly maxKeys: number;

  constructor(private readonly options: SeenOptions) {
    this.ttlMs = options.ttlMs ?? 86_400_000;
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /** What the first of `keys` seen before was remembered with. */
  get(keys: readonly string[]): V | undefined {
    this.expire();
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry) return entry.value;
    }
    return undefined;
  }

  remember(keys: readonly string[], value: V): void {
    const at = this.options.now();
    for (const key of keys) {
      this.entries.delete(key);
      this.entries.set(key, { value, at });
    }
    while (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
  }

  private expire(): void {
    const cutoff = this.options.now() - this.ttlMs;
    // Insertion order is age order: stop at the first young entry.
    for (const [key, entry] of this.entries) {
      if (entry.at > cutoff) break;
      this.entries.delete(key);
    }
  }
}
