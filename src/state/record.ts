import { hostname } from 'node:os';
import { isDumptruckError, userMessage } from '../errors.js';
import type { RunBackup } from '../jobs/types.js';
import type { Redactor } from '../redact.js';
import type { BackupResult, Trigger } from '../types.js';
import type { RunOutcome, RunRecord, StateStore } from './store.js';

export interface RecordRunsDeps {
  readonly state: Pick<StateStore, 'record'>;
  /** The job's Slack thread when it has one, asked once the run has ended. Default: none (the CLI). */
  readonly threadOf?: (
    jobId: string,
  ) => { readonly channel: string; readonly ts: string; readonly permalink?: string | undefined } | undefined;
  /** Errors are stored as the requester read them: through this. */
  readonly redactor: Redactor;
  /** A history that cannot be written must not fail the backup: told here, then ignored. */
  readonly onRecordError: (err: unknown) => void;
  /** Default: `hostname:pid`. */
  readonly replica?: string;
  /** Default: `new Date()`. */
  readonly now?: () => Date;
}

/** This process's name in the history: which replica ran a job. */
export function replicaId(): string {
  return `${hostname()}:${process.pid}`;
}

/** `runBackup`, with every run's outcome written to the state database once it has ended. */
export function recordRuns(runBackup: RunBackup, deps: RecordRunsDeps): RunBackup {
  const replica = deps.replica ?? replicaId();
  const now = deps.now ?? (() => new Date());
  return async (request, options) => {
    const startedAt = now();
    const write = async (fields: Pick<RunRecord, 'key' | 'outcome' | 'storedBytes' | 'error'>) => {
      const finishedAt = now();
      const thread = request.jobId ? deps.threadOf?.(request.jobId) : undefined;
      const run: RunRecord = {
        jobId: request.jobId,
        target: request.target,
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        finishedAt,
        trigger: { kind: request.trigger.kind, by: request.trigger.by, detail: request.trigger.detail },
        requester: requesterOf(request.trigger),
        thread: thread ? { channel: thread.channel, ts: thread.ts, permalink: thread.permalink } : undefined,
        replica,
        ...fields,
      };
      await deps.state.record(run).catch(deps.onRecordError);
    };
    let result: BackupResult;
    try {
      result = await runBackup(request, options);
    } catch (err) {
      // A cancel or timeout is told by the signal's reason; the runner may report it as a generic cancellation.
      const cause: unknown = options?.signal?.aborted ? options.signal.reason : err;
      await write({ key: undefined, outcome: failureOutcome(cause), storedBytes: undefined, error: userMessage(err, deps.redactor) });
      throw err;
    }
    const flagged = (result.warnings?.length ?? 0) > 0 || result.verification?.ok === false;
    await write({ key: result.key, outcome: flagged ? 'flagged' : 'succeeded', storedBytes: result.storedBytes, error: undefined });
    return result;
  };
}

/** A person asked for these; alerts and schedules are nobody's request. */
function requesterOf(trigger: Trigger): string | undefined {
  return trigger.kind === 'slack' || trigger.kind === 'retry' || trigger.kind === 'cli' ? trigger.by : undefined;
}

function failureOutcome(err: unknown): RunOutcome {
  if (isDumptruckError(err) && err.code === 'CANCELLED') return 'cancelled';
  if (isDumptruckError(err) && err.code === 'TIMED_OUT') return 'timed-out';
  return 'failed';
}
