import type { AllMiddlewareArgs, BlockButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { handleCancelButton } from '../../commands/handle.js';
import type { ListenerDeps } from '../deps.js';
import { followUp } from '../reply.js';

/** The Cancel button on a queued or running job's status message. */
export function cancelButton(deps: ListenerDeps) {
  return async ({ ack, body, action, respond }: SlackActionMiddlewareArgs<BlockButtonAction> & AllMiddlewareArgs): Promise<void> => {
    await ack();
    const channelId = body.channel?.id;
    if (!channelId || !action.value) return;
    const outcome = handleCancelButton(action.value, { userId: body.user.id, channelId }, deps);
    await followUp(outcome, respond, { withReply: true, logger: deps.logger, redactor: deps.redactor });
  };
}
