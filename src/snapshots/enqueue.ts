import type { EnqueueOptions, JobHandler, Queue } from '../jobs/queue.js';
import type { Enqueued, Trigger } from '../types.js';
import type { RunSnapshot, SnapshotEvent, SnapshotJob } from './types.js';

/** Snapshots as a kind of job: register it on the shared queue with `queue.register('snapshot', snapshotJobs(run))`. */
export function snapshotJobs(run: RunSnapshot): JobHandler<'snapshot'> {
  return ({ target, trigger, jobId, signal, onEvent }) => run({ target, trigger, jobId }, { signal, onEvent });
}

/**
 * Queues a snapshot of `target` on the shared queue: a slot like a backup, one job per target
 * (a second request gets the snapshot already there; a running dump of the target refuses it
 * as target-busy), cancel and timeout stop the following.
 */
export function enqueueSnapshot(
  queue: Pick<Queue, 'enqueue'>,
  request: { readonly target: string; readonly trigger: Trigger },
  options: EnqueueOptions<SnapshotEvent> = {},
): Enqueued<SnapshotJob> {
  return queue.enqueue({ kind: 'snapshot', target: request.target, trigger: request.trigger }, options);
}
