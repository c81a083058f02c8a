// The ground floor: the shapes that travel between layers (what a run was asked by, its events,
// results and reports, the jobs that carry them). Every layer may import this module; it imports
// nothing of the project but the DumptruckError type, itself on the ground floor (see README,
// Architecture). Keeping these here is what lets storage/, verify/ and retention/ describe a
// backup without importing jobs/, and the queue carry every job kind without importing them.
import type { DumptruckError } from './errors.js';

/** Environment variables as read at start (process.env, with .env loaded). */
export type Env = Readonly<Record<string, string | undefined>>;

export type DumpFormat = 'plain' | 'custom';
export type CompressionAlgorithm = 'gzip' | 'zstd';

// --- a backup: trigger, events, result ---

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
  /** How long the finish step took (after the last byte was stored, until the manifest made the backup complete): the bench's `ratio finalize/backup`. */
  readonly finishMs?: number;
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

export type VerificationOutcome =
  | { readonly ok: true; readonly report: VerifyReport }
  | { readonly ok: false; readonly error: DumptruckError };

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

/** What any entry point (CLI, slash command, alert, schedule) asks the runner for. */
export interface BackupRequest {
  readonly target: string;
  readonly trigger: Trigger;
  /** Stable id for logs, events and pg_dump's application_name; generated when absent. */
  readonly jobId?: string;
}

export interface RunOptions {
  /** Aborting it kills pg_dump and aborts the multipart upload; the promise rejects with CancelledError. */
  readonly signal?: AbortSignal;
  readonly onEvent?: JobEventListener;
}

/** The one backup pipeline every entry point calls. */
export type RunBackup = (request: BackupRequest, options?: RunOptions) => Promise<BackupResult>;

// --- stored objects and the reports about them ---

/** An object as listed from the bucket. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

/**
 * `complete`: its manifest exists. `legacy`: written before manifests, its facts in its metadata
 * (complete too). `incomplete`: a dump without either, from a run that died before its manifest:
 * never `latest`, never counted as a good backup, deleted by prune after storage.incompleteGrace.
 * `foreign`: in a backup key's shape but without dumptruck's metadata for this target (planted, or
 * copied in): never counted, never deleted.
 */
export type BackupState = 'complete' | 'legacy' | 'incomplete' | 'foreign';

/** A stored backup (a dump object) and whether it is complete. */
export interface BackupObject extends StoredObject {
  readonly state: BackupState;
  /**
   * Whether this dumptruck's HMAC vouches for the object: set when one object is resolved (by key
   * or as `latest`, which is always trusted); absent in listings and for a dump without a manifest.
   */
  readonly provenance?: Provenance;
}

/**
 * What a recorded HMAC says about an object: `trusted` (dumptruck wrote this key with this
 * checksum), `unsigned` (no HMAC: written before HMACs, or not by dumptruck) or `forged`
 * (an HMAC that does not match).
 */
export type Provenance = 'trusted' | 'unsigned' | 'forged';

/** A user table of a restored database with its exact row count. */
export interface RestoredTable {
  readonly schema: string;
  readonly name: string;
  readonly rows: number;
}

export interface RestoreReport {
  /** The throwaway database, already dropped when the report is returned. */
  readonly database: string;
  readonly tables: readonly RestoredTable[];
  readonly rows: number;
  readonly durationMs: number;
}

export interface VerifyReport {
  readonly target: string;
  readonly bucket: string;
  readonly key: string;
  readonly format: DumpFormat;
  readonly storedBytes: number;
  readonly sha256: string;
  /** Bytes of the dump itself: decompressed for plain, the archive for custom. */
  readonly dumpedBytes: number;
  /** What was checked, in words, e.g. "sha256 matches metadata". */
  readonly checks: readonly string[];
  /** Custom format: entries in the archive's table of contents (pg_restore --list). */
  readonly archiveEntries?: number;
  /** An age-encrypted backup. */
  readonly encrypted?: boolean;
  /**
   * Set when only part of the checks could run: an encrypted backup without `encrypt.identity`
   * is checked by its SHA-256 and age header only. Such a backup gets no `.verified` marker.
   */
  readonly partial?: string;
  readonly restore?: RestoreReport;
  readonly verifiedAt: Date;
  readonly durationMs: number;
}

