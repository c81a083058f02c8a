import type { AllMiddlewareArgs, BlockButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { handleRetryButton } from '../../commands/handle.js';
import type { ListenerDeps } from '../deps.js';
import { followUp } from '../reply.js';

/** The Retry button on a failure: the new run reports in the same thread. */
export function retryButton(deps: ListenerDeps) {
  return async ({ ack, body, action, respond }: SlackActionMiddlewareArgs<BlockButtonAction> & AllMiddlewareArgs): Promise<void> => {
    await ack();
    const channelId = body.channel?.id;
    const threadTs = body.message?.thread_ts ?? body.message?.ts;
    if (!channelId || !threadTs || !action.value) return;
    const outcome = handleRetryButton(action.value, { userId: body.user.id, channelId }, threadTs, deps);
    await followUp(outcome, respond, { withReply: true, logger: deps.logger, redactor: deps.redactor });
  };
}
