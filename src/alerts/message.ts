// Which `message` events are alerts at all, before their words are read: only top-level messages in
// alert channels, never the bot's own (its failure reports say "backup failed" too), and edits or
// deletions only as a way to recognise an alert already handled. Pure.
import { messageWords, type MessageContent } from './words.js';

/** The fields of a Slack `message` event this reads (users, webhooks' bot_message, other apps, edits). */
export interface SlackMessageEvent extends MessageContent {
  readonly type: string;
  readonly subtype?: string | undefined;
  readonly channel?: string | undefined;
  readonly ts?: string | undefined;
  readonly thread_ts?: string | undefined;
  readonly user?: string | undefined;
  readonly bot_id?: string | undefined;
  readonly app_id?: string | undefined;
  readonly username?: string | undefined;
  readonly client_msg_id?: string | undefined;
  /** message_changed: the message as it is now (its ts is the original's). */
  readonly message?:
    | (MessageContent & { readonly ts?: string; readonly user?: string; readonly bot_id?: string; readonly client_msg_id?: string })
    | undefined;
  /** message_deleted: the deleted message's ts. */
  readonly deleted_ts?: string | undefined;
}

/** Who the bot is, from auth.test (once, at start). */
export interface Self {
  readonly botId?: string | undefined;
  readonly userId?: string | undefined;
}

/**
 * Who posted a message, by every identity Slack gives. A person has a user id and no bot id; an
 * app's bot, a workflow or an incoming webhook has a bot id (and often an app id, a username).
 */
export interface Poster {
  readonly userId?: string | undefined;
  readonly botId?: string | undefined;
  readonly appId?: string | undefined;
  readonly username?: string | undefined;
  readonly person: boolean;
}

export type AlertRead =
  | {
      readonly kind: 'alert';
      readonly channel: string;
      readonly ts: string;
      /** The poster: a user id, or the bot id of a webhook or another app. */
      readonly by: string;
      readonly poster: Poster;
      readonly words: string;
      /** Any of these seen before means a re-delivery or a copy of an alert already handled. */
      readonly keys: readonly string[];
    }
  /** An edit or deletion: it only matters if its keys belong to an alert already handled. */
  | { readonly kind: 'edit'; readonly channel: string; readonly ts: string; readonly keys: readonly string[] }
  | { readonly kind: 'skip'; readonly reason: string };

/** Subtypes that are messages someone or something posted; the rest are channel housekeeping (joins, topics, pins). */
const POSTED = new Set([undefined, 'bot_message', 'file_share', 'me_message']);

export function readAlertMessage(
  event: SlackMessageEvent,
  opts: { readonly channels: readonly string[]; readonly self: Self; readonly eventId?: string | undefined },
): AlertRead {
  const { channel } = event;
  if (event.type !== 'message' || !channel || !opts.channels.includes(channel)) return { kind: 'skip', reason: 'not an alerts channel' };
  if (isOwn(event, opts.self) || (event.message && isOwn(event.message, opts.self))) return { kind: 'skip', reason: 'own message' };
  if (event.subtype === 'message_changed' || event.subtype === 'message_deleted') {
    const ts = event.message?.ts ?? event.deleted_ts;
    if (!ts) return { kind: 'skip', reason: `${event.subtype} without a ts` };
    return { kind: 'edit', channel, ts, keys: keys(channel, ts, undefined, event.message?.client_msg_id) };
  }
  if (!POSTED.has(event.subtype)) return { kind: 'skip', reason: `subtype ${event.subtype}` };
  if (!event.ts) return { kind: 'skip', reason: 'no ts' };
  // Replies in a thread are conversation about an alert (ours included), not new alerts.
  if (event.thread_ts !== undefined && event.thread_ts !== event.ts) return { kind: 'skip', reason: 'thread reply' };
  return {
    kind: 'alert',
    channel,
    ts: event.ts,
    by: event.user ?? event.bot_id ?? event.username ?? 'unknown',
    poster: {
      userId: event.user,
      botId: event.bot_id,
      appId: event.app_id,
      username: event.username,
      person: event.user !== undefined && event.bot_id === undefined && event.subtype !== 'bot_message',
    },
    words: messageWords(event),
    keys: keys(channel, event.ts, opts.eventId, event.client_msg_id),
  };
}

function isOwn(message: { readonly user?: string | undefined; readonly bot_id?: string | undefined }, self: Self): boolean {
  return (self.botId !== undefined && message.bot_id === self.botId) || (self.userId !== undefined && message.user === self.userId);
}

function keys(channel: string, ts: string, eventId: string | undefined, clientMsgId: string | undefined): string[] {
  return [`ts:${channel}:${ts}`, ...(eventId ? [`event:${eventId}`] : []), ...(clientMsgId ? [`client:${clientMsgId}`] : [])];
}

/**
 * alerts.posters allows this poster; an empty list allows everyone. An entry is a bot id (B...),
 * an app id (A...), a user id (U.../W...), or `B123:name`: that bot id posting under that username
 * (one of several webhooks of one app). A username alone never matches: any app may set one.
 */
export function posterAllowed(poster: Poster, posters: readonly string[]): boolean {
  if (posters.length === 0) return true;
  return posters.some((entry) => {
    const colon = entry.indexOf(':');
    if (colon < 0) return [poster.userId, poster.botId, poster.appId].includes(entry);
    return poster.botId === entry.slice(0, colon) && poster.username === entry.slice(colon + 1);
  });
}

/**
 * A target with `users:` is run by alerts from those people, or from machines listed in
 * alerts.posters; a bot, workflow or webhook poster with no list is refused (fail closed), since
 * any channel member can make one post.
 */
export function machineMayRun(poster: Poster, posters: readonly string[], users: readonly string[]): boolean {
  return poster.person || users.length === 0 || (posters.length > 0 && posterAllowed(poster, posters));
}
