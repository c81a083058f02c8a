import { formatBytes, formatDuration } from '../../config/units.js';
import type { RunOutcome, RunRecord } from '../../state/store.js';
import type { Trigger } from '../../types.js';
import { code, describeTrigger, escapeText, slackDate, truncate } from './format.js';
import { threadRef } from './replies.js';

// `/backup history <target> [n]`: the target's past runs from the state database, one line
// each, newest first. Plain mrkdwn text (an ephemeral reply). Pure.

const OUTCOME: Readonly<Record<RunOutcome, string>> = {
  succeeded: ':white_check_mark: stored',
  flagged: ':warning: stored, flagged',
  failed: ':x: failed',
  cancelled: ':no_entry_sign: cancelled',
  'timed-out': ':hourglass: timed out',
};

export function historyReply(target: string, runs: readonly RunRecord[]): string {
  if (runs.length === 0) return `No runs of ${code(target)} are recorded yet.`;
  const lines = runs.map((run) => `• ${runLine(run)}`);
  return [`*Last ${runs.length === 1 ? 'run' : `${runs.length} runs`} of ${code(target)}* (newest first)`, ...lines].join('\n');
}

function runLine(run: RunRecord): string {
  const parts = [slackDate(run.finishedAt), OUTCOME[run.outcome]];
  if (run.storedBytes !== undefined) parts.push(formatBytes(run.storedBytes));
  parts.push(`in ${formatDuration(run.durationMs)}`);
  parts.push(`by ${describeTrigger({ kind: run.trigger.kind as Trigger['kind'], by: run.trigger.by })}`);
  const where = threadRef(run.thread);
  if (where) parts.push(where);
  let line = parts.join(' · ');
  if (run.key) line += `\n   ${code(run.key)}`;
  // The first line of the error says what failed; the thread has the rest.
  if (run.error) line += `\n   ${escapeText(truncate(run.error.split('\n')[0]!, 200))}`;
  return line;
}

/** Without `state:` there is no history to show; say what would give one. */
export function historyNeedsStateReply(): string {
  return 'Run history is kept only when the bot has a state database: an admin adds `state: { url: postgres://..., password: { env: ... } }` to the config.';
}
