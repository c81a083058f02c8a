import type { View } from '@slack/types';
import { formatBytes, formatDuration } from '../../config/units.js';
import type { DumptruckError } from '../../errors.js';
import type { RestoreEvent } from '../../jobs/maintenance.js';
import type { RestoreRequest } from '../../restore/approvals.js';
import { leftoversText, restoredSummary, type RestorePlan, type RestoreRunReport } from '../../restore/restore.js';
import {
  ACTION_RESTORE_APPROVE,
  ACTION_RESTORE_DENY,
  VIEW_RESTORE_REPLACE,
  cancelButton,
  capitalize,
  code,
  context,
  escapeText,
  fields,
  queuedText,
  section,
  slackDate,
  truncate,
  type Block,
  type SlackMessage,
} from './format.js';
import { applyQueueEvent, TABLES_SHOWN, type TaskView } from './maintenance.js';

// The approval message of `/backup restore`, the modal that confirms a replace, and the restore's
// thread. Pure; tests compare them exactly.

/** The block id and action id of the modal's one input. */
export const REPLACE_INPUT = { block: 'database', action: 'typed' } as const;

function what(plan: RestorePlan): string {
  return `${code(plan.key)} of ${code(plan.target)}${plan.source === 'mirror' ? ' (from the mirror)' : ''} into ${code(plan.database)} on ${plan.server}`;
}

/** The request as posted, with Approve and Deny; once decided, the same facts and the decision, without buttons. */
export function restoreApprovalMessage(request: RestoreRequest, approvers: readonly string[]): SlackMessage {
  const { plan, decision } = request;
  const who = `<@${request.requestedBy}>`;
  let head: string;
  if (!decision) {
    const replacing = plan.replace
      ? ` It REPLACES the existing \`${plan.database}\`: the approver types its name to confirm, and the old one is renamed aside, not dropped.`
      : '';
    head = `:rotating_light: Restore requested by ${who}: ${what(plan)}.${replacing} Needs approval by ${approvers.map((u) => `<@${u}>`).join(', ')} before ${slackDate(request.expiresAt)}.`;
  } else if (decision.kind === 'approved') {
    head = `:white_check_mark: Restore of ${what(plan)} requested by ${who}, approved by <@${decision.by}>. Progress in the thread.`;
  } else if (decision.kind === 'denied') {
    head = `:no_entry_sign: Restore of ${what(plan)} requested by ${who}, denied by <@${decision.by}>. Nothing was restored.`;
  } else {
    head = `:hourglass: Restore of ${what(plan)} requested by ${who} expired without approval. Nothing was restored.`;
  }
  const blocks: Block[] = [
    section(head),
    fields([
      ['Backup', code(plan.key)],
      ['Taken', slackDate(plan.backupAt)],
      ['Size', formatBytes(plan.storedBytes)],
      ['SHA-256', code(plan.sha256)],
      ['Into', `${code(plan.database)} on ${plan.server}${plan.replace ? ' (replacing it)' : ' (new database)'}`],
      ['Requested by', who],
    ]),
  ];
  if (!decision) {
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: ACTION_RESTORE_APPROVE,
          text: { type: 'plain_text', text: 'Approve' },
          value: request.id,
          style: 'primary',
        },
        { type: 'button', action_id: ACTION_RESTORE_DENY, text: { type: 'plain_text', text: 'Deny' }, value: request.id, style: 'danger' },
      ],
    });
  }
  return { text: head, blocks };
}

/**
 * An approval taken back because its restore could not be queued (the target busy, the queue
 * full, the bot shutting down): said in the request's thread, and `reply` to the approver.
 */
export function restoreNotStartedMessage(approver: string, reason: string): SlackMessage & { readonly reply: string } {
  const open = 'The request is open again: approve it again once the restore can start (before it expires).';
  const text = `:warning: Approved by <@${approver}>, but the restore was not started: ${reason}\n${open}`;
  return { text, blocks: [section(text)], reply: `The restore was not started: ${reason}\n${open}` };
}

/** The modal an approver of a replace fills in: the exact database name, typed. */
export function replaceModal(request: RestoreRequest): View {
  const { plan } = request;
  return {
    type: 'modal',
    callback_id: VIEW_RESTORE_REPLACE,
    private_metadata: request.id,
    title: { type: 'plain_text', text: 'Replace a database' },
    submit: { type: 'plain_text', text: 'Replace it' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      section(
        `This restore replaces the database ${code(plan.database)} on ${plan.server} with ${code(plan.key)}. The old database is renamed aside, not dropped, until the restore has succeeded.`,
      ),
      {
        type: 'input',
        block_id: REPLACE_INPUT.block,
        label: { type: 'plain_text', text: `Type ${plan.database} to confirm` },
        element: { type: 'plain_text_input', action_id: REPLACE_INPUT.action },
      },
    ],
  };
}

export interface RestoreView extends TaskView<RestoreRunReport, RestorePlan> {
  readonly plan: RestorePlan;
  readonly requestedBy: string;
  readonly approvedBy: string;
  readonly readBytes?: number;
}

/** The approval message once the restore runs and when it has ended: who asked, who approved, how it went. */
export function restoreParentMessage(view: RestoreView): SlackMessage {
  const { phase, plan } = view;
  const people = `requested by <@${view.requestedBy}>, approved by <@${view.approvedBy}>`;
  let head: string;
  if (phase.kind === 'finished')
    head = `:white_check_mark: Restore of ${what(plan)} ${people}: restored (${restoredSummary(phase.result)}).`;
  else if (phase.kind === 'failed' && phase.error.code === 'CANCELLED')
    head = `:no_entry_sign: Restore of ${what(plan)} ${people}: cancelled.`;
  else if (phase.kind === 'failed') head = `:x: Restore of ${what(plan)} ${people}: failed (${failureLabel(phase.error)}).`;
  else head = `:white_check_mark: Restore of ${what(plan)} ${people}. Progress in the thread.`;
  return { text: head, blocks: [section(head), context(`job ${code(view.jobId)}`)] };
}

