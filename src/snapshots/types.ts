import type { JobEvent, Trigger } from '../jobs/events.js';
import type { Job } from '../jobs/queue.js';

// A provider snapshot (AWS RDS CreateDBSnapshot) as a job: the same queue, triggers and threads
// as a dump, with its own progress (the provider's status and percent) and result.

/** One snapshot of an instance, as listings show it. */
export interface SnapshotInfo {
  readonly identifier: string;
  readonly arn: string | undefined;
  /** `manual`, `automated`, or what else the provider reports (`awsbackup`, `shared`...). */
  readonly type: string;
  /** `creating`, `available`, `failed`, ... as the provider says it. */
  readonly status: string;
  readonly percent: number | undefined;
  /** The instance's allocated storage at snapshot time, in GiB (what a restore provisions). */
  readonly allocatedGiB: number | undefined;
  readonly createdAt: Date | undefined;
  /** Tagged dumptruck:created-by: one of ours, and the only kind retention may delete. */
  readonly ours: boolean;
  /** The dumptruck:requested-by tag, when ours. */
  readonly requestedBy: string | undefined;
  readonly tags: Readonly<Record<string, string>>;
}

export interface SnapshotRequest {
  readonly target: string;
  readonly trigger: Trigger;
  readonly jobId?: string;
}

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

export interface SnapshotRunOptions {
  /** Aborting stops following (the snapshot itself goes on at the provider); rejects with the abort reason. */
  readonly signal?: AbortSignal;
  readonly onEvent?: SnapshotEventListener;
}

/** Creates a snapshot of the target's instance and follows it until it is available. */
export type RunSnapshot = (request: SnapshotRequest, options?: SnapshotRunOptions) => Promise<SnapshotResult>;

/** A snapshot job on the shared queue. */
export type SnapshotJob = Job<SnapshotResult, SnapshotEvent, 'snapshot'>;

/** What entry points (Slack, CLI, alerts) need for snapshots. */
export interface SnapshotService {
  readonly run: RunSnapshot;
  /** Recent manual and automated snapshots of the target's instance, newest first. */
  list(target: string): Promise<readonly SnapshotInfo[]>;
}
