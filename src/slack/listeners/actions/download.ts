import type { AllMiddlewareArgs, SlackActionMiddlewareArgs } from '@slack/bolt';

/** A URL button opens the link in the browser but still sends an action; unacked, Slack shows a warning on it. */
export function downloadButton() {
  return async ({ ack }: SlackActionMiddlewareArgs & AllMiddlewareArgs): Promise<void> => {
    await ack();
  };
}
