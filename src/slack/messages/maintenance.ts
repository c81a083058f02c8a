import { formatBytes, formatDuration } from '../../config/units.js';
import type { DumptruckError } from '../../errors.js';
import type { JobEvent, Trigger } from '../../jobs/events.js';
import type { PruneEvent, VerifyEvent } from '../../jobs/maintenance.js';
import { RESTARTING } from '../../jobs/shutdown.js';
import { describeRules, type RetentionItem, type RetentionRules } from '../../retention/plan.js';
import type { PruneReport } from '../../retention/prune.js';
import type { BackupObject } from '../../storage/types.js';
import type { VerifyReport } from '../../verify/verify.js';
import { USAGE } from '../commands/parse.js';
import {
  capitalize,
  code,
  context,
  describeTrigger,
  escapeText,
  fields,
  queuedText,
  section,
  truncate,
  type Block,
  type SlackMessage,
} from './format.js';

// The threads of `/backup verify` and `/backup prune <target> confirm`, and the prune plan that
// `/backup prune <target>` answers with. Pure; tests compare them exactly.

export type TaskPhase<R, S> =
  | { readonly kind: 'queued'; readonly position: number }
  | { readonly kind: 'running'; readonly started?: S }
  | { readonly kind: 'finished'; readonly result: R }
  | { readonly kind: 'failed'; readonly error: DumptruckError; readonly started?: S };

export interface TaskView<R, S> {
  readonly jobId: string;
  readonly target: string;
  readonly trigger: Trigger;
  readonly phase: TaskPhase<R, S>;
}

/** What a verification has found out once it starts: which object, and whether a restore test follows. */
export interface VerifyStarted {
  readonly object: BackupObject;
  readonly restore: boolean;
}

export interface VerifyView extends TaskView<VerifyReport, VerifyStarted> {
  /** As asked: `latest` or a key. */
  readonly key: string;
}

export interface PruneView extends TaskView<PruneReport, never> {
  readonly rules: RetentionRules;
}

type QueueEvent<R> =
  | Extract<JobEvent, { readonly type: 'queued' | 'failed' }>
  | { readonly type: 'finished'; readonly jobId: string; readonly result: R };

/** The queue's own events, the same for every kind of task. */
export function applyQueueEvent<R, S, V extends TaskView<R, S>>(view: V, event: QueueEvent<R>): V {
  switch (event.type) {
    case 'queued':
      return { ...view, phase: { kind: 'queued', position: event.position } };
    case 'finished':
      return { ...view, phase: { kind: 'finished', result: event.result } };
    case 'failed':
      return {
        ...view,
        phase: {
          kind: 'failed',
          error: event.error,
          ...(view.phase.kind === 'running' && view.phase.started ? { started: view.phase.started } : {}),
        },
      };
  }
}

export function applyVerifyEvent(view: VerifyView, event: VerifyEvent): VerifyView {
  if (event.type === 'verify-started')
    return { ...view, phase: { kind: 'running', started: { object: event.object, restore: event.restore } } };
  return applyQueueEvent(view, event);
}

export function applyPruneEvent(view: PruneView, event: PruneEvent): PruneView {
  return applyQueueEvent(view, event);
}

export function isTaskFinal(view: TaskView<unknown, unknown>): boolean {
  return view.phase.kind === 'finished' || view.phase.kind === 'failed';
}

function isCancelledError(error: DumptruckError): boolean {
  return error.code === 'CANCELLED';
}

// --- verify ---

/** What verifyBackup's findings mean, in a word or two; undefined for failures of the check itself. */
const VERDICTS: Readonly<Record<string, string>> = {
  CORRUPTED: 'corrupted',
  TRUNCATED: 'truncated',
  SWAPPED: 'swapped for another backup',
  NOT_A_DUMP: 'not a pg_dump backup',
  RESTORE_FAILED: 'restore failed',
  UNTRUSTED: 'not a backup dumptruck wrote',
  PSQL_TOO_OLD: 'psql too old to restore safely',
};

/** Findings about the object itself, which also cost it its `.verified` marker (src/verify/verify.ts). */
const DAMAGED: ReadonlySet<string> = new Set(['CORRUPTED', 'TRUNCATED', 'SWAPPED', 'NOT_A_DUMP']);

