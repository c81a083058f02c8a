import type { AllMiddlewareArgs, SlackViewMiddlewareArgs, ViewSubmitAction } from '@slack/bolt';
import { REPLACE_INPUT } from '../../messages/restore.js';
import type { ListenerDeps } from '../deps.js';

/**
 * The replace modal's submission: the ack either shows what is wrong in the modal (a mistyped
 * name, a refusal) or closes it; the restore then reports in the request's thread.
 */
export function replaceSubmitted(deps: ListenerDeps) {
  return async ({ ack, body, view }: SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs): Promise<void> => {
    const typed = view.state.values[REPLACE_INPUT.block]?.[REPLACE_INPUT.action]?.value ?? '';
    if (!deps.restores) {
      await ack({ response_action: 'errors', errors: { [REPLACE_INPUT.block]: 'Restores are not set up in this bot.' } });
      return;
    }
    const outcome = await deps.restores.confirmReplace(view.private_metadata, body.user.id, typed);
    if (outcome.error !== undefined) {
      await ack({ response_action: 'errors', errors: { [REPLACE_INPUT.block]: outcome.error } });
      return;
    }
    await ack();
    const problem = await outcome.started?.catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
    if (problem) deps.logger.warn({ requestId: view.private_metadata, problem }, 'an approved replace did not start');
  };
}
