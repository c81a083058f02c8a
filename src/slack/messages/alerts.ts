import type { AlertRun } from '../../alerts/reruns.js';
import type { NameMatch } from '../../alerts/targets.js';
import { formatDuration } from '../../config/units.js';
import type { BackupResult } from '../../jobs/events.js';
import type { Job } from '../../jobs/queue.js';
import { code, describeTrigger, escapeText, section, truncate, utc, type SlackMessage } from './format.js';
import { restartingReply, threadRef, type ThreadLink } from './replies.js';

// What the bot says in an alert's thread besides a run's own status and result messages: why
// nothing was started, that an alert joined a run, each retry, and giving up. Pure.

/** The failure wording the classifier recognised, quoted back so people see why the bot acted. */
export interface Recognised {
  readonly phrase: string;
}

function message(text: string): SlackMessage {
  return { text, blocks: [section(text)] };
}

function quote(phrase: string): string {
  return `"${escapeText(truncate(phrase, 80))}"`;
}

export function unknownTargetReply(seen: Recognised, identifiers: readonly string[]): SlackMessage {
  const saw = identifiers.length > 0 ? ` Identifiers in it: ${identifiers.map((i) => code(escapeText(i))).join(', ')}.` : '';
  const example = identifiers[0] ?? '<identifier>';
  return message(
    `:grey_question: This reads as a backup failure (${quote(seen.phrase)}), but no configured target's name or \`alertNames\` appears in it, so nothing was started.${saw} ` +
      `To rerun backups on alerts like this one, add the database's identifier to its target in the config, e.g. \`alertNames: [${escapeText(example)}]\`.`,
  );
}

export function ambiguousTargetReply(seen: Recognised, matches: readonly NameMatch[]): SlackMessage {
  const names = matches.map((m) => (m.via === m.target ? code(m.target) : `${code(m.target)} (as ${code(escapeText(m.via))})`)).join(', ');
  return message(
    `:grey_question: This reads as a backup failure (${quote(seen.phrase)}), but it names more than one target: ${names}. Nothing was started. ` +
      `Make each target's \`alertNames\` match only its own database, or run \`/backup run <target>\` for the right one.`,
  );
}

export function channelRefusedReply(seen: Recognised, target: string, channel: string, allowed: readonly string[]): SlackMessage {
  return message(
    `:no_entry_sign: This reads as a backup failure of ${code(target)} (${quote(seen.phrase)}), but ${code(target)} may only be backed up from ${allowed.map((c) => `<#${c}>`).join(', ')}, so nothing was started here. ` +
      `Add <#${channel}> to \`targets.${target}.channels\` to rerun it on these alerts, or run \`/backup run ${target}\` in an allowed channel.`,
  );
}

/** The poster is not in alerts.posters: a plain refusal, naming no target and linking nothing. */
export function posterRefusedReply(seen: Recognised): SlackMessage {
  return message(
    `:no_entry_sign: This reads as a backup failure (${quote(seen.phrase)}), but alerts from this poster may not start backups (it is not in \`alerts.posters\`), so nothing was started. ` +
      `Someone allowed to can run \`/backup run <target>\`.`,
  );
}

/** A person, not on the target's `users`, posted the alert: the same rule as for `/backup run`. */
export function userRefusedReply(seen: Recognised, target: string, user: string): SlackMessage {
  return message(
    `:no_entry_sign: This reads as a backup failure of ${code(target)} (${quote(seen.phrase)}), but <@${user}> is not on the list of people who may back up ${code(target)}, so nothing was started. ` +
      `Ask someone in \`targets.${target}.users\` to run \`/backup run ${target}\`.`,
  );
}

/** A bot, app or webhook posted the alert of a target with `users`, and alerts.posters lists no machine. */
export function machineRefusedReply(seen: Recognised, target: string): SlackMessage {
  return message(
    `:no_entry_sign: This reads as a backup failure of ${code(target)} (${quote(seen.phrase)}), but ${code(target)} may only be backed up by the people in \`targets.${target}.users\`, and alerts from bots, apps and webhooks start it only when \`alerts.posters\` lists them, so nothing was started. ` +
      `Ask someone in \`targets.${target}.users\` to run \`/backup run ${target}\`.`,
  );
}

