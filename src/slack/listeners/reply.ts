import type { RespondFn } from '@slack/bolt';
import type { Logger } from 'pino';
import { userMessage } from '../../errors.js';
import type { Outcome } from '../commands/handle.js';
import type { Redactor } from '../../redact.js';

/** An ephemeral reply: only the person who typed the command or pressed the button sees it. */
export function ephemeral(text: string): { response_type: 'ephemeral'; replace_original: false; text: string } {
  // replace_original: false, or a reply to a button would overwrite the thread message it sits on.
  return { response_type: 'ephemeral', replace_original: false, text };
}

/**
 * Runs an outcome's after-ack work and delivers its text through response_url. `withReply`
 * also sends the immediate reply there (buttons: their ack cannot carry a message).
 */
export async function followUp(
  outcome: Outcome,
  respond: RespondFn,
  opts: { readonly withReply: boolean; readonly logger: Logger; readonly redactor: Redactor },
): Promise<void> {
  const send = async (text: string) => {
    try {
      await respond(ephemeral(text));
    } catch (err) {
      opts.logger.warn({ err }, 'could not deliver an ephemeral reply');
    }
  };
  if (opts.withReply && outcome.reply !== undefined) await send(outcome.reply);
  if (!outcome.later) return;
  let text: string | undefined;
  try {
    text = await outcome.later();
  } catch (err) {
    text = userMessage(err, opts.redactor);
  }
  if (text !== undefined) await send(text);
}
