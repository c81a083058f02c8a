import { formatBytes, formatDuration } from '../../config/units.js';
import type { AnyJob, JobKind } from '../../jobs/queue.js';
import { RESTARTING } from '../../jobs/shutdown.js';
import { isEncryptedKey } from '../../storage/keys.js';
import { encryptedLine } from '../../storage/restore-hint.js';
import { UNSIGNED_NOTE } from '../../storage/catalog.js';
import type { BackupObject, PresignedLink } from '../../storage/types.js';
import { USAGE } from '../commands/parse.js';
import { code, describeTrigger, utc } from './format.js';

// Ephemeral replies to /backup: plain mrkdwn text, seen only by the person who typed the
// command. Pure.

/** Where a job's thread is, when the bot knows it (jobs from other entry points have none). */
export interface ThreadLink {
  readonly channel: string;
  readonly ts: string;
  readonly permalink?: string;
}

export type ThreadLookup = (jobId: string) => ThreadLink | undefined;

export function helpReply(): string {
  return [
    '*dumptruck* backs up PostgreSQL databases into object storage.',
    `• \`${USAGE.run}\` (or \`/backup <target>\`): dump, compress and upload now; progress and a download link in a thread`,
    `• \`${USAGE.status}\`: running and queued backups, verifications and prunes`,
    `• \`${USAGE.list}\`: stored backups, newest first`,
    `• \`${USAGE.link}\`: a fresh download link`,
    `• \`${USAGE.cancel}\`: stop a queued or running backup (nothing is stored) or restore (nothing half-restored is left)`,
    `• \`${USAGE.verify}\`: prove a backup: its SHA-256, that it decompresses, and a restore test when a scratch server is set; result in a thread`,
    `• \`${USAGE.prune}\`: what the target's retention rules would delete; with \`confirm\`, delete it (result in a thread)`,
    `• \`${USAGE.snapshot}\`: an RDS snapshot of the target's instance now (targets with \`rds\`); progress in a thread`,
    `• \`${USAGE.snapshots}\`: recent manual and automated RDS snapshots of the target's instance`,
    `• \`${USAGE.restore}\`: restore a backup into a new database, once an approver approves it; progress in a thread`,
    `• \`${USAGE.history}\`: the target's last runs (outcome, size, duration, who asked, thread), when the bot keeps a state database`,
    `• \`${USAGE.targets}\`: the databases you can back up here`,
  ].join('\n');
}

export function targetsReply(
  targets: ReadonlyArray<{ readonly name: string; readonly format: string; readonly allowedHere: boolean }>,
): string {
  if (targets.length === 0) return 'No targets are configured.';
  const lines = targets.map((t) => `• ${code(t.name)} (${t.format})${t.allowedHere ? '' : ': not from this channel'}`);
  return ['*Targets*', ...lines].join('\n');
}

export function statusReply(
  status: { readonly running: readonly AnyJob[]; readonly queued: readonly AnyJob[] },
  threads: ThreadLookup,
  now: Date,
): string {
  if (status.running.length === 0 && status.queued.length === 0) return 'Nothing is running or queued.';
  const lines: string[] = [];
  if (status.running.length > 0) {
    lines.push(`*Running* (${status.running.length})`);
    for (const job of status.running) lines.push(`• ${jobLine(job, threads, now)}`);
  }
  if (status.queued.length > 0) {
    lines.push(`*Queued* (${status.queued.length})`);
    status.queued.forEach((job, i) => lines.push(`${i + 1}. ${jobLine(job, threads, now)}`));
  }
  return lines.join('\n');
}

/** How /backup status names the jobs that are not backups. */
const KIND_LABELS: Readonly<Partial<Record<JobKind, string>>> = {
  snapshot: 'RDS snapshot',
  verify: 'verification',
  prune: 'prune',
  restore: 'restore',
};