/** `corrupted`, `restore failed`, ... or `stage storage` when the check itself could not run. */
export function verdictLabel(error: DumptruckError): string {
  return VERDICTS[error.code] ?? `stage ${error.stage}`;
}

function verifiedKey(view: VerifyView): string | undefined {
  const { phase } = view;
  if (phase.kind === 'finished') return phase.result.key;
  if ((phase.kind === 'running' || phase.kind === 'failed') && phase.started) return phase.started.object.key;
  return view.key === 'latest' ? undefined : view.key;
}

function restoreSummary(report: VerifyReport): string {
  return report.restore ? `${report.restore.tables.length} tables, ${report.restore.rows} rows` : '';
}

export function verifyParentMessage(view: VerifyView): SlackMessage {
  const who = describeTrigger(view.trigger);
  const name = code(view.target);
  const { phase } = view;
  let text: string;
  if (phase.kind === 'finished') {
    const restored = phase.result.restore ? ` and restores (${restoreSummary(phase.result)})` : '';
    text = `:white_check_mark: Verification of ${name} requested by ${who}: ${code(phase.result.key)} is good${restored}.`;
  } else if (phase.kind === 'failed' && isCancelledError(phase.error)) {
    text = `:no_entry_sign: Verification of ${name} requested by ${who} was cancelled.`;
  } else if (phase.kind === 'failed') {
    text = `:x: Verification of ${name} requested by ${who} failed: ${verdictLabel(phase.error)}.`;
  } else {
    const which = view.key === 'latest' ? 'its latest backup' : code(view.key);
    text = `:mag: Verification of ${name} (${which}) requested by ${who}. Result in the thread.`;
  }
  return { text, blocks: [section(text), context(`job ${code(view.jobId)}`)] };
}

export function verifyStatusMessage(view: VerifyView): SlackMessage {
  const { phase } = view;
  const name = code(view.target);
  let text: string;
  switch (phase.kind) {
    case 'queued':
      text = queuedText(`The verification of ${name}`, phase.position);
      break;
    case 'running': {
      const s = phase.started;
      const how = s?.restore
        ? 'reading it back, checking its SHA-256 and restoring it into a scratch database'
        : 'reading it back, checking its SHA-256 and that it decompresses to the end';
      text = s
        ? `:mag: Verifying ${code(s.object.key)} (${formatBytes(s.object.size)}): ${how}…`
        : `:mag: Looking up the backup of ${name} to verify…`;
      break;
    }
    case 'finished':
      text = `:white_check_mark: Verified in ${formatDuration(phase.result.durationMs)}.`;
      break;
    case 'failed':
      text = isCancelledError(phase.error)
        ? `:no_entry_sign: ${capitalize(phase.error.message)}.`
        : `:x: Not verified: ${verdictLabel(phase.error)}.`;
      break;
  }
  return { text, blocks: [section(text)] };
}

/** Tables listed one by one in the result; more are counted. */
export const TABLES_SHOWN = 20;

/**
 * `reason` is the failure as userMessage() renders it (already scrubbed of secrets); it is
 * escaped here, so pg_restore's stderr cannot mention anyone.
 */
