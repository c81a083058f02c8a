import type { ProgressInfo, StartedInfo } from '../../jobs/events.js';
import { describeCompression } from '../../config/compression.js';
import { formatBytes, formatDuration } from '../../config/units.js';
import { encryptedLine, restoreCommand } from '../../storage/restore-hint.js';
import type { PresignedLink } from '../../storage/types.js';
import {
  ACTION_DOWNLOAD,
  ACTION_RETRY,
  cancelButton,
  capitalize,
  code,
  context,
  describeTrigger,
  escapeText,
  fields,
  queuedText,
  section,
  slackDate,
  truncate,
  utc,
  type Block,
  type SlackMessage,
} from './format.js';
import { afterBackupChecks, backupFlags, flaggedHead } from './after-backup.js';
import { isCancelled, type ThreadView } from './view.js';

// The three messages of a run: the parent in the channel, the status reply edited in place,
// and the result reply. Pure; tests compare them exactly.

/** What the Retry button carries, so a retry lands in the same thread and knows whose parent it is. */
export interface RetryValue {
  readonly target: string;
  /** True when the thread's parent is the bot's own message, which the retry may edit. */
  readonly ownParent: boolean;
}

/** How the result's download link turned out. */
export type LinkState =
  | { readonly kind: 'ok'; readonly link: PresignedLink }
  /** The thread is in a channel the target does not allow: no link is posted there. */
  | { readonly kind: 'withheld' }
  /** The target offers no links at all (`links: false`). */
  | { readonly kind: 'disabled' }
  | { readonly kind: 'error'; readonly message: string };

export function parentMessage(view: ThreadView): SlackMessage {
  const who = describeTrigger(view.trigger);
  const name = code(view.target);
  const { phase } = view;
  let text: string;
  const flags = phase.kind === 'finished' ? backupFlags(phase.result) : [];
  if (phase.kind === 'finished' && flags.length > 0) {
    text = `:warning: Backup of ${name} requested by ${who} stored, but flagged (${flags.join(', ')}): ${formatBytes(phase.result.storedBytes)} in ${formatDuration(phase.result.durationMs)}.`;
  } else if (phase.kind === 'finished') {
    text = `:white_check_mark: Backup of ${name} requested by ${who} finished: ${formatBytes(phase.result.storedBytes)} in ${formatDuration(phase.result.durationMs)}.`;
  } else if (isCancelled(phase)) {
    text = `:no_entry_sign: Backup of ${name} requested by ${who} was cancelled.`;
  } else if (phase.kind === 'failed') {
    text = `:x: Backup of ${name} requested by ${who} failed (stage ${phase.error.stage}).`;
  } else {
    text = `:package: Backup of ${name} requested by ${who}. Progress in the thread.`;
  }
  return { text, blocks: [section(text), context(`job ${code(view.jobId)}`)] };
}

export function statusMessage(view: ThreadView): SlackMessage {
  const { phase } = view;
  const name = code(view.target);
  switch (phase.kind) {
    case 'queued': {
      const text = queuedText(name, phase.position);
      return { text, blocks: [section(text), cancelActions(view)] };
    }
    case 'running': {
      if (!phase.progress) {
        const text = phase.started
          ? `:arrow_forward: Dumping ${name} (${serverLine(phase.started)}) into ${code(phase.started.key)}.`
          : `:arrow_forward: Starting the backup of ${name}…`;
        return { text, blocks: [section(text), cancelActions(view)] };
      }
      const head = `:arrow_forward: Dumping ${name}${phase.started ? ` into ${code(phase.started.key)}` : ''}`;
      return {
        text: `${head}: ${progressLine(phase.progress)}.`,
        blocks: [section(`${head}.`), fields(progressFields(phase.progress)), cancelActions(view)],
      };
    }
    case 'finished': {
      const r = phase.result;
      const flags = backupFlags(r);
      const done =
        flags.length > 0
          ? `:warning: Done in ${formatDuration(r.durationMs)}, flagged (${flags.join(', ')})`
          : `:white_check_mark: Done in ${formatDuration(r.durationMs)}`;
      const text = `${done}: dumped ${formatBytes(r.dumpedBytes)}, stored ${formatBytes(r.storedBytes)}.`;
      return { text, blocks: [section(text)] };
    }
    case 'failed': {
      const after = phase.progress ? ` after ${formatDuration(phase.progress.elapsedMs)}` : '';
      const text = isCancelled(phase)
        ? `:no_entry_sign: ${capitalize(phase.error.message)}${after}.`
        : `:x: Failed${after} (stage ${phase.error.stage}).`;
      return { text, blocks: [section(text)] };
    }
  }
}

/**
 * `reason` is the failure as userMessage() renders it (already scrubbed of secrets). It is
 * escaped here, so pg_dump's stderr cannot mention anyone.
 */
