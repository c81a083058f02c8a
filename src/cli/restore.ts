// `dumptruck restore`: its arguments, the typed-back confirmation and the lines it prints.
import { formatBytes, formatDuration } from '../config/units.js';
import { InputError } from '../errors.js';
import { leftoversText, restoredSummary, type RestorePlan, type RestoreRunReport, type RestoreSource } from '../restore/restore.js';

export interface RestoreArgs {
  readonly target: string;
  readonly key: string | undefined;
  readonly database: string;
  readonly yes: boolean;
  readonly replace: boolean;
  readonly source: RestoreSource;
  /** Restore a named unsigned backup from before backups were signed. */
  readonly trustLegacy: boolean;
}

export const RESTORE_SHAPE = '<target> [key|latest] --into <database> [--yes] [--replace] [--from-mirror] [--trust-legacy]';

/** Pure: the words after `restore`. */
export function parseRestoreArgs(rest: readonly string[]): RestoreArgs {
  const words: string[] = [];
  let database: string | undefined;
  let yes = false;
  let replace = false;
  let source: RestoreSource = 'primary';
  let trustLegacy = false;
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!;
    if (word === '--yes') yes = true;
    else if (word === '--replace') replace = true;
    else if (word === '--from-mirror') source = 'mirror';
    else if (word === '--trust-legacy') trustLegacy = true;
    else if (word === '--into') database = rest[++i];
    else if (word.startsWith('--into=')) database = word.slice('--into='.length);
    else if (word.startsWith('-'))
      throw new InputError(`unknown option ${JSON.stringify(word)}`, `usage: dumptruck restore ${RESTORE_SHAPE}`);
    else words.push(word);
  }
  if (words.length < 1 || words.length > 2 || !database)
    throw new InputError('restore takes a target, an optional key and --into <database>', `usage: dumptruck restore ${RESTORE_SHAPE}`);
  return { target: words[0]!, key: words[1], database, yes, replace, source, trustLegacy };
}

/** What will happen, before it is confirmed. */
export function restorePlanLines(plan: RestorePlan): string[] {
  return [
    `restore ${plan.key}${plan.source === 'mirror' ? ' (from the mirror)' : ''}`,
    `  taken ${plan.backupAt.toISOString()}, ${formatBytes(plan.storedBytes)}, sha256 ${plan.sha256}`,
    `  into database ${plan.database} on ${plan.server}${plan.replace ? ` (REPLACING it: the old one is renamed aside and kept)` : ' (a new database)'}`,
  ];
}

export function restoreResultLines(report: RestoreRunReport): string[] {
  const lines = [
    `restored ${report.plan.key} into ${report.plan.database} on ${report.plan.server} in ${formatDuration(report.durationMs)}: ${restoredSummary(report)}`,
    `  sha256 ${report.plan.sha256} matches the backup`,
  ];
  for (const t of report.tables) lines.push(`    ${`${t.schema}.${t.name}`.padEnd(40)} ${String(t.rows).padStart(12)} rows`);
  if (report.keptAs) lines.push(`  the database it replaced is kept as ${report.keptAs}; drop it when you no longer need it`);
  if (report.leftovers) lines.push(`  ${leftoversText(report.plan.target, report.leftovers)}`);
  return lines;
}