/** targets.<name>.retention: an object is kept when any rule keeps it. */
export interface RetentionRules {
  /** Keep the newest N backups. */
  readonly keepLast?: number | undefined;
  /** Keep every backup younger than D days (by the time in its key). */
  readonly keepDays?: number | undefined;
}

/**
 * Why a backup is kept: `last` (among the newest keepLast unflagged backups), `days` (an unflagged
 * backup younger than keepDays), `verified` (the newest unflagged verified backup: never
 * deleted), `newest` (the newest backup, and the newest unflagged one: pruning never leaves a
 * target with none, nor without its last good one, even when every backup is older than keepDays).
 */
export type KeepReason = 'newest' | 'last' | 'days' | 'verified' | 'unproven verified marker';

export interface RetentionItem {
  readonly key: string;
  /** The backup's time, from its key. */
  readonly time: Date;
  readonly ageDays: number;
  readonly flagged: boolean;
  /** Empty for the ones to delete. */
  readonly reasons: readonly KeepReason[];
}

/** An object retention neither counts nor deletes, and why. */
export interface IgnoredItem {
  readonly key: string;
  readonly why: string;
}

export interface PruneReport {
  readonly target: string;
  readonly rules: RetentionRules;
  readonly dryRun: boolean;
  /** The newest unflagged verified backup, which is never deleted; undefined when none is verified. */
  readonly newestVerified: string | undefined;
  /** Objects in backup-key shape that are not counted nor deleted: dated in the future, or not written by dumptruck. */
  readonly ignored: readonly IgnoredItem[];
  readonly kept: readonly RetentionItem[];
  /** Deleted (or, in a dry run, to be deleted), newest first. */
  readonly deleted: readonly RetentionItem[];
  /** Deletions the store refused; the rest went ahead. */
  readonly failed: readonly { readonly key: string; readonly message: string }[];
}

// --- provider snapshots ---

export interface SnapshotStartedInfo {
  readonly target: string;
  readonly instanceId: string;
  readonly region: string;
  readonly identifier: string;
  readonly status: string;
}

export interface SnapshotProgress {
  readonly status: string;
  readonly percent: number | undefined;
  readonly elapsedMs: number;
}

export interface SnapshotPruneReport {
  readonly keepLast: number;
  readonly kept: readonly string[];
  readonly deleted: readonly string[];
  /** Candidates left alone because their tags changed between the listing and the delete. */
  readonly skipped: ReadonlyArray<{ readonly identifier: string; readonly reason: string }>;
  readonly failed: ReadonlyArray<{ readonly identifier: string; readonly message: string }>;
}

export interface SnapshotResult {
  readonly target: string;
  readonly instanceId: string;
  readonly region: string;
  readonly identifier: string;
  readonly arn: string | undefined;
  readonly allocatedGiB: number | undefined;
  /** The provider's SnapshotCreateTime: the point in time the snapshot restores to. */
  readonly createdAt: Date | undefined;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  /** Retention of our older manual snapshots, when targets.<name>.snapshots.keepLast is set. */
  readonly pruned?: SnapshotPruneReport;
  /** Pruning could not run; the snapshot itself is fine. */
  readonly pruneError?: string;
}

/** The queue's `queued` and `failed` are a backup's; the rest is the snapshot's own. */
export type SnapshotEvent =
  | Extract<JobEvent, { readonly type: 'queued' | 'failed' }>
  | { readonly type: 'snapshot-started'; readonly jobId: string; readonly info: SnapshotStartedInfo }
  | { readonly type: 'snapshot-progress'; readonly jobId: string; readonly progress: SnapshotProgress }
  | { readonly type: 'finished'; readonly jobId: string; readonly result: SnapshotResult };

export type SnapshotEventListener = (event: SnapshotEvent) => void;

// --- restore: what an approved restore does and reports ---