/** Another alert for a target whose run is under way or ended within alerts.window. */
export function joinedReply(run: AlertRun, thread: ThreadLink | undefined, now: Date, windowMs: number): SlackMessage {
  const name = code(run.target);
  const where = threadRef(thread) ?? 'thread of the first alert';
  const ago = run.endedAt ? formatDuration(Math.max(0, now.getTime() - run.endedAt.getTime())) : '';
  const window = formatDuration(windowMs);
  switch (run.state) {
    case 'active': {
      const doing =
        run.nextAttemptAt !== undefined
          ? `waiting to retry (attempt ${run.attempt + 1} of ${run.attempts} at ${utc(run.nextAttemptAt)})`
          : `${run.job?.state === 'running' ? 'running' : 'queued'} (attempt ${run.attempt} of ${run.attempts})`;
      return message(
        `:link: Already on it: the backup of ${name} started for an earlier alert is ${doing}. Follow it in the ${where}; this alert does not start another.`,
      );
    }
    case 'succeeded':
      return message(
        `:link: A backup of ${name} finished ${ago} ago after an earlier alert${run.result ? `: ${code(run.result.key)}` : ''}. See the ${where}; no new run within \`alerts.window\` (${window}).`,
      );
    case 'failed':
      return message(
        `:link: The reruns of ${name} after an earlier alert gave up ${ago} ago (${run.attempts} attempts failed; see the ${where}). No new run within \`alerts.window\` (${window}): fix the cause, then \`/backup run ${run.target}\`.`,
      );
    case 'stopped':
      return message(
        `:link: The rerun of ${name} after an earlier alert was stopped ${ago} ago (see the ${where}). No new run within \`alerts.window\` (${window}); \`/backup run ${run.target}\` starts one.`,
      );
  }
}

/** Fleet: another replica runs the target's rerun (or ran it within the window); its thread has the news. */
export function joinedElsewhereReply(target: string, thread: ThreadLink | undefined): SlackMessage {
  const where = threadRef(thread) ?? 'thread of the first alert';
  return message(
    `:link: Already on it: a backup of ${code(target)} was started for an earlier alert. Follow it in the ${where}; this alert does not start another.`,
  );
}

/** The first attempt found a backup of the target already queued or running, started elsewhere: it follows that one. */
export function followingReply(
  job: Job,
  thread: ThreadLink | undefined,
  attempt: { readonly attempt: number; readonly attempts: number },
): SlackMessage {
  const where = threadRef(thread);
  const retry = attempt.attempt < attempt.attempts ? ' If it fails, I retry here.' : '';
  return message(
    `:eyes: A backup of ${code(job.target)} is already ${job.state === 'running' ? 'running' : 'queued'}, requested by ${describeTrigger(job.trigger)}: this alert follows it${where ? ` (${where})` : ''} instead of starting another.${retry}`,
  );
}

/** The followed backup (reported in its own thread) finished. */
export function followedFinishedReply(result: BackupResult, thread: ThreadLink | undefined): SlackMessage {
  const where = threadRef(thread);
  return message(
    `:white_check_mark: That backup of ${code(result.target)} finished: ${code(result.key)}.${where ? ` Details and the download link are in its ${where}.` : ''}`,
  );
}

/**
 * A failed attempt and when the next one starts. `reason` is given when the failure was not shown
 * in this thread (the queue refused the attempt, or it was a followed backup).
 */
export function retryingReply(
  target: string,
  next: { readonly attempt: number; readonly attempts: number; readonly delayMs: number },
  reason?: string,
): SlackMessage {
  const failed = `Attempt ${next.attempt - 1} of ${next.attempts} failed${reason ? `: ${escapeText(reason)}` : ''}.`;
  return message(
    `:repeat: ${failed} Retrying the backup of ${code(target)} in ${formatDuration(next.delayMs)} (attempt ${next.attempt} of ${next.attempts}).`,
  );
}

/** The last attempt failed: plainly, with the people to call. */
export function exhaustedReply(target: string, attempts: number, reason: string, escalate: readonly string[]): SlackMessage {
  const who =
    escalate.length > 0
      ? `${escalate.join(' ')} please take a look.`
      : 'Nobody is set to be called (`alerts.escalate`); please take a look.';
  const text =
    `:rotating_light: Giving up: the backup of ${code(target)} failed ${attempts === 1 ? 'its only attempt' : `all ${attempts} attempts`} after this alert, so there is no fresh backup. ` +
    `Last failure: ${escapeText(truncate(reason, 500))}\n${who} Once the cause is fixed, \`/backup run ${target}\` runs it again.`;
  return message(text);
}

export function stoppedReply(target: string, reason: 'cancelled' | 'shutdown'): SlackMessage {
  return message(
    reason === 'cancelled'
      ? `:no_entry_sign: No more automatic retries of ${code(target)} for this alert: the backup was cancelled.`
      : `:pause_button: No more attempts at ${code(target)} for this alert: the bot is restarting. Run \`/backup run ${target}\` if a backup is still needed.`,
  );
}

/** An alert while the bot drains for a restart: the same words as a refused /backup run. */
export function restartingAlertReply(target: string): SlackMessage {
  return message(restartingReply(target));
}
