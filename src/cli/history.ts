import { formatBytes, formatDuration } from '../config/units.js';
import type { RunRecord } from '../state/store.js';

// `dumptruck history <target> [n]`: one run a line, newest first, tab-separated so that scripts
// can cut it: finished (UTC), outcome, stored size, duration, trigger, key or error, thread.

export function historyLines(target: string, runs: readonly RunRecord[]): string[] {
  if (runs.length === 0) return [`${target}: no runs recorded yet`];
  return runs.map((run) => {
    const size = run.storedBytes === undefined ? '-' : formatBytes(run.storedBytes);
    const what = run.key ?? (run.error ? run.error.split('\n')[0]! : '-');
    const thread = run.thread ? (run.thread.permalink ?? `${run.thread.channel}/${run.thread.ts}`) : '-';
    return [
      run.finishedAt.toISOString(),
      run.outcome,
      size,
      formatDuration(run.durationMs),
      `${run.trigger.kind}:${run.trigger.by}`,
      what,
      thread,
    ].join('\t');
  });
}