/** Where a restore reads the backup from. */
export type RestoreSource = 'primary' | 'mirror';

export interface RestorePlan {
  readonly target: string;
  readonly key: string;
  readonly source: RestoreSource;
  readonly bucket: string;
  readonly storedBytes: number;
  readonly sha256: string;
  /** When the backup was taken (its started-at metadata). */
  readonly backupAt: Date;
  readonly database: string;
  /** host:port of the destination server. */
  readonly server: string;
  /** The database exists and will be replaced (renamed aside first). */
  readonly replace: boolean;
  readonly noOwner: boolean;
}

/** What an approved restore (/backup restore, dumptruck restore) did. */
export interface RestoreRunReport {
  readonly plan: RestorePlan;
  /** Empty when the rows could not be counted (see notCounted). */
  readonly tables: readonly RestoredTable[];
  readonly rows: number;
  /** Why the rows were not counted (the restore itself succeeded and is kept). */
  readonly notCounted?: string;
  /** Bytes of the dump itself: after decompression. */
  readonly dumpedBytes: number;
  readonly durationMs: number;
  /** Replace: the old database's name now; it is kept for the operator to drop. */
  readonly keptAs?: string;
  /**
   * Private databases of earlier restores into the same database that nobody is connected to:
   * what a restore that crashed (or whose cleanup failed) left on the server, for the operator.
   */
  readonly leftovers?: readonly string[];
}

export type RestoreProgress =
  | { readonly type: 'restore-started'; readonly jobId: string; readonly plan: RestorePlan }
  | { readonly type: 'restore-progress'; readonly jobId: string; readonly readBytes: number };

// --- jobs: what the queues carry ---

export type JobState = 'queued' | 'running' | 'finished' | 'failed';

/**
 * What a job does: a logical dump, a provider snapshot, or (on the maintenance queue, see
 * src/jobs/maintenance.ts) a verification, a prune or a restore. A target runs one job at a time per queue, whatever its kind.
 */
export type JobKind = keyof JobKinds;

/**
 * Each kind's payload (what its handler needs besides target and trigger; plain data, so a
 * durable queue can store it), result and events. The queue knows kinds only through this map:
 * their owners register the handlers.
 */
export interface JobKinds {
  readonly backup: { readonly payload: undefined; readonly result: BackupResult; readonly event: JobEvent };
  readonly snapshot: { readonly payload: undefined; readonly result: SnapshotResult; readonly event: SnapshotEvent };
  /** `key`: `latest` or a key of the target, resolved when the job starts. */
  readonly verify: { readonly payload: { readonly key: string }; readonly result: VerifyReport; readonly event: VerifyEvent };
  readonly prune: { readonly payload: undefined; readonly result: PruneReport; readonly event: PruneEvent };
  readonly restore: { readonly payload: RestorePlan; readonly result: RestoreRunReport; readonly event: RestoreEvent };
}

/** The job a kind's enqueue hands out. */
export type JobOf<K extends JobKind> = Job<JobKinds[K]['result'], JobKinds[K]['event'], K>;

/**
 * Why a queue did not take a job: data, worded by whoever answers the requester (slack/messages,
 * the CLI). `busy`: the job of another kind that holds the target (one operation per target).
 */
export type QueueRefusal =
  | {
      readonly reason: 'target-busy';
      readonly kind: JobKind;
      readonly target: string;
      readonly busy: { readonly id: string; readonly kind: JobKind; readonly state: JobState };
    }
  | { readonly reason: 'queue-full'; readonly kind: JobKind; readonly target: string; readonly maxPending: number }
  | { readonly reason: 'draining'; readonly kind: JobKind; readonly target: string };

/** What enqueue answers: the job (`created` false when the target's job of that kind was already there, which is returned), or a refusal. */
export type Enqueued<J = Job> =
  | { readonly ok: true; readonly job: J; readonly created: boolean }
  | { readonly ok: false; readonly refusal: QueueRefusal };

