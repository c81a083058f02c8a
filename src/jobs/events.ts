import type { DumptruckError } from '../errors.js';
import type { CompressionAlgorithm } from '../storage/keys.js';
import type { PruneReport } from '../retention/prune.js';
import type { VerifyReport } from '../verify/verify.js';

/** Who or what asked for a run; stored in the object's metadata and shown in threads. */
export interface Trigger {
  readonly kind: 'cli' | 'slack' | 'alert' | 'schedule' | 'retry';
  /** e.g. a Slack user id, `cli:<unix user>`, an alert's ts. */
  readonly by: string;
  /** Free text: channel, alert message link, cron expression. */
  readonly detail?: string;
  /** A scheduled run that replaces a missed one: the missed fire time. */
  readonly catchUpFor?: Date;
}

export interface BackupResult {
  readonly target: string;
  readonly bucket: string;
  readonly key: string;
  readonly format: 'plain' | 'custom';
  /** How it was compressed: by dumptruck for plain, inside pg_dump's archive for custom. */
  readonly compression?: { readonly algorithm: CompressionAlgorithm; readonly level: number };
  /** Bytes stored in the bucket (compressed). */
  readonly storedBytes: number;
  /** Bytes pg_dump wrote (before compression for plain; equal to stored for custom). */
  readonly dumpedBytes: number;
  /** Hex SHA-256 of the stored bytes. */
  readonly sha256: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  readonly pgDumpVersion: string;
  readonly serverVersion: string;
  readonly partSize: number;
  readonly parts: number;
  /** Encrypted with age: the recipients' fingerprints (first 16 hex digits of SHA-256 of each public key). */
  readonly encryption?: { readonly recipients: readonly string[] };
  // Checks after the object was stored (absent when none ran). A backup with warnings or a failed
  // verification still exists; entry points report it as flagged rather than as a plain success.
  readonly warnings?: readonly BackupWarning[];
  readonly verification?: VerificationOutcome;
  readonly pruned?: PruneReport;
  /** The second copy, when a mirror is configured: same key and SHA-256 in another store. */
  readonly mirror?: MirrorOutcome;
}

export interface MirrorOutcome {
  readonly bucket: string;
  readonly endpoint?: string | undefined;
  readonly stored: boolean;
  /** Why the copy is missing (a failed optional mirror; the run itself succeeded). */
  readonly error?: string;
}

/** Something about a stored backup that deserves a human look. */
export type BackupWarning =
  | { readonly kind: 'empty'; readonly message: string; readonly dumpedBytes: number; readonly emptyBelow: number }
  | {
      readonly kind: 'shrunk';
      readonly message: string;
      readonly storedBytes: number;
      /** Median stored size of the `compared` previous backups of the target. */
      readonly medianBytes: number;
      readonly compared: number;
      readonly ratio: number;
      readonly threshold: number;
    }
  /** A step after the backup could not run or was skipped (size check, pruning); the backup itself is fine. */
  | { readonly kind: 'check-skipped'; readonly message: string }
  /** An optional (required: false) mirror copy failed; the primary copy is complete. */
  | { readonly kind: 'mirror-failed'; readonly message: string };

export type VerificationOutcome = { readonly ok: true; readonly report: VerifyReport } | { readonly ok: false; readonly error: DumptruckError };

export interface StartedInfo {
  readonly target: string;
  readonly key: string;
  readonly estimatedBytes: number;
  readonly partSize: number;
  readonly partsInFlight: number;
  readonly pgDumpVersion: string;
  readonly serverVersion: string;
}

export interface ProgressInfo {
  readonly dumpedBytes: number;
  readonly storedBytes: number;
  readonly elapsedMs: number;
  /** Dumped bytes per second, averaged over the run so far. */
  readonly bytesPerSecond: number;
  /** pg_database_size at start: an estimate of dumped bytes, not a promise. */
  readonly estimatedBytes: number;
}

/** Events a job emits; the CLI prints them and Slack renders them into a thread. */
export type JobEvent =
  | { readonly type: 'queued'; readonly jobId: string; readonly target: string; readonly position: number }
  | { readonly type: 'started'; readonly jobId: string; readonly info: StartedInfo }
  | { readonly type: 'progress'; readonly jobId: string; readonly progress: ProgressInfo }
  | { readonly type: 'finished'; readonly jobId: string; readonly result: BackupResult }
  | { readonly type: 'failed'; readonly jobId: string; readonly target: string; readonly error: DumptruckError };

export type JobEventListener = (event: JobEvent) => void;
