import type { BackupResult, JobEventListener, Trigger } from '../types.js';

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