export function resultMessage(
  view: ThreadView,
  outcome: { readonly link?: LinkState; readonly reason?: string; readonly retry?: RetryValue },
): SlackMessage {
  const { phase } = view;
  const name = code(view.target);
  if (phase.kind === 'finished') {
    const r = phase.result;
    const head = flaggedHead(name, r) ?? `:white_check_mark: Backup of ${name} finished.`;
    const checks = afterBackupChecks(r);
    const compression = describeCompression(r);
    const lines = [
      head,
      `Key: ${r.key}`,
      `Size: ${formatBytes(r.storedBytes)} stored, ${formatBytes(r.dumpedBytes)} dumped`,
      ...(compression ? [`Compression: ${compression}`] : []),
      `SHA-256: ${r.sha256}`,
      `Duration: ${formatDuration(r.durationMs)}`,
      ...(r.encryption ? [encryptedLine(r.key, r.encryption.recipients)] : []),
      ...checks.map((c) => c.line),
    ];
    const blocks: Block[] = [
      section(head),
      fields([
        ['Key', code(r.key)],
        ['Size', `${formatBytes(r.storedBytes)} (${formatBytes(r.dumpedBytes)} dumped)`],
        ...(compression ? [['Compression', compression] as const] : []),
        ['SHA-256', code(r.sha256)],
        ['Duration', formatDuration(r.durationMs)],
      ]),
      ...(r.encryption
        ? [
            section(
              `:lock: Encrypted with age to ${r.encryption.recipients.length} recipient${r.encryption.recipients.length === 1 ? '' : 's'} (${r.encryption.recipients.map(code).join(', ')}). Restore with the private key:\n${code(restoreCommand(r.key))}`,
            ),
          ]
        : []),
      ...(checks.length > 0 ? [section(checks.map((c) => c.bullet).join('\n'))] : []),
    ];
    const link = outcome.link;
    if (link?.kind === 'ok') {
      lines.push(`Download (link expires ${utc(link.link.expiresAt)}): ${link.link.url}`);
      blocks.push(
        {
          type: 'actions',
          elements: [
            {
              type: 'button',
              action_id: ACTION_DOWNLOAD,
              text: { type: 'plain_text', text: 'Download' },
              url: link.link.url,
              style: 'primary',
            },
          ],
        },
        context(`The link expires ${slackDate(link.link.expiresAt)}; \`/backup link ${view.target} latest\` makes a fresh one.`),
      );
    } else if (link?.kind === 'withheld') {
      lines.push(`No download link here: ${name} does not allow this channel.`);
      blocks.push(
        context(`No download link: ${name} does not allow this channel. Use \`/backup link ${view.target} latest\` in one it allows.`),
      );
    } else if (link?.kind === 'disabled') {
      lines.push(`No download link: links are turned off for ${name}.`);
      blocks.push(context(`No download link: links are turned off for ${name} (\`links: false\`).`));
    } else if (link?.kind === 'error') {
      lines.push(`The download link could not be made: ${escapeText(link.message)}`);
      blocks.push(context(`The download link could not be made: ${escapeText(link.message)}. Try \`/backup link ${view.target} latest\`.`));
    }
    return { text: lines.join('\n'), blocks };
  }
  if (phase.kind === 'failed') {
    if (isCancelled(phase)) {
      // Our own words ("cancelled by <@U1>"), so the mention stays a mention.
      const text = `:no_entry_sign: Backup of ${name} ${phase.error.message}. Nothing was stored.`;
      return { text, blocks: [section(text)] };
    }
    const head = `:x: Backup of ${name} failed (stage ${code(phase.error.stage)}). Nothing was stored.`;
    const reason = escapeText(outcome.reason ?? phase.error.message);
    const blocks: Block[] = [section(head), section(`\`\`\`${truncate(reason, 2900)}\`\`\``)];
    if (outcome.retry) {
      blocks.push({
        type: 'actions',
        elements: [
          { type: 'button', action_id: ACTION_RETRY, text: { type: 'plain_text', text: 'Retry' }, value: JSON.stringify(outcome.retry) },
        ],
      });
    }
    return { text: `${head}\n${reason}`, blocks };
  }
  // Not reached by the reporter, which posts results only for finished jobs.
  return statusMessage(view);
}

function cancelActions(view: ThreadView): Block {
  return cancelButton(view.jobId, {
    label: 'Cancel',
    title: 'Cancel this backup?',
    text: `The dump of ${code(view.target)} stops and nothing is stored.`,
    confirm: 'Cancel backup',
    deny: 'Keep running',
  });
}

function serverLine(started: StartedInfo): string {
  const size = started.estimatedBytes > 0 ? `, about ${formatBytes(started.estimatedBytes)}` : '';
  return `PostgreSQL ${started.serverVersion}${size}`;
}

function progressLine(p: ProgressInfo): string {
  const estimate = estimateText(p);
  return `${formatBytes(p.dumpedBytes)} dumped, ${formatBytes(p.storedBytes)} stored, ${formatBytes(p.bytesPerSecond)}/s, ${formatDuration(p.elapsedMs)} elapsed${estimate ? `, ${estimate}` : ''}`;
}

function progressFields(p: ProgressInfo): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ['Dumped', formatBytes(p.dumpedBytes)],
    ['Stored', formatBytes(p.storedBytes)],
    ['Rate', `${formatBytes(p.bytesPerSecond)}/s`],
    ['Elapsed', formatDuration(p.elapsedMs)],
  ];
  const estimate = estimateText(p);
  if (estimate) out.push(['Estimate', estimate]);
  return out;
}

/**
 * pg_database_size counts indexes and free space that a dump does not contain, so the estimate
 * runs high for most databases; past it, say so rather than show 140%.
 */
function estimateText(p: ProgressInfo): string | undefined {
  if (p.estimatedBytes <= 0) return undefined;
  if (p.dumpedBytes >= p.estimatedBytes) return `past the estimate of ${formatBytes(p.estimatedBytes)}`;
  const percent = Math.floor((p.dumpedBytes / p.estimatedBytes) * 100);
  const left = p.bytesPerSecond > 0 ? `, ${formatDuration(((p.estimatedBytes - p.dumpedBytes) / p.bytesPerSecond) * 1000)} left` : '';
  return `about ${percent}% of ${formatBytes(p.estimatedBytes)}${left}`;
}