function jobLine(job: AnyJob, threads: ThreadLookup, now: Date): string {
  const label = KIND_LABELS[job.kind];
  const parts = [label ? `${code(job.target)} (${label})` : code(job.target)];
  const event = job.lastEvent;
  if (job.state === 'running') {
    const since = job.startedAt ?? job.enqueuedAt;
    parts.push(`for ${formatDuration(now.getTime() - since.getTime())}`);
    // A fleet (config `state:`): which replica runs it, for the operator who looks at one.
    if (job.replica) parts.push(`on ${code(job.replica)}`);
    if (event?.type === 'progress') parts.push(`${formatBytes(event.progress.dumpedBytes)} dumped`);
    if (event?.type === 'snapshot-progress')
      parts.push(`${event.progress.status}${event.progress.percent === undefined ? '' : ` ${event.progress.percent}%`}`);
  } else {
    parts.push(`waiting ${formatDuration(now.getTime() - job.enqueuedAt.getTime())}`);
  }
  parts.push(`by ${describeTrigger(job.trigger)}`);
  const thread = threadRef(threads(job.id));
  return `${parts.join(', ')}${thread ? ` (${thread})` : ''}`;
}

/** `<permalink|thread>`, or `thread in #channel` without a permalink. */
export function threadRef(thread: ThreadLink | undefined): string | undefined {
  if (!thread) return undefined;
  return thread.permalink ? `<${thread.permalink}|thread>` : `thread in <#${thread.channel}>`;
}

/** A second request for a target that is queued or running: point at the thread that has it. */
export function duplicateReply(job: AnyJob, thread: ThreadLink | undefined): string {
  const state = job.state === 'running' ? 'already running' : `already queued (position ${job.position ?? 1})`;
  const where = threadRef(thread);
  return `A ${job.kind} of ${code(job.target)} is ${state}, requested by ${describeTrigger(job.trigger)}${where ? `: follow it in the ${where}` : ''}. It was not queued twice.`;
}

export function cancelReply(job: AnyJob, thread: ThreadLink | undefined): string {
  const where = threadRef(thread);
  if (job.kind === 'snapshot') {
    return job.state === 'running'
      ? `Stopping following the snapshot of ${code(job.target)}${where ? ` (${where})` : ''}; a snapshot AWS has started goes on there (\`${USAGE.snapshots.replace('<target>', job.target)}\` shows it).`
      : `Removing the queued snapshot of ${code(job.target)}${where ? ` (${where})` : ''}; no snapshot will be requested.`;
  }
  if (job.kind === 'restore') {
    return job.state === 'running'
      ? `Stopping the running restore of ${code(job.target)}${where ? ` (${where})` : ''}; the half-restored database is dropped.`
      : `Removing the queued restore of ${code(job.target)}${where ? ` (${where})` : ''}; nothing will be restored.`;
  }
  const what = job.state === 'running' ? 'Stopping the running backup' : 'Removing the queued backup';
  return `${what} of ${code(job.target)}${where ? ` (${where})` : ''}; nothing will be stored.`;
}

/** A run asked for while the bot drains for a restart: nothing was queued. */
export function restartingReply(target: string): string {
  return `Not started: ${RESTARTING}, and takes no new backups until it is back. Run \`${USAGE.run.replace('<target>', target)}\` again in a minute.`;
}

export function nothingToCancelReply(target: string): string {
  return `No backup of ${code(target)} is queued or running, so there is nothing to cancel.`;
}

/** At most this many backups are listed; a Slack message is not a bucket browser. */
export const LIST_LIMIT = 15;

export function listReply(target: string, objects: readonly BackupObject[]): string {
  if (objects.length === 0) return `No backups of ${code(target)} are stored yet. \`${USAGE.run.replace('<target>', target)}\` makes one.`;
  const shown = objects.slice(0, LIST_LIMIT);
  const head = `*Backups of ${code(target)}*, newest first${objects.length > shown.length ? ` (${shown.length} of ${objects.length})` : ''}:`;
  const lines = shown.map(
    (o) =>
      `• ${code(o.key)}: ${formatBytes(o.size)}, ${utc(o.lastModified)}${o.state === 'incomplete' ? ', incomplete (no manifest)' : o.state === 'foreign' ? ', not written by dumptruck' : ''}`,
  );
  return [head, ...lines, `\`/backup link ${target} <key>\` makes a download link.`].join('\n');
}

export function linkReply(object: BackupObject, link: PresignedLink): string {
  const text = `Download ${code(object.key)} (${formatBytes(object.size)}, ${utc(object.lastModified)}); the link expires ${utc(link.expiresAt)}:\n${link.url}`;
  const notes = [
    isEncryptedKey(object.key) ? encryptedLine(object.key) : undefined,
    object.provenance === 'unsigned' ? `:warning: ${UNSIGNED_NOTE}` : undefined,
  ];
  return [text, ...notes.filter((n) => n !== undefined)].join('\n');
}
