import type { EnqueueOptions, JobQueue } from '../jobs/queue.js';
import type { Trigger } from '../types.js';
import type { RunSnapshot, SnapshotEvent, SnapshotJob } from './types.js';

/**
 * Queues a snapshot of `target` on the shared queue: a slot like a backup, one job per target
 * (a second request gets the snapshot already there; a running dump of the target refuses it
 * with TARGET_BUSY), cancel and timeout stop the following.
 */
export function enqueueSnapshot(
  queue: Pick<JobQueue, 'enqueueTask'>,
  run: RunSnapshot,
  request: { readonly target: string; readonly trigger: Trigger },
  options: EnqueueOptions<SnapshotEvent> = {},
): { readonly job: SnapshotJob; readonly created: boolean } {
  const { target, trigger } = request;
  return queue.enqueueTask({ kind: 'snapshot', target, trigger, run: ({ jobId, signal, onEvent }) => run({ target, trigger, jobId }, { signal, onEvent }) }, options);
}
