import { formatDuration } from '../../config/units.js';
import type { DumptruckError } from '../../errors.js';
import type { Trigger } from '../../jobs/events.js';
import type { SnapshotEvent, SnapshotInfo, SnapshotProgress, SnapshotResult, SnapshotStartedInfo } from '../../snapshots/types.js';
import { USAGE } from '../commands/parse.js';
import {
  cancelButton,
  code,
  context,
  describeTrigger,
  escapeText,
  fields,
  queuedText,
  section,
  truncate,
  utc,
  type Block,
  type SlackMessage,
} from './format.js';

// The thread of a provider snapshot: parent, a status reply edited in place (the provider's
// status and percent), and the result. Pure; tests compare them exactly.

export type SnapshotPhase =
  | { readonly kind: 'queued'; readonly position: number }
  | { readonly kind: 'running'; readonly started?: SnapshotStartedInfo; readonly progress?: SnapshotProgress }
  | { readonly kind: 'finished'; readonly result: SnapshotResult }
  | {
      readonly kind: 'failed';
      readonly error: DumptruckError;
      readonly started?: SnapshotStartedInfo;
      readonly progress?: SnapshotProgress;
    };

export interface SnapshotView {
  readonly jobId: string;
  readonly target: string;
  readonly trigger: Trigger;
  /** The RDS instance, from config: known before the provider has answered. */
  readonly instanceId: string;
  readonly phase: SnapshotPhase;
}

export function applySnapshotEvent(view: SnapshotView, event: SnapshotEvent): SnapshotView {
  const running = view.phase.kind === 'running' ? view.phase : {};
  switch (event.type) {
    case 'queued':
      return { ...view, phase: { kind: 'queued', position: event.position } };
    case 'snapshot-started':
      return { ...view, phase: { kind: 'running', started: event.info } };
    case 'snapshot-progress':
      return { ...view, phase: { ...running, kind: 'running', progress: event.progress } };
    case 'finished':
      return { ...view, phase: { kind: 'finished', result: event.result } };
    case 'failed':
      return { ...view, phase: { ...running, kind: 'failed', error: event.error } };
  }
}

export function isSnapshotFinal(view: SnapshotView): boolean {
  return view.phase.kind === 'finished' || view.phase.kind === 'failed';
}

/** Cancelled or timed out: we stopped following; whatever AWS took goes on there. */
function stopped(error: DumptruckError): boolean {
  return error.stage === 'cancelled' || error.stage === 'timeout';
}

/** What happens to the snapshot itself after we stopped following it. */
function goesOn(phase: Extract<SnapshotPhase, { kind: 'failed' }>, target: string): string {
  return phase.started
    ? `The snapshot ${code(phase.started.identifier)} itself goes on at AWS; \`${USAGE.snapshots.replace('<target>', target)}\` shows how it ends.`
    : 'No snapshot was requested.';
}

function instanceRef(view: SnapshotView): string {
  return `RDS instance ${code(view.instanceId)}`;
}

export function snapshotParentMessage(view: SnapshotView): SlackMessage {
  const who = describeTrigger(view.trigger);
  const name = code(view.target);
  const { phase } = view;
  let text: string;
  if (phase.kind === 'finished') {
    text = `:white_check_mark: Snapshot of ${name} requested by ${who} is available: ${code(phase.result.identifier)}${sizeText(phase.result.allocatedGiB, ' (', ')')}.`;
  } else if (phase.kind === 'failed' && stopped(phase.error)) {
    text = `:no_entry_sign: Snapshot of ${name} requested by ${who}: ${phase.error.stage === 'timeout' ? 'timed out' : 'cancelled'}.`;
  } else if (phase.kind === 'failed') {
    text = `:x: Snapshot of ${name} requested by ${who} failed (stage ${phase.error.stage}).`;
  } else {
    text = `:camera_with_flash: Snapshot of ${name} (${instanceRef(view)}) requested by ${who}. Progress in the thread.`;
  }
  return { text, blocks: [section(text), context(`job ${code(view.jobId)}`)] };
}

export function snapshotStatusMessage(view: SnapshotView): SlackMessage {
  const { phase } = view;
  const name = code(view.target);
  switch (phase.kind) {
    case 'queued': {
      const text = queuedText(`The snapshot of ${name}`, phase.position);
      return { text, blocks: [section(text), cancelActions(view)] };
    }
    case 'running': {
      if (!phase.started) {
        const text = `:arrow_forward: Requesting a snapshot of ${instanceRef(view)}…`;
        return { text, blocks: [section(text), cancelActions(view)] };
      }
      const s = phase.started;
      const head = `:arrow_forward: Snapshot ${code(s.identifier)} of ${code(s.instanceId)} (${s.region})`;
      const status = phase.progress?.status ?? s.status;
      const percent = phase.progress?.percent;
      const elapsed = phase.progress ? `, ${formatDuration(phase.progress.elapsedMs)} elapsed` : '';
      const text = `${head}: ${status}${percent === undefined ? '' : `, ${percent}%`}${elapsed}.`;
      const pairs: Array<[string, string]> = [['Status', status]];
      if (percent !== undefined) pairs.push(['Progress', `${percent}%`]);
      if (phase.progress) pairs.push(['Elapsed', formatDuration(phase.progress.elapsedMs)]);
      return { text, blocks: [section(`${head}.`), fields(pairs), cancelActions(view)] };
    }
    case 'finished': {
      const text = `:white_check_mark: Available after ${formatDuration(phase.result.durationMs)}.`;
      return { text, blocks: [section(text)] };
    }
    case 'failed': {
      const after = phase.progress ? ` after ${formatDuration(phase.progress.elapsedMs)}` : '';
      const text = stopped(phase.error)
        ? `:no_entry_sign: Stopped following${after}: ${phase.error.stage === 'timeout' ? 'timed out' : 'cancelled'}.`
        : `:x: Failed${after} (stage ${phase.error.stage}).`;
      return { text, blocks: [section(text)] };
    }
  }
}

