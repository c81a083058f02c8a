import type { S3Client } from '@aws-sdk/client-s3';
import type { Env } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { pruneTarget } from '../retention/prune.js';
import type { BackupCatalog } from '../storage/types.js';
import { planRestore, runRestore, type RestoreAsk, type RestoreRunOptions } from '../restore/restore.js';
import type {
  BackupObject,
  Enqueued,
  PruneJob,
  PruneReport,
  RestoreJob,
  RestorePlan,
  RestoreRunReport,
  Trigger,
  VerifyJob,
  VerifyReport,
} from '../types.js';
import { verifyBackup } from '../verify/verify.js';
import { JobQueue, type JobQueueOptions, type Queue } from './queue.js';

export type { PruneEvent, PruneJob, RestoreEvent, RestoreJob, VerifyEvent, VerifyJob } from '../types.js';

// Verifications and prunes asked for from Slack. Neither touches the source database (they read
// the bucket, and restore on verify.restoreUrl), so they run on a JobQueue of their own rather
// than the backups' one: an hour-long restore test must not hold a backup slot, nor get a
// scheduled backup of its target refused as busy. The JobQueue gives them what backups have:
// bounded concurrency and waiting, one operation per target (a prune does not start while a
// verification of the same target runs), cancel, queue.jobTimeout and a clean shutdown.
// On a fleet (config `state:`) they go on the fleet's queue instead (`shared`): a queue per
// replica would let a restore on one replica run while a backup of its target runs on another.

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

export function createTrustOps(deps: {
  readonly config: Config;
  readonly s3: S3Client;
  readonly env: Env;
  readonly catalog: Pick<BackupCatalog, 'resolve'>;
}): TrustOps {
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
  /**
   * Register the kinds on this queue instead of one of their own (the fleet's, with `state:`):
   * then one job per target holds across every kind, fleet-wide. Its owner shuts it down.
   */
  readonly shared?: Queue;
}

/**
 * A restore's plan as the handler gets it: a fleet's payloads travel as JSON through the state
 * database, so the Date arrives as a string.
 */
export function revivePlan(plan: RestorePlan): RestorePlan {
  return { ...plan, backupAt: new Date(plan.backupAt) };
}

export class Maintenance {
  readonly queue: Queue;
  readonly ops: TrustOps;
  /** True when the queue is another owner's (a fleet's): shutdown() leaves it to that owner. */
  private readonly shared: boolean;

  constructor(options: MaintenanceOptions) {
    const ops = options.ops;
    this.ops = ops;
    this.shared = options.shared !== undefined;
    const restoreTest = options.config.verify.restoreUrl !== undefined;
    this.queue = (options.shared ?? new JobQueue({ ...options.config.queue, ...options.queue }))
      .register('verify', async ({ target, payload, jobId, signal, onEvent }) => {
        const object = await ops.resolve(target, payload.key);
        signal.throwIfAborted();
        onEvent({ type: 'verify-started', jobId, object, restore: restoreTest });
        return ops.verify(target, object.key, { signal, jobId });
      })
      .register('prune', ({ target }) => ops.prune(target, { dryRun: false }))
      .register('restore', ({ payload, jobId, signal, onEvent }) => ops.restore(revivePlan(payload), { signal, jobId, onEvent }));
  }

  /** Queues a verification of `key` (`latest` or a key of the target); the object is resolved when it starts. */
  verify(target: string, key: string, trigger: Trigger): Enqueued<VerifyJob> {
    return this.queue.enqueue({ kind: 'verify', target, trigger, payload: { key } });
  }

  /** Queues the deletion of what the target's retention no longer keeps. */
  prune(target: string, trigger: Trigger): Enqueued<PruneJob> {
    return this.queue.enqueue({ kind: 'prune', target, trigger });
  }

  /**
   * Queues an approved restore. It takes the target like a verification or prune (one operation
   * per target) and a slot of this queue's concurrency.
   */
  restore(plan: RestorePlan, trigger: Trigger): Enqueued<RestoreJob> {
    return this.queue.enqueue({ kind: 'restore', target: plan.target, trigger, payload: plan });
  }

  /** What a prune would delete and keep now; deletes nothing. */
  plan(target: string): Promise<PruneReport> {
    return this.ops.prune(target, { dryRun: true });
  }

  /** Cancels what is queued and running (a restore test drops its scratch database) and waits for it. */
  shutdown(): Promise<void> {
    return this.shared ? Promise.resolve() : this.queue.shutdown();
  }
}
