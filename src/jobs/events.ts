// The events and results of a backup live in the ground-floor module src/types.ts, shared by
// every layer; this module keeps their names for the entry points.
export type {
  BackupResult,
  BackupWarning,
  JobEvent,
  JobEventListener,
  MirrorOutcome,
  ProgressInfo,
  StartedInfo,
  Trigger,
  VerificationOutcome,
} from '../types.js';
