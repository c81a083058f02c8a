import { formatDuration } from '../../config/units.js';
import { userMessage } from '../../errors.js';
import { sizeWarnings } from '../../jobs/after-backup.js';
import type { BackupResult } from '../../jobs/events.js';
import { describeRules } from '../../retention/plan.js';
import { code, escapeText, truncate } from './format.js';
import { verdictLabel } from './maintenance.js';

// What the steps after an upload found (src/jobs/after-backup.ts and the mirror), for a backup's
// thread: a flagged backup must not read as a plain success. Pure.

/** Why a stored backup is not a plain success, in words: empty, much smaller than usual, verification failed. */
export function backupFlags(result: BackupResult): string[] {
  const flags: string[] = sizeWarnings(result).map((w) => (w.kind === 'empty' ? 'empty' : 'much smaller than usual'));
  if (result.verification?.ok === false) flags.push('verification failed');
  return flags;
}

/** The result's first line for a flagged backup; undefined for a plain success. */
export function flaggedHead(name: string, result: BackupResult): string | undefined {
  const size = sizeWarnings(result);
  if (size.length > 0)
    return `:warning: Backup of ${name} stored, but flagged: ${sentence(escapeText(size.map((w) => w.message).join('; ')))}`;
  if (result.verification?.ok === false)
    return `:warning: Backup of ${name} stored, but its automatic verification failed: ${verdictLabel(result.verification.error)}.`;
  return undefined;
}

/**
 * One entry per check that ran after the upload: `line` for the message's plain text (one fact a
 * line, parseable), `bullet` for its blocks. Empty when none ran.
 */
export function afterBackupChecks(result: BackupResult): Array<{ readonly line: string; readonly bullet: string }> {
  const out: Array<{ line: string; bullet: string }> = [];
  const v = result.verification;
  if (v?.ok) {
    const r = v.report.restore;
    const how = r ? `restored ${r.tables.length} tables, ${r.rows} rows in ${formatDuration(r.durationMs)}` : 'reads back completely';
    out.push({ line: `Verification: passed (SHA-256 matches, ${how})`, bullet: `:white_check_mark: Verified: SHA-256 matches, ${how}` });
  } else if (v) {
    const reason = escapeText(truncate(userMessage(v.error), 1500));
    out.push({
      line: `Verification: FAILED (${verdictLabel(v.error)}): ${reason}`,
      bullet: `:x: Automatic verification failed (${verdictLabel(v.error)}): ${reason}`,
    });
  }
  const p = result.pruned;
  if (p) {
    const counts = `deleted ${p.deleted.length} older backup${p.deleted.length === 1 ? '' : 's'}, kept ${p.kept.length}${p.failed.length > 0 ? `, ${p.failed.length} could not be deleted` : ''}`;
    out.push({
      line: `Retention: ${counts}`,
      bullet: `${p.failed.length > 0 ? ':warning:' : ':wastebasket:'} Retention (${describeRules(p.rules)}): ${counts}`,
    });
  }
  const m = result.mirror;
  if (m?.stored) {
    out.push({ line: `Mirror: stored in ${m.bucket}`, bullet: `:card_file_box: Second copy stored in ${code(m.bucket)}` });
  } else if (m) {
    const why = escapeText(m.error ?? 'unknown error');
    out.push({
      line: `Mirror: NOT stored in ${m.bucket}: ${why}`,
      bullet: `:warning: Second copy not stored in ${code(m.bucket)}: ${why}`,
    });
  }
  for (const w of result.warnings ?? []) {
    // Size warnings are the head; a failed mirror is its own line above when the run reported it.
    if (w.kind === 'empty' || w.kind === 'shrunk' || (w.kind === 'mirror-failed' && m)) continue;
    out.push({ line: `Note: ${escapeText(w.message)}`, bullet: `:information_source: ${escapeText(w.message)}` });
  }
  return out;
}

/** Ends `text` with a full stop unless it already ends a sentence. */
function sentence(text: string): string {
  return /[.?!]$/.test(text) ? text : `${text}.`;
}
