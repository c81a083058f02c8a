import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { handleCommand } from '../../commands/handle.js';
import type { ListenerDeps } from '../deps.js';
import { ephemeral, followUp } from '../reply.js';

/** `/backup ...`: the ack carries every answer known at once; slower ones follow via response_url. */
export function backupCommand(deps: ListenerDeps) {
  return async ({ command, ack, respond }: SlackCommandMiddlewareArgs & AllMiddlewareArgs): Promise<void> => {
    const outcome = handleCommand(command.text, { userId: command.user_id, channelId: command.channel_id }, deps);
    await ack(outcome.reply === undefined ? undefined : ephemeral(outcome.reply));
    await followUp(outcome, respond, { withReply: false, logger: deps.logger, redactor: deps.redactor });
  };
}