/** How a job ended; `settled` resolves with it and never rejects, so nobody leaks an unhandled rejection. */
export type JobOutcome<R = BackupResult> =
  | { readonly ok: true; readonly result: R }
  | { readonly ok: false; readonly error: DumptruckError };

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
  /** The replica (`hostname:pid`) running it, on the fleet queue (config `state:`); absent in a single process. */
  readonly replica?: string | undefined;
  /** The newest event, so late subscribers (status, a second reporter) can render the current state. */
  readonly lastEvent: E | undefined;
  readonly settled: Promise<JobOutcome<R>>;
  /** Listener errors are reported through `onListenerError` and never reach the job. */
  subscribe(listener: (event: E) => void): () => void;
}

type QueueEvent = Extract<JobEvent, { readonly type: 'queued' | 'failed' }>;

export type VerifyEvent =
  | QueueEvent
  /** The backup `latest` (or the key) turned out to be, and whether a restore test follows. */
  | { readonly type: 'verify-started'; readonly jobId: string; readonly object: BackupObject; readonly restore: boolean }
  | { readonly type: 'finished'; readonly jobId: string; readonly result: VerifyReport };

export type PruneEvent = QueueEvent | { readonly type: 'finished'; readonly jobId: string; readonly result: PruneReport };

export type RestoreEvent =
  | QueueEvent
  | RestoreProgress
  | { readonly type: 'finished'; readonly jobId: string; readonly result: RestoreRunReport };

export type VerifyJob = Job<VerifyReport, VerifyEvent, 'verify'>;
export type PruneJob = Job<PruneReport, PruneEvent, 'prune'>;
export type RestoreJob = Job<RestoreRunReport, RestoreEvent, 'restore'>;

/** A snapshot job on the shared queue. */
export type SnapshotJob = Job<SnapshotResult, SnapshotEvent, 'snapshot'>;

/** Any job on a queue; `kind` tells which. */
export type AnyJob = Job | SnapshotJob | VerifyJob | PruneJob | RestoreJob;

// --- a fleet: alert reruns shared by the replicas (alerts/ drives them, state/ keeps them) ---

export interface AlertRef {
  readonly channel: string;
  readonly ts: string;
  /** Who posted it: a user id or a bot id. */
  readonly by: string;
}

export type EndedRunState = 'succeeded' | 'failed' | 'stopped';

/** What the ledger keeps of a run. */
export interface LedgerRun {
  readonly id: string;
  readonly target: string;
  readonly alert: AlertRef;
  readonly attempts: number;
  readonly startedAt: Date;
}

/** A run waiting for its next attempt, as any replica finds it. */
export interface PendingRetry extends LedgerRun {
  /** Attempts made so far (the failed one included). */
  readonly attempt: number;
  readonly nextAttemptAt: Date;
}

/** `joined`: `alert` is the one that started the run this alert joins (its thread has the run). */
export type LedgerVerdict =
  | { readonly kind: 'claimed' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'joined'; readonly alert: AlertRef };

/** Runs shared by the replicas of a fleet (PostgreSQL in src/state/); every claim is exact under races. */
export interface RerunLedger {
  /**
   * Claims the alert and its target for `run`: `duplicate` when the alert was seen before (by any
   * replica), `joined` when another run of the target is active or ended less than `windowMs` ago.
   * An active run not heard of for `staleMs` (its replica died mid-attempt) is replaced.
   */
  begin(run: LedgerRun, windowMs: number, staleMs: number): Promise<LedgerVerdict>;
  /** Attempt `failed` failed; the next is due at `at`. */
  retrying(id: string, failed: number, at: Date): Promise<void>;
  /** Takes the attempt after `failed`: true for the one replica that gets it. */
  takeAttempt(id: string, failed: number): Promise<boolean>;
  end(id: string, state: EndedRunState): Promise<void>;
  /** Runs waiting for a retry, for a replica to pick up at start. */
  pending(): Promise<PendingRetry[]>;
  /** Records an alert answered without a run (a refusal): true for the first replica to answer it. */
  answered(alert: Pick<AlertRef, 'channel' | 'ts'>): Promise<boolean>;
}