export function verifyResultMessage(view: VerifyView, outcome: { readonly reason?: string } = {}): SlackMessage {
  const { phase } = view;
  const name = code(view.target);
  if (phase.kind === 'finished') {
    const r = phase.result;
    const head = r.partial
      ? `:white_check_mark: ${code(r.key)} of ${name}: checksum and age header verified; not decrypted.`
      : `:white_check_mark: ${code(r.key)} of ${name} is verified.`;
    const lines = [
      head,
      `Key: ${r.key}`,
      `SHA-256: ${r.sha256} (matches the metadata)`,
      `Size: ${formatBytes(r.storedBytes)} stored, ${formatBytes(r.dumpedBytes)} dump`,
      `Duration: ${formatDuration(r.durationMs)}`,
    ];
    const blocks: Block[] = [
      section(head),
      fields([
        ['Key', code(r.key)],
        ['Size', `${formatBytes(r.storedBytes)} (${formatBytes(r.dumpedBytes)} dump)`],
        ['SHA-256', code(r.sha256)],
        ['Duration', formatDuration(r.durationMs)],
      ]),
    ];
    if (r.partial) {
      lines.push(`Note: ${r.partial}`);
      blocks.push(context(`Not decrypted: ${escapeText(r.partial)}. Set \`encrypt.identity\` for decryption and a restore test.`));
    } else if (r.restore) {
      const restored = `Restore test: ${restoreSummary(r)} restored in ${formatDuration(r.restore.durationMs)}; the scratch database ${r.restore.database} was dropped`;
      const tables = r.restore.tables.slice(0, TABLES_SHOWN).map((t) => `${t.schema}.${t.name}: ${t.rows} rows`);
      if (r.restore.tables.length > TABLES_SHOWN) tables.push(`… and ${r.restore.tables.length - TABLES_SHOWN} more tables`);
      lines.push(restored, ...tables.map((t) => `  ${t}`));
      blocks.push(section(`*${restored.replace(': ', '*: ')}.\n\`\`\`${escapeText(tables.join('\n'))}\`\`\``));
    } else {
      blocks.push(context('No restore test: `verify.restoreUrl` (a scratch PostgreSQL server) is not set.'));
    }
    lines.push(`Checks: ${r.checks.join('; ')}`);
    blocks.push(context(`Checked: ${escapeText(r.checks.join(' · '))}`));
    return { text: lines.join('\n'), blocks };
  }
  if (phase.kind === 'failed') {
    const { error } = phase;
    if (isCancelledError(error)) {
      // Our own words ("cancelled by <@U1>"), so the mention stays a mention.
      const text = `:no_entry_sign: Verification of ${name} ${error.message}. Nothing was changed.`;
      return { text, blocks: [section(text)] };
    }
    const key = verifiedKey(view);
    const what = key ? `${code(key)} of ${name}` : `The latest backup of ${name}`;
    const head = VERDICTS[error.code]
      ? `:x: ${what} failed verification: ${verdictLabel(error)}.`
      : `:x: ${what} could not be verified (stage ${code(error.stage)}).`;
    const reason = escapeText(outcome.reason ?? error.message);
    const blocks: Block[] = [section(head), section(`\`\`\`${truncate(reason, 2900)}\`\`\``)];
    if (DAMAGED.has(error.code))
      blocks.push(context('Its `.verified` marker was removed: retention no longer keeps it as the newest verified backup.'));
    return { text: `${head}\n${reason}`, blocks };
  }
  return verifyStatusMessage(view);
}

// --- prune ---

/** Backups listed one by one in plans and results; more are counted. */
export const PRUNE_LISTED = 15;

function items(list: readonly RetentionItem[], describe: (item: RetentionItem) => string): string[] {
  const lines = list.slice(0, PRUNE_LISTED).map((item) => `• ${code(item.key)} (${describe(item)})`);
  if (list.length > PRUNE_LISTED) lines.push(`• … and ${list.length - PRUNE_LISTED} more`);
  return lines;
}

const age = (item: RetentionItem) => `${item.ageDays.toFixed(1)} days old${item.flagged ? ', flagged' : ''}`;
const why = (item: RetentionItem) => item.reasons.join(', ');

/** The deleted (or to-be-deleted), kept and failed keys of a report, as mrkdwn lines. */
function pruneLists(report: PruneReport, deletedHeading: string): string[] {
  const lines: string[] = [];
  if (report.deleted.length > 0) lines.push(`${deletedHeading}:`, ...items(report.deleted, age));
  if (report.kept.length > 0) lines.push('Kept:', ...items(report.kept, why));
  if (report.failed.length > 0) lines.push('Could not delete:', ...report.failed.map((f) => `• ${code(f.key)}: ${escapeText(f.message)}`));
  if (report.ignored.length > 0)
    lines.push('Left alone (not counted):', ...report.ignored.slice(0, PRUNE_LISTED).map((i) => `• ${code(i.key)} (${i.why})`));
  return lines;
}

