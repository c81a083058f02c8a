// CLI lines for verification, retention and the checks after a backup. Plain text, one fact a
// line, so that cron mail reads well and scripts can grep it.
import { formatBytes, formatDuration } from '../config/units.js';
import { userMessage } from '../errors.js';
import { sizeWarnings } from '../jobs/after-backup.js';
import type { BackupResult } from '../jobs/events.js';
import { describeRules } from '../retention/plan.js';
import type { PruneReport } from '../retention/prune.js';
import type { VerifyReport } from '../verify/verify.js';

export function verifyLines(report: VerifyReport): string[] {
  const verb = report.partial ? 'checked (not decrypted)' : 'verified';
  const lines = [
    `${verb}: s3://${report.bucket}/${report.key} (${formatBytes(report.storedBytes)} stored, ${formatBytes(report.dumpedBytes)} dump) in ${formatDuration(report.durationMs)}`,
  ];
  for (const check of report.checks) lines.push(`  ok  ${check}`);
  if (report.partial) lines.push(`  note ${report.partial}`);
  const restore = report.restore;
  if (restore) {
    lines.push(
      `  restored into ${restore.database} (dropped) in ${formatDuration(restore.durationMs)}: ${restore.tables.length} tables, ${restore.rows} rows`,
    );
    for (const t of restore.tables) lines.push(`    ${`${t.schema}.${t.name}`.padEnd(40)} ${String(t.rows).padStart(12)} rows`);
  }
  return lines;
}

export function pruneLines(report: PruneReport): string[] {
  const rules = describeRules(report.rules);
  const verb = report.dryRun ? 'would delete' : 'deleted';
  const lines = [
    `${report.target}: ${rules}: ${verb} ${report.deleted.length}, keeping ${report.kept.length}${report.dryRun ? ' (dry run)' : ''}`,
  ];
  for (const item of report.deleted)
    lines.push(`  ${verb.padEnd(12)} ${item.key} (${item.ageDays.toFixed(1)} days old${item.flagged ? ', flagged' : ''})`);
  for (const item of report.kept) lines.push(`  ${'keep'.padEnd(12)} ${item.key} (${item.reasons.join(', ')})`);
  for (const f of report.failed) lines.push(`  FAILED       ${f.key}: ${f.message}`);
  for (const i of report.ignored) lines.push(`  ${'left alone'.padEnd(12)} ${i.key} (${i.why})`);
  return lines;
}

/** What the steps after a backup found, for the `backup` command's output. */
export function afterBackupLines(result: BackupResult): string[] {
  const lines: string[] = [];
  for (const w of result.warnings ?? []) lines.push(`${sizeWarnings(result).includes(w) ? 'WARNING' : 'note'}: ${w.message}`);
  if (result.verification?.ok) lines.push(...verifyLines(result.verification.report));
  else if (result.verification) lines.push(`VERIFY FAILED: ${userMessage(result.verification.error)}`);
  if (result.pruned) lines.push(...pruneLines(result.pruned));
  return lines;
}
