import type { AllMiddlewareArgs, BlockButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { handleRestoreButton } from '../../commands/handle.js';
import type { ListenerDeps } from '../deps.js';
import { followUp } from '../reply.js';

/** Approve or Deny on a restore request; refusals go to the person who clicked only. */
export function restoreButton(decision: 'approve' | 'deny', deps: ListenerDeps) {
  return async ({ ack, body, action, respond }: SlackActionMiddlewareArgs<BlockButtonAction> & AllMiddlewareArgs): Promise<void> => {
    await ack();
    const channelId = body.channel?.id;
    if (!channelId || !action.value) return;
    const outcome = handleRestoreButton(decision, action.value, { userId: body.user.id, channelId }, body.trigger_id, deps);
    await followUp(outcome, respond, { withReply: true, logger: deps.logger, redactor: deps.redactor });
  };
}