export function applyRestoreEvent(view: RestoreView, event: RestoreEvent): RestoreView {
  if (event.type === 'restore-started') return { ...view, phase: { kind: 'running', started: event.plan } };
  if (event.type === 'restore-progress') return { ...view, readBytes: event.readBytes };
  return applyQueueEvent(view, event);
}

export function restoreStatusMessage(view: RestoreView): SlackMessage {
  const { phase, plan } = view;
  switch (phase.kind) {
    case 'queued': {
      const text = queuedText(`The restore of ${code(plan.target)}`, phase.position);
      return { text, blocks: [section(text), cancel(view)] };
    }
    case 'running': {
      const read = view.readBytes ?? 0;
      const pct = plan.storedBytes > 0 ? ` (${Math.min(100, Math.floor((read / plan.storedBytes) * 100))}%)` : '';
      const text = `:arrows_counterclockwise: Restoring ${what(plan)}: ${formatBytes(read)} of ${formatBytes(plan.storedBytes)} read${pct}…`;
      return { text, blocks: [section(text), cancel(view)] };
    }
    case 'finished': {
      const text = `:white_check_mark: Restored in ${formatDuration(phase.result.durationMs)}.`;
      return { text, blocks: [section(text)] };
    }
    case 'failed': {
      const text =
        phase.error.code === 'CANCELLED' ? ':no_entry_sign: Restore cancelled.' : `:x: Restore failed: ${failureLabel(phase.error)}.`;
      return { text, blocks: [section(text)] };
    }
  }
}

function cancel(view: RestoreView): Block {
  return cancelButton(view.jobId, {
    label: 'Cancel restore',
    title: 'Cancel this restore?',
    text: `The half-restored ${code(view.plan.database)} is dropped${view.plan.replace ? ' and the old one gets its name back' : ''}.`,
    confirm: 'Cancel restore',
    deny: 'Keep going',
  });
}

const LABELS: Readonly<Record<string, string>> = {
  CORRUPTED: 'the checksum does not match the backup',
  MISSING_ROLES: 'the server lacks roles the dump uses',
  RESTORE_FAILED: 'psql or pg_restore stopped on an error',
  DESTINATION_EXISTS: 'the database exists now',
  NOT_TRUSTED: 'not a backup dumptruck wrote',
};

function failureLabel(error: DumptruckError): string {
  return LABELS[error.code] ?? `stage ${error.stage}`;
}

/**
 * `reason` is the failure as userMessage() renders it (already scrubbed of secrets); it is
 * escaped here, so psql's stderr cannot mention anyone.
 */
export function restoreResultMessage(view: RestoreView, outcome: { readonly reason?: string } = {}): SlackMessage {
  const { phase, plan } = view;
  if (phase.kind === 'finished') {
    const r = phase.result;
    const head = `:white_check_mark: Restored ${what(plan)}: ${restoredSummary(r)} in ${formatDuration(r.durationMs)}.`;
    const tables = r.tables.slice(0, TABLES_SHOWN).map((t) => `${t.schema}.${t.name}: ${t.rows} rows`);
    if (r.tables.length > TABLES_SHOWN) tables.push(`… and ${r.tables.length - TABLES_SHOWN} more tables`);
    const kept = r.keptAs ? `The database it replaced is kept as ${code(r.keptAs)}; drop it when you no longer need it.` : undefined;
    const left = r.leftovers ? `${capitalize(leftoversText(plan.target, r.leftovers, code))}.` : undefined;
    const notes = [...(kept ? [kept] : []), ...(left ? [left] : [])];
    const lines = [
      head,
      `SHA-256: ${plan.sha256} (matches the backup)`,
      `Size: ${formatBytes(plan.storedBytes)} stored, ${formatBytes(r.dumpedBytes)} dump`,
      ...tables.map((t) => `  ${t}`),
      ...notes,
    ];
    const blocks: Block[] = [
      section(head),
      fields([
        ['SHA-256', `${code(plan.sha256)} (matches the backup)`],
        ['Size', `${formatBytes(plan.storedBytes)} (${formatBytes(r.dumpedBytes)} dump)`],
      ]),
      section(`\`\`\`${escapeText(tables.join('\n') || 'no tables')}\`\`\``),
      ...notes.map((note) => context(note)),
    ];
    return { text: lines.join('\n'), blocks };
  }
  if (phase.kind === 'failed') {
    const left = plan.replace
      ? `Nothing half-restored is left, and ${code(plan.database)} is as it was.`
      : 'Nothing half-restored is left.';
    if (phase.error.code === 'CANCELLED') {
      // Our own words ("cancelled by <@U1>"), so the mention stays a mention.
      const text = `:no_entry_sign: Restore of ${what(plan)} ${phase.error.message}. ${left}`;
      return { text, blocks: [section(text)] };
    }
    const head = `:x: Restore of ${what(plan)} failed: ${failureLabel(phase.error)}. ${left}`;
    const reason = escapeText(outcome.reason ?? phase.error.message);
    return { text: `${head}\n${reason}`, blocks: [section(head), section(`\`\`\`${truncate(reason, 2900)}\`\`\``)] };
  }
  return restoreStatusMessage(view);
}
