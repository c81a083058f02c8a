import { DumptruckError } from '../errors.js';
import { keyTime } from '../storage/keys.js';

/** What is known about a backup before a byte of it is restored. */
export interface TrustEntry {
  readonly key: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * The single check point before a restore: only what dumptruck wrote may be restored. For now it
 * refuses keys dated in the future (a planted object's way of becoming `latest`); the HMAC over
 * key and SHA-256 recorded with each backup is checked here once it exists.
 */
export function assertTrusted(entry: TrustEntry, now: Date): void {
  const at = keyTime(entry.key);
  // A minute of slack for clocks that disagree a little between the writer and this host.
  if (at !== undefined && at.getTime() > now.getTime() + 60_000) {
    throw new DumptruckError('NOT_TRUSTED', 'restore', `${entry.key} is dated ${at.toISOString()}, in the future: dumptruck did not write it, so it is not restored`);
  }
}
