import type { types } from '@slack/bolt';
import type { Trigger } from '../../jobs/events.js';

// Small pieces every Block Kit builder shares. Pure.

export type Block = types.KnownBlock;

/** What chat.postMessage / chat.update take: `text` is what notifications and parsers read. */
export interface SlackMessage {
  readonly text: string;
  readonly blocks: Block[];
}

export const ACTION_CANCEL = 'dumptruck_cancel';
export const ACTION_RETRY = 'dumptruck_retry';
/** URL buttons still send an action; the listener only acks it. */
export const ACTION_DOWNLOAD = 'dumptruck_download';
/** A restore request's buttons (value: the request id) and the modal that confirms a replace by its database name. */
export const ACTION_RESTORE_APPROVE = 'dumptruck_restore_approve';
export const ACTION_RESTORE_DENY = 'dumptruck_restore_deny';
export const VIEW_RESTORE_REPLACE = 'dumptruck_restore_replace';

/** Slack's limit for a section's text; longer text is cut rather than rejected with invalid_blocks. */
export const SECTION_TEXT_LIMIT = 3000;

/**
 * Text we did not write (pg_dump's stderr, S3 errors) must not become mentions or links:
 * Slack reads `<!channel>` and `<@U1>` as control sequences, so `&`, `<` and `>` are escaped.
 */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function truncate(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

export function section(text: string): Block {
  return { type: 'section', text: { type: 'mrkdwn', text: truncate(text, SECTION_TEXT_LIMIT) } };
}

export function fields(pairs: ReadonlyArray<readonly [string, string]>): Block {
  return { type: 'section', fields: pairs.map(([name, value]) => ({ type: 'mrkdwn', text: `*${name}*\n${value}` })) };
}

export function context(text: string): Block {
  return { type: 'context', elements: [{ type: 'mrkdwn', text }] };
}

/** A queued job's status: next to start, or its position and how many are ahead. */
export function queuedText(subject: string, position: number): string {
  return position <= 1
    ? `:hourglass_flowing_sand: ${subject} is queued: next to start.`
    : `:hourglass_flowing_sand: ${subject} is queued: position ${position}, ${position - 1} ahead of it.`;
}

/** The danger button that cancels job `jobId`, behind a confirmation in the job's own words. */
export function cancelButton(
  jobId: string,
  words: { readonly label: string; readonly title: string; readonly text: string; readonly confirm: string; readonly deny: string },
): Block {
  return {
    type: 'actions',
    elements: [
      {
        type: 'button',
        action_id: ACTION_CANCEL,
        text: { type: 'plain_text', text: words.label },
        value: jobId,
        style: 'danger',
        confirm: {
          title: { type: 'plain_text', text: words.title },
          text: { type: 'mrkdwn', text: words.text },
          confirm: { type: 'plain_text', text: words.confirm },
          deny: { type: 'plain_text', text: words.deny },
        },
      },
    ],
  };
}

/** Who started a run, as a thread reader should see it. */
export function describeTrigger(trigger: Trigger): string {
  switch (trigger.kind) {
    case 'slack':
      return `<@${trigger.by}>`;
    case 'retry':
      return `<@${trigger.by}> (retry)`;
    case 'alert':
      return 'a failure alert';
    case 'schedule':
      return trigger.catchUpFor ? `the schedule (catch-up for the missed run due ${utc(trigger.catchUpFor)})` : 'the schedule';
    case 'cli':
      return `\`${escapeText(trigger.by)}\``;
  }
}

/** Renders in each reader's time zone; the fallback is what notifications and old clients show. */
export function slackDate(date: Date): string {
  const epoch = Math.floor(date.getTime() / 1000);
  return `<!date^${epoch}^{date_short_pretty} {time}|${utc(date)}>`;
}

/** 2024-05-01 03:00 UTC */
export function utc(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function code(text: string): string {
  return `\`${text}\``;
}
