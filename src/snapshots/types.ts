import type { SnapshotEventListener, SnapshotResult, Trigger } from '../types.js';

export type {
  SnapshotEvent,
  SnapshotEventListener,
  SnapshotJob,
  SnapshotProgress,
  SnapshotPruneReport,
  SnapshotResult,
  SnapshotStartedInfo,
} from '../types.js';

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

export interface SnapshotRunOptions {
  /** Aborting stops following (the snapshot itself goes on at the provider); rejects with the abort reason. */
  readonly signal?: AbortSignal;
  readonly onEvent?: SnapshotEventListener;
}

/** Creates a snapshot of the target's instance and follows it until it is available. */
export type RunSnapshot = (request: SnapshotRequest, options?: SnapshotRunOptions) => Promise<SnapshotResult>;

/** What entry points (Slack, CLI, alerts) need for snapshots. */
export interface SnapshotService {
  readonly run: RunSnapshot;
  /** Recent manual and automated snapshots of the target's instance, newest first. */
  list(target: string): Promise<readonly SnapshotInfo[]>;
}
