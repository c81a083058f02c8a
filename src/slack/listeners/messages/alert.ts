import type { AllMiddlewareArgs, SlackEventMiddlewareArgs } from '@slack/bolt';
import type { SlackMessageEvent } from '../../../alerts/message.js';
import type { ListenerDeps } from '../deps.js';

/**
 * Every `message` event (message.channels, message.groups): the intake keeps those in
 * alerts.channels that read as backup failures. Bolt acks events itself; nothing here waits.
 */
export function alertMessage(deps: ListenerDeps) {
  return async ({ event, body, context }: SlackEventMiddlewareArgs<'message'> & AllMiddlewareArgs): Promise<void> => {
    // Bolt's ignoreSelf drops most of the bot's own messages; the intake checks again with the
    // same auth.test identity, for shapes that filter does not catch (bot_id without a subtype).
    deps.alerts?.receive(event as SlackMessageEvent, { eventId: body.event_id, self: { botId: context.botId, userId: context.botUserId } });
  };
}
