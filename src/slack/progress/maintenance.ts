import { userMessage } from '../../errors.js';
import type { PruneEvent, VerifyEvent } from '../../jobs/maintenance.js';
import type { JobEventShape } from '../../jobs/queue.js';
import type { RetentionRules } from '../../retention/plan.js';
import type { PruneReport } from '../../retention/prune.js';
import type { VerifyReport } from '../../verify/verify.js';
import {
  applyPruneEvent,
  applyVerifyEvent,
  isTaskFinal,
  pruneParentMessage,
  pruneResultMessage,
  pruneStatusMessage,
  verifyParentMessage,
  verifyResultMessage,
  verifyStatusMessage,
  type PruneView,
  type TaskView,
  type VerifyStarted,
  type VerifyView,
} from '../messages/maintenance.js';
import type { SlackMessage } from '../messages/format.js';
import type { RestoreEvent } from '../../jobs/maintenance.js';
import type { RestoreRunReport } from '../../restore/restore.js';
import {
  applyRestoreEvent,
  restoreParentMessage,
  restoreResultMessage,
  restoreStatusMessage,
  type RestoreView,
} from '../messages/restore.js';
import type { ThreadRenderer } from './reporter.js';
import type { Redactor } from '../../redact.js';
import type { Trigger } from '../../types.js';

// How a verification and a prune become threads, through Reporters.startThread.

/**
 * A task's renderer from its builders: the initial view is folded from the job's newest event
 * (running once it has a slot), and a failure's reason goes through userMessage (scrubbing `secrets`).
 */
function taskThread<R, S, E extends JobEventShape, V extends TaskView<R, S>>(
  extra: Omit<V, keyof TaskView<R, S>>,
  builders: {
    readonly apply: (view: V, event: E) => V;
    readonly parent: (view: V) => SlackMessage;
    readonly status: (view: V) => SlackMessage;
    readonly result: (view: V, outcome: { readonly reason?: string }) => SlackMessage;
  },
  redactor: Redactor,
): ThreadRenderer<R, E, V> {
  return {
    initial: (job) => {
      const view = {
        ...extra,
        jobId: job.id,
        target: job.target,
        trigger: job.trigger,
        phase: { kind: 'queued', position: job.position ?? 1 },
      } as V;
      const folded = job.lastEvent ? builders.apply(view, job.lastEvent) : view;
      return job.state === 'running' && folded.phase.kind === 'queued' ? { ...folded, phase: { kind: 'running' } } : folded;
    },
    apply: builders.apply,
    isFinal: isTaskFinal,
    parent: builders.parent,
    status: builders.status,
    result: async (view, outcome) => builders.result(view, outcome.ok ? {} : { reason: userMessage(outcome.error, redactor) }),
  };
}

/** `key` as asked (`latest` or a key); `secrets` are scrubbed from failure reasons. */
export function verifyThread(key: string, redactor: Redactor): ThreadRenderer<VerifyReport, VerifyEvent, VerifyView> {
  return taskThread<VerifyReport, VerifyStarted, VerifyEvent, VerifyView>(
    { key },
    { apply: applyVerifyEvent, parent: verifyParentMessage, status: verifyStatusMessage, result: verifyResultMessage },
    redactor,
  );
}

export function pruneThread(rules: RetentionRules, redactor: Redactor): ThreadRenderer<PruneReport, PruneEvent, PruneView> {
  return taskThread<PruneReport, never, PruneEvent, PruneView>(
    { rules },
    { apply: applyPruneEvent, parent: pruneParentMessage, status: pruneStatusMessage, result: pruneResultMessage },
    redactor,
  );
}

/** An approved restore: its thread is the approval message's, which becomes its parent. */
export function restoreThread(
  extra: Pick<RestoreView, 'plan' | 'requestedBy' | 'approvedBy'>,
  redactor: Redactor,
): ThreadRenderer<RestoreRunReport, RestoreEvent, RestoreView> {
  return taskThread<RestoreRunReport, RestoreView['plan'], RestoreEvent, RestoreView>(
    extra,
    { apply: applyRestoreEvent, parent: restoreParentMessage, status: restoreStatusMessage, result: restoreResultMessage },
    redactor,
  );
}

/**
 * An approved restore's trigger: the requester, and the approver in `detail`, from which a fleet
 * replica running a restore another replica queued reads it back for the thread (approverOf).
 */
export function approvedRestoreTrigger(requestedBy: string, approvedBy: string): Trigger {
  return { kind: 'slack', by: requestedBy, detail: `${APPROVED_BY}${approvedBy}` };
}

export function approverOf(trigger: Trigger): string {
  return trigger.detail?.startsWith(APPROVED_BY) ? trigger.detail.slice(APPROVED_BY.length) : 'unknown';
}

const APPROVED_BY = 'approved by ';
