import { JobQueue, type Enqueued, type JobQueueOptions } from '../../src/jobs/queue.js';
import { backupJobs } from '../../src/jobs/runner.js';
import type { RunBackup } from '../../src/jobs/types.js';

/** A queue that runs backups with `runBackup`, as the bot builds it. */
export function backupQueue(runBackup: RunBackup, options: JobQueueOptions): JobQueue {
  return new JobQueue(options).register('backup', backupJobs(runBackup));
}

/** The job of an enqueue the test expects to be taken; a refusal fails the test with its data. */
export function accepted<J>(enqueued: Enqueued<J>): { readonly job: J; readonly created: boolean } {
  if (!enqueued.ok) throw new Error(`the queue refused: ${JSON.stringify(enqueued.refusal)}`);
  return enqueued;
}
