import type { S3Client } from '@aws-sdk/client-s3';
import type { Env } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { DumptruckError } from '../errors.js';
import { pruneTarget } from '../retention/prune.js';
import type { BackupCatalog } from '../storage/types.js';
import { planRestore, runRestore, type RestoreAsk, type RestoreRunOptions } from '../restore/restore.js';
import type { BackupObject, Job, PruneEvent, PruneJob, PruneReport, RestoreEvent, RestoreJob, RestorePlan, RestoreRunReport, Trigger, VerifyEvent, VerifyJob, VerifyReport } from '../types.js';
import { verifyBackup } from '../verify/verify.js';
import { JobQueue, type JobEventShape, type JobQueueOptions, type TaskRequest } from './queue.js';

export type { PruneEvent, PruneJob, RestoreEvent, RestoreJob, VerifyEvent, VerifyJob } from '../types.js';

// Verifications and prunes asked for from Slack. Neither touches the source database (they read
// the bucket, and restore on verify.restoreUrl), so they run on a JobQueue of their own rather
// than the backups' one: an hour-long restore test must not hold a backup slot, nor get a
// scheduled backup of its target refused as busy. The JobQueue gives them what backups have:
// bounded concurrency and waiting, one operation per target (a prune does not start while a
// verification of the same target runs), cancel, queue.jobTimeout and a clean shutdown.

/** The engine calls behind verify and prune; tests may replace them. */
export interface TrustOps {
  /** The object `key` names: `latest` or a key of the target. */
  resolve(target: string, key: string): Promise<BackupObject>;
  verify(target: string, key: string, options: { readonly signal: AbortSignal; readonly jobId: string }): Promise<VerifyReport>;
  prune(target: string, options: { readonly dryRun: boolean }): Promise<PruneReport>;
  /** What a restore would do (the backup, the destination); changes nothing. */
  planRestore(ask: RestoreAsk): Promise<RestorePlan>;
  restore(plan: RestorePlan, options: RestoreRunOptions): Promise<RestoreRunReport>;
}

export function createTrustOps(deps: { readonly config: Config; readonly s3: S3Client; readonly env: Env; readonly catalog: Pick<BackupCatalog, 'resolve'> }): TrustOps {
  return {
    resolve: (target, key) => deps.catalog.resolve(target, key),
    verify: (target, key, options) => verifyBackup(deps, target, key, options),
    prune: (target, options) => pruneTarget(deps, target, options),
    planRestore: (ask) => planRestore(deps, ask),
    restore: (plan, options) => runRestore(deps, plan, options),
  };
}

export interface MaintenanceOptions {
  readonly config: Config;
  readonly ops: TrustOps;
  /** Default: config.queue's concurrency, maxPending and jobTimeout, the same limits as backups. */
  readonly queue?: Partial<Pick<JobQueueOptions, 'concurrency' | 'maxPending' | 'jobTimeoutMs' | 'setTimer' | 'onListenerError'>>;
}

type MaintenanceKind = 'verify' | 'prune' | 'restore';
const WORDS: Readonly<Record<MaintenanceKind, string>> = { verify: 'verification', prune: 'prune', restore: 'restore' };

export class Maintenance {
  readonly queue: JobQueue;
  readonly ops: TrustOps;
  private readonly restoreTest: boolean;

  constructor(options: MaintenanceOptions) {
    this.ops = options.ops;
    this.restoreTest = options.config.verify.restoreUrl !== undefined;
    this.queue = new JobQueue({
      ...options.config.queue,
      ...options.queue,
      // Only enqueueTask is used here; a backup asked of this queue is a bug.
      runBackup: () => Promise.reject(new DumptruckError('INTERNAL', 'internal', 'the maintenance queue runs no backups')),
    });
  }

  /** Queues a verification of `key` (`latest` or a key of the target); the object is resolved when it starts. */
  verify(target: string, key: string, trigger: Trigger): { readonly job: VerifyJob; readonly created: boolean } {
    return this.enqueue<VerifyReport, VerifyEvent, 'verify'>({
      kind: 'verify',
      target,
      trigger,
      run: async ({ jobId, signal, onEvent }) => {
        const object = await this.ops.resolve(target, key);
        signal.throwIfAborted();
        onEvent({ type: 'verify-started', jobId, object, restore: this.restoreTest });
        return this.ops.verify(target, object.key, { signal, jobId });
      },
    });
  }

  /** Queues the deletion of what the target's retention no longer keeps. */
  prune(target: string, trigger: Trigger): { readonly job: PruneJob; readonly created: boolean } {
    return this.enqueue<PruneReport, PruneEvent, 'prune'>({ kind: 'prune', target, trigger, run: () => this.ops.prune(target, { dryRun: false }) });
  }

  /**
   * Queues an approved restore. It takes the target like a verification or prune (one operation
   * per target) and a slot of this queue's concurrency.
   */
  restore(plan: RestorePlan, trigger: Trigger): { readonly job: RestoreJob; readonly created: boolean } {
    return this.enqueue<RestoreRunReport, RestoreEvent, 'restore'>({
      kind: 'restore',
      target: plan.target,
      trigger,
      run: ({ jobId, signal, onEvent }) => this.ops.restore(plan, { signal, jobId, onEvent }),
    });
  }

  /** What a prune would delete and keep now; deletes nothing. */
  plan(target: string): Promise<PruneReport> {
    return this.ops.prune(target, { dryRun: true });
  }

  /** Cancels what is queued and running (a restore test drops its scratch database) and waits for it. */
  shutdown(): Promise<void> {
    return this.queue.shutdown();
  }

  private enqueue<R, E extends JobEventShape, K extends MaintenanceKind>(request: TaskRequest<R, E, K>): { readonly job: Job<R, E, K>; readonly created: boolean } {
    try {
      return this.queue.enqueueTask(request);
    } catch (err) {
      throw this.inOwnWords(err, request.kind, request.target);
    }
  }

  /** The queue's refusals speak of backups and /backup status, which do not show these jobs. */
  private inOwnWords(err: unknown, kind: MaintenanceKind, target: string): unknown {
    if (!(err instanceof DumptruckError)) return err;
    const what = WORDS[kind];
    if (err.code === 'TARGET_BUSY') {
      const other = WORDS[this.queue.get(target)?.kind as MaintenanceKind] ?? 'prune';
      return new DumptruckError('TARGET_BUSY', 'queue', `a ${other} of ${target} is under way; one verification, prune or restore of a target at a time, so this ${what} was not started`, {
        hint: 'Ask again once its result is in its thread.',
      });
    }
    if (err.code === 'QUEUE_FULL') {
      return new DumptruckError('QUEUE_FULL', 'queue', `too many verifications, prunes and restores are waiting, so this ${what} of ${target} was not queued`, {
        hint: 'Try again when one of them has finished.',
      });
    }
    return err;
  }
}