/** `/backup prune <target>`: the dry run, for the requester only. */
export function prunePlanReply(report: PruneReport): string {
  const name = code(report.target);
  const rules = describeRules(report.rules);
  if (report.deleted.length === 0) {
    return `*Prune plan for ${name}* (${rules}): nothing to delete; the rules keep all ${report.kept.length} backup${report.kept.length === 1 ? '' : 's'}.`;
  }
  return [
    `*Prune plan for ${name}* (${rules}): ${report.deleted.length} to delete, ${report.kept.length} kept. Nothing has been deleted yet.`,
    ...pruneLists(report, 'To delete'),
    `\`${USAGE.prune.replace('<target>', report.target).replace('[confirm]', 'confirm')}\` deletes them.`,
  ].join('\n');
}

function pruneCounts(report: PruneReport): string {
  return `deleted ${report.deleted.length}, kept ${report.kept.length}${report.failed.length > 0 ? `, ${report.failed.length} could not be deleted` : ''}`;
}

export function pruneParentMessage(view: PruneView): SlackMessage {
  const who = describeTrigger(view.trigger);
  const name = code(view.target);
  const { phase } = view;
  let text: string;
  if (phase.kind === 'finished') {
    text = `${phase.result.failed.length > 0 ? ':warning:' : ':wastebasket:'} Prune of ${name} requested by ${who}: ${pruneCounts(phase.result)}.`;
  } else if (phase.kind === 'failed' && isCancelledError(phase.error)) {
    text = `:no_entry_sign: Prune of ${name} requested by ${who} was cancelled.`;
  } else if (phase.kind === 'failed') {
    text = `:x: Prune of ${name} requested by ${who} failed (stage ${phase.error.stage}).`;
  } else {
    text = `:wastebasket: Prune of ${name} (${describeRules(view.rules)}) requested by ${who}. Result in the thread.`;
  }
  return { text, blocks: [section(text), context(`job ${code(view.jobId)}`)] };
}

export function pruneStatusMessage(view: PruneView): SlackMessage {
  const { phase } = view;
  const name = code(view.target);
  let text: string;
  switch (phase.kind) {
    case 'queued':
      text = queuedText(`The prune of ${name}`, phase.position);
      break;
    case 'running':
      text = `:wastebasket: Deleting the backups of ${name} that its retention rules no longer keep…`;
      break;
    case 'finished':
      text = `:white_check_mark: Done: ${pruneCounts(phase.result)}.`;
      break;
    case 'failed':
      text = isCancelledError(phase.error)
        ? `:no_entry_sign: ${capitalize(phase.error.message)}.`
        : `:x: Failed (stage ${phase.error.stage}).`;
      break;
  }
  return { text, blocks: [section(text)] };
}

/** `reason` as for verifyResultMessage. */
export function pruneResultMessage(view: PruneView, outcome: { readonly reason?: string } = {}): SlackMessage {
  const { phase } = view;
  const name = code(view.target);
  if (phase.kind === 'finished') {
    const r = phase.result;
    const head = `${r.failed.length > 0 ? ':warning:' : ':wastebasket:'} Prune of ${name} (${describeRules(r.rules)}): ${pruneCounts(r)}.`;
    const lists = pruneLists(r, 'Deleted');
    return { text: [head, ...lists].join('\n'), blocks: [section(head), ...(lists.length > 0 ? [section(lists.join('\n'))] : [])] };
  }
  if (phase.kind === 'failed') {
    if (isCancelledError(phase.error)) {
      const text = `:no_entry_sign: Prune of ${name} ${phase.error.message}. Nothing was deleted.`;
      return { text, blocks: [section(text)] };
    }
    const head = `:x: Prune of ${name} failed (stage ${code(phase.error.stage)}). Nothing was deleted.`;
    const reason = escapeText(outcome.reason ?? phase.error.message);
    return { text: `${head}\n${reason}`, blocks: [section(head), section(`\`\`\`${truncate(reason, 2900)}\`\`\``)] };
  }
  return pruneStatusMessage(view);
}

/** A verification or prune asked for while the bot drains for a restart: nothing was queued. */
export function maintenanceRestartingReply(command: string): string {
  return `Not started: ${RESTARTING}. Run \`${command}\` again in a minute.`;
}
