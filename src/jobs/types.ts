// The runner's request and options live in the ground-floor module src/types.ts (the pipeline
// implements them, jobs and entry points call it); this module keeps their names.
export type { BackupRequest, RunBackup, RunOptions } from '../types.js';