/** `reason`: the failure as userMessage() renders it (already scrubbed); escaped here. */
export function snapshotResultMessage(view: SnapshotView, outcome: { readonly reason?: string } = {}): SlackMessage {
  const { phase } = view;
  const name = code(view.target);
  if (phase.kind === 'finished') {
    const r = phase.result;
    const head = `:white_check_mark: Snapshot of ${name} is available.`;
    const lines = [head, `Identifier: ${r.identifier}`, `Instance: ${r.instanceId} (${r.region})`];
    const pairs: Array<[string, string]> = [
      ['Identifier', code(r.identifier)],
      ['Instance', `${code(r.instanceId)} (${r.region})`],
    ];
    if (r.allocatedGiB !== undefined) {
      lines.push(`Size: ${r.allocatedGiB} GiB allocated`);
      pairs.push(['Size', `${r.allocatedGiB} GiB allocated`]);
    }
    if (r.createdAt) {
      lines.push(`Created: ${utc(r.createdAt)}`);
      pairs.push(['Created', utc(r.createdAt)]);
    }
    lines.push(`Duration: ${formatDuration(r.durationMs)}`);
    pairs.push(['Duration', formatDuration(r.durationMs)]);
    const blocks: Block[] = [section(head), fields(pairs)];
    const retention = retentionLine(r);
    if (retention) {
      lines.push(retention);
      blocks.push(context(escapeText(retention)));
    }
    return { text: lines.join('\n'), blocks };
  }
  if (phase.kind === 'failed') {
    if (stopped(phase.error)) {
      // Our own words ("cancelled by <@U1>"), so the mention stays a mention.
      const text = `:no_entry_sign: Snapshot of ${name}: ${phase.error.message}.${phase.started ? ' Stopped following it.' : ''} ${goesOn(phase, view.target)}`;
      return { text, blocks: [section(text)] };
    }
    const head = `:x: Snapshot of ${name} failed (stage ${code(phase.error.stage)}).`;
    const reason = escapeText(outcome.reason ?? phase.error.message);
    return { text: `${head}\n${reason}`, blocks: [section(head), section(`\`\`\`${truncate(reason, 2900)}\`\`\``)] };
  }
  return snapshotStatusMessage(view);
}

function retentionLine(r: SnapshotResult): string | undefined {
  if (r.pruneError) return `Retention could not run: ${r.pruneError}`;
  const p = r.pruned;
  if (!p) return undefined;
  const parts = [
    `Retention (keep the last ${p.keepLast}): ${p.deleted.length === 0 ? 'nothing to delete' : `deleted ${p.deleted.join(', ')}`}`,
  ];
  for (const s of p.skipped) parts.push(`kept ${s.identifier}: ${s.reason}`);
  for (const f of p.failed) parts.push(`could not delete ${f.identifier}: ${f.message}`);
  return `${parts.join('; ')}.`;
}

function cancelActions(view: SnapshotView): Block {
  return cancelButton(view.jobId, {
    label: 'Stop following',
    title: 'Stop following this snapshot?',
    text: `dumptruck stops following the snapshot of ${code(view.target)}; a snapshot AWS has started goes on there.`,
    confirm: 'Stop following',
    deny: 'Keep following',
  });
}

function sizeText(gib: number | undefined, before = '', after = ''): string {
  return gib === undefined ? '' : `${before}${gib} GiB${after}`;
}

/** At most this many snapshots are listed. */
export const SNAPSHOT_LIST_LIMIT = 15;

/** `/backup snapshots <target>`: ephemeral, newest first. */
export function snapshotsReply(target: string, instanceId: string, snapshots: readonly SnapshotInfo[]): string {
  if (snapshots.length === 0) {
    return `No snapshots of ${code(instanceId)} (${code(target)}) found. \`${USAGE.snapshot.replace('<target>', target)}\` takes one.`;
  }
  const shown = snapshots.slice(0, SNAPSHOT_LIST_LIMIT);
  const head = `*Snapshots of ${code(target)}* (RDS instance ${code(instanceId)}), newest first${snapshots.length > shown.length ? ` (${shown.length} of ${snapshots.length})` : ''}:`;
  const lines = shown.map((s) => {
    const by = s.ours ? `, by dumptruck${s.requestedBy ? ` for ${escapeText(s.requestedBy)}` : ''}` : '';
    const progress = s.status !== 'available' && s.percent !== undefined ? ` ${s.percent}%` : '';
    return `• ${code(s.identifier)}: ${s.type}${by}, ${escapeText(s.status)}${progress}${sizeText(s.allocatedGiB, ', ')}${s.createdAt ? `, ${utc(s.createdAt)}` : ''}`;
  });
  return [head, ...lines].join('\n');
}
