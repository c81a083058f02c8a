// The backup pipeline lives in src/pipeline/backup.ts; jobs/ keeps scheduling and wires in what
// runs after a backup (size check, verification, retention), which sits above the pipeline.
import { createBackupRunner as createPipeline, type RunnerDeps as PipelineDeps } from '../pipeline/backup.js';
import type { RunBackup } from '../types.js';
import { createAfterBackup, type AfterBackup } from './after-backup.js';
import type { JobHandler } from './queue.js';

export { newJobId } from '../pipeline/backup.js';

export interface RunnerDeps extends Omit<PipelineDeps, 'afterBackup'> {
  /** Size check, verification and retention once the backup is complete; default: as configured (createAfterBackup). */
  readonly afterBackup?: AfterBackup;
}

/** Backups as a kind of job: register it on a queue with `queue.register('backup', backupJobs(runBackup))`. */
export function backupJobs(runBackup: RunBackup): JobHandler<'backup'> {
  return ({ target, trigger, jobId, signal, onEvent }) => runBackup({ target, trigger, jobId }, { signal, onEvent });
}

export function createBackupRunner(deps: RunnerDeps): RunBackup {
  const afterBackup =
    deps.afterBackup ??
    createAfterBackup({ config: deps.config, s3: deps.s3, env: deps.env, now: deps.now, locatePgDump: deps.locatePgDump });
  return createPipeline({ ...deps, afterBackup });
}
