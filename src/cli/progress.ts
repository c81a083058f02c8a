import { formatBytes, formatDuration } from '../config/units.js';
import type { JobEvent } from '../jobs/events.js';

export interface ProgressOutput {
  readonly isTTY: boolean;
  write(text: string): void;
}

/** Pure: one progress line (no newline) for a progress event. */
export function progressLine(target: string, p: Extract<JobEvent, { type: 'progress' }>['progress']): string {
  const pct = p.estimatedBytes > 0 ? ` ~${Math.min(99, Math.floor((p.dumpedBytes / p.estimatedBytes) * 100))}% of db size` : '';
  return `${target}: ${formatBytes(p.dumpedBytes)} dumped, ${formatBytes(p.storedBytes)} stored, ${formatBytes(p.bytesPerSecond)}/s, ${formatDuration(p.elapsedMs)}${pct}`;
}

/**
 * Prints job events: on a TTY one line rewritten in place; otherwise plain log lines, progress
 * at most every `plainEveryMs` so cron mail stays short.
 */
export function createProgressPrinter(out: ProgressOutput, target: string, plainEveryMs = 10_000): (e: JobEvent) => void {
  let lastPlain = -Infinity;
  let live = false;
  const endLive = () => {
    if (live) out.write('\n');
    live = false;
  };
  return (event) => {
    switch (event.type) {
      case 'queued':
        out.write(`${target}: queued (position ${event.position})\n`);
        return;
      case 'started':
        out.write(
          `${target}: dumping PostgreSQL ${event.info.serverVersion} with pg_dump ${event.info.pgDumpVersion}, ~${formatBytes(event.info.estimatedBytes)} on disk -> ${event.info.key}\n`,
        );
        return;
      case 'progress':
        if (out.isTTY) {
          out.write(`\r\x1b[2K${progressLine(target, event.progress)}`);
          live = true;
        } else if (event.progress.elapsedMs - lastPlain >= plainEveryMs) {
          lastPlain = event.progress.elapsedMs;
          out.write(`${progressLine(target, event.progress)}\n`);
        }
        return;
      case 'finished':
      case 'failed':
        endLive();
        return;
    }
  };
}
