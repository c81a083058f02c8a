// The backup pipeline lives in src/pipeline/backup.ts; jobs/ keeps scheduling. Re-exported so
// that callers written against this path keep working.
export { createBackupRunner, newJobId, type RunnerDeps } from '../pipeline/backup.js';
