import { DumptruckError } from '../errors.js';
import { datedInFuture } from '../storage/catalog.js';
import { provenance } from '../storage/hmac.js';
import { hasRunToken } from '../storage/keys.js';
import type { BackupFacts } from '../storage/manifest.js';
import { provenanceProblem } from '../verify/verify.js';

/** What is known about a backup before a byte of it is restored. */
export interface TrustEntry {
  readonly target: string;
  readonly key: string;
  /** What the backup records (its manifest, or an old-style object's metadata); undefined: incomplete. */
  readonly facts: BackupFacts | undefined;
}

export interface TrustOptions {
  /** The resolved storage.hmacKey. */
  readonly hmacKey: string;
  /** The operator named this exact unsigned (pre-signing) object and said to trust it (CLI --trust-legacy). */
  readonly trustLegacy?: boolean;
}

/**
 * The single check point before a restore: only what dumptruck wrote may be restored. A key dated
 * in the future is a planted object's way of becoming `latest`; an object without a valid HMAC
 * over its key and SHA-256 was not written by a dumptruck holding our key.
 */
export function assertTrusted(entry: TrustEntry, now: Date, options: TrustOptions): void {
  if (datedInFuture(entry.key, now)) {
    throw new DumptruckError(
      'NOT_TRUSTED',
      'restore',
      `${entry.key} is dated in the future: dumptruck did not write it, so it is not restored`,
    );
  }
  const { facts } = entry;
  if (facts === undefined) {
    throw new DumptruckError('NOT_TRUSTED', 'restore', `${entry.key} has no manifest: its backup never completed, so it is not restored`);
  }
  const found = provenance(options.hmacKey, entry.key, facts.sha256, facts.hmac);
  const problem = provenanceProblem(entry.target, entry.key, found, options.trustLegacy === true, facts.recordedIn);
  if (problem) throw new DumptruckError('NOT_TRUSTED', 'restore', problem.message, { hint: problem.hint });
}

/**
 * --trust-legacy is for backups from before backups were signed. Keys with a run token came
 * later, and every one was signed when written: an unsigned one was planted, so the operator's
 * word cannot make it trusted.
 */
export function assertLegacyTrustable(key: string): void {
  if (!hasRunToken(key)) return;
  throw new DumptruckError(
    'NOT_TRUSTED',
    'input',
    `--trust-legacy is only for backups written before backups were signed; ${key} has a run token, so dumptruck signed it when it wrote it, and an unsigned copy of it was not written by dumptruck`,
    {
      hint: 'do not restore it: check who can write to the bucket, and restore another backup',
    },
  );
}
