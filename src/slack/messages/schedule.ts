import type { AnyJob } from '../../jobs/queue.js';
import { code, describeTrigger, escapeText, section, utc, type SlackMessage } from './format.js';
import { threadRef, type ThreadLink } from './replies.js';

// Short messages in a target's report channel about scheduled runs that did not start a thread
// of their own. Pure.

function message(text: string): SlackMessage {
  return { text, blocks: [section(text)] };
}

/** A fire while a job of the target was queued or running: that job stands in for it. */
export function scheduleSkippedMessage(target: string, scheduledFor: Date, job: AnyJob, thread: ThreadLink | undefined): SlackMessage {
  const where = threadRef(thread);
  const state = job.state === 'running' ? 'running' : 'queued';
  return message(
    `:fast_forward: The scheduled backup of ${code(target)} due ${utc(scheduledFor)} was skipped: a ${job.kind} of it is already ${state}, requested by ${describeTrigger(job.trigger)}${where ? ` (${where})` : ''}.`,
  );
}

/** The queue refused the scheduled run (full, shutting down); `reason` as userMessage() renders it. */
export function scheduleRefusedMessage(target: string, scheduledFor: Date, reason: string): SlackMessage {
  return message(`:warning: The scheduled backup of ${code(target)} due ${utc(scheduledFor)} was not started: ${escapeText(reason)}`);
}

/** The missed-run check could not read the bucket at start; `reason` as userMessage() renders it. */
export function catchUpFailedMessage(target: string, reason: string): SlackMessage {
  return message(
    `:warning: Could not check whether a scheduled backup of ${code(target)} was missed while the bot was down: ${escapeText(reason)}. The schedule itself goes on.`,
  );
}
