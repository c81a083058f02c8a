// CLI lines for RDS snapshots: one fact a line, so cron mail reads well and scripts can grep it.
import { formatDuration } from '../config/units.js';
import type { SnapshotEvent, SnapshotInfo, SnapshotResult } from '../snapshots/types.js';
import type { ProgressOutput } from './progress.js';

/** Prints a snapshot's events: on a TTY one line rewritten in place; otherwise a line whenever the status or percent changes. */
export function createSnapshotPrinter(out: ProgressOutput, target: string): (event: SnapshotEvent) => void {
  let live = false;
  let last = '';
  return (event) => {
    switch (event.type) {
      case 'snapshot-started':
        out.write(
          `${target}: creating snapshot ${event.info.identifier} of RDS instance ${event.info.instanceId} (${event.info.region})\n`,
        );
        return;
      case 'snapshot-progress': {
        const p = event.progress;
        const state = `${p.status}${p.percent === undefined ? '' : ` ${p.percent}%`}`;
        const line = `${target}: ${state}, ${formatDuration(p.elapsedMs)}`;
        if (out.isTTY) {
          out.write(`\r\x1b[2K${line}`);
          live = true;
        } else if (state !== last) {
          out.write(`${line}\n`);
        }
        last = state;
        return;
      }
      case 'finished':
      case 'failed':
        if (live) out.write('\n');
        live = false;
        return;
      case 'queued':
        return;
    }
  };
}

export function snapshotResultLines(r: SnapshotResult): string[] {
  const lines = [
    `${r.target}: snapshot available after ${formatDuration(r.durationMs)}`,
    `identifier: ${r.identifier}`,
    `instance: ${r.instanceId} (${r.region})`,
  ];
  if (r.arn) lines.push(`arn: ${r.arn}`);
  if (r.allocatedGiB !== undefined) lines.push(`size: ${r.allocatedGiB} GiB allocated`);
  if (r.createdAt) lines.push(`created: ${r.createdAt.toISOString()}`);
  if (r.pruneError) lines.push(`retention: could not run: ${r.pruneError}`);
  if (r.pruned) {
    const p = r.pruned;
    lines.push(`retention: keepLast ${p.keepLast}: deleted ${p.deleted.length}, keeping ${p.kept.length}`);
    for (const id of p.deleted) lines.push(`  deleted      ${id}`);
    for (const s of p.skipped) lines.push(`  kept         ${s.identifier} (${s.reason})`);
    for (const f of p.failed) lines.push(`  FAILED       ${f.identifier}: ${f.message}`);
  }
  return lines;
}

/** `dumptruck snapshots`: time, type, status, size, identifier; tab-separated like `list`. */
export function snapshotListLines(target: string, snapshots: readonly SnapshotInfo[]): string[] {
  if (snapshots.length === 0) return [`no snapshots of ${target}'s instance yet`];
  return snapshots.map((s) => {
    const status = s.status === 'available' || s.percent === undefined ? s.status : `${s.status} ${s.percent}%`;
    const size = s.allocatedGiB === undefined ? '-' : `${s.allocatedGiB} GiB`;
    const who = s.ours ? `dumptruck${s.requestedBy ? ` (${s.requestedBy})` : ''}` : '-';
    return [s.createdAt?.toISOString() ?? '(creating)', s.type, status, size.padStart(8), s.identifier, who].join('\t');
  });
}
