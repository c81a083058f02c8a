// Requests to Bolt's HTTP receiver as Slack sends them: form-encoded slash commands and
// `payload=` block actions, signed with `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`.
import { createHmac } from 'node:crypto';

/** 32 hex characters, the shape readSlackEnv wants. */
export const TEST_SIGNING_SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

export function slackSignature(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export interface SignedResponse {
  readonly status: number;
  readonly text: string;
  /** The body as JSON when it is JSON (an ack with a message), else undefined. */
  readonly json: Record<string, any> | undefined;
  /** Time from sending to the full response: the ack latency. */
  readonly ms: number;
}

export interface SignOptions {
  /** Unix seconds; default now. A value minutes old makes the request stale. */
  readonly timestamp?: number;
  /** Sign with another secret (a forged request). */
  readonly secret?: string;
}

export async function postSigned(
  url: string,
  body: string,
  contentType: string,
  secret: string,
  opts: SignOptions = {},
): Promise<SignedResponse> {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': slackSignature(opts.secret ?? secret, timestamp, body),
    },
    body,
  });
  const text = await res.text();
  const ms = performance.now() - started;
  let json: Record<string, any> | undefined;
  try {
    json = text ? (JSON.parse(text) as Record<string, any>) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, ms };
}

export interface CommandFields {
  readonly text: string;
  readonly user_id?: string;
  readonly channel_id?: string;
  readonly response_url: string;
  readonly command?: string;
}

export function commandBody(fields: CommandFields): string {
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: 'T0FAKE',
    team_domain: 'fake',
    channel_id: fields.channel_id ?? 'C0OPS',
    channel_name: 'ops',
    user_id: fields.user_id ?? 'U0ALICE',
    user_name: 'alice',
    command: fields.command ?? '/backup',
    text: fields.text,
    api_app_id: 'A0DUMPTRUCK',
    is_enterprise_install: 'false',
    response_url: fields.response_url,
    trigger_id: '1.2.3',
  }).toString();
}

export function sendCommand(url: string, secret: string, fields: CommandFields, opts: SignOptions = {}): Promise<SignedResponse> {
  return postSigned(url, commandBody(fields), 'application/x-www-form-urlencoded', secret, opts);
}

export interface ButtonClick {
  readonly actionId: string;
  readonly value: string;
  readonly user_id?: string;
  readonly channel_id?: string;
  /** The message the button is on. */
  readonly messageTs: string;
  readonly threadTs?: string;
  readonly response_url: string;
}

export function blockActionPayload(click: ButtonClick): Record<string, unknown> {
  const channel = click.channel_id ?? 'C0OPS';
  return {
    type: 'block_actions',
    user: { id: click.user_id ?? 'U0ALICE', username: 'alice', name: 'alice', team_id: 'T0FAKE' },
    api_app_id: 'A0DUMPTRUCK',
    token: 'deprecated-verification-token',
    container: {
      type: 'message',
      message_ts: click.messageTs,
      channel_id: channel,
      is_ephemeral: false,
      ...(click.threadTs ? { thread_ts: click.threadTs } : {}),
    },
    trigger_id: '1.2.3',
    team: { id: 'T0FAKE', domain: 'fake' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channel, name: 'ops' },
    message: {
      type: 'message',
      ts: click.messageTs,
      ...(click.threadTs ? { thread_ts: click.threadTs } : {}),
      text: '',
      user: 'U0BOT',
      bot_id: 'B0BOT',
    },
    state: { values: {} },
    response_url: click.response_url,
    actions: [
      {
        action_id: click.actionId,
        block_id: 'b1',
        text: { type: 'plain_text', text: 'button' },
        value: click.value,
        type: 'button',
        action_ts: `${Math.floor(Date.now() / 1000)}.000000`,
      },
    ],
  };
}

export function sendButton(url: string, secret: string, click: ButtonClick, opts: SignOptions = {}): Promise<SignedResponse> {
  const body = new URLSearchParams({ payload: JSON.stringify(blockActionPayload(click)) }).toString();
  return postSigned(url, body, 'application/x-www-form-urlencoded', secret, opts);
}

export interface ViewSubmission {
  readonly callbackId: string;
  readonly privateMetadata: string;
  /** state.values: block id -> action id -> typed value. */
  readonly values: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly user_id?: string;
}

/** A modal's submit, as Slack sends it: `payload=` with type view_submission. */
export function sendViewSubmission(
  url: string,
  secret: string,
  submission: ViewSubmission,
  opts: SignOptions = {},
): Promise<SignedResponse> {
  const values = Object.fromEntries(
    Object.entries(submission.values).map(([block, actions]) => [
      block,
      Object.fromEntries(Object.entries(actions).map(([action, value]) => [action, { type: 'plain_text_input', value }])),
    ]),
  );
  const payload = {
    type: 'view_submission',
    team: { id: 'T0FAKE', domain: 'fake' },
    user: { id: submission.user_id ?? 'U0ALICE', username: 'alice', name: 'alice', team_id: 'T0FAKE' },
    api_app_id: 'A0DUMPTRUCK',
    token: 'deprecated-verification-token',
    trigger_id: '1.2.4',
    view: {
      id: 'V0FAKE',
      team_id: 'T0FAKE',
      type: 'modal',
      callback_id: submission.callbackId,
      private_metadata: submission.privateMetadata,
      state: { values },
      hash: '1.abc',
      blocks: [],
    },
    response_urls: [],
    is_enterprise_install: false,
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return postSigned(url, body, 'application/x-www-form-urlencoded', secret, opts);
}

/** An Events API callback as Slack sends it: JSON, with the event and its envelope (event_id, event_time). */
export function eventCallback(event: Record<string, unknown>, eventId: string): Record<string, unknown> {
  return {
    token: 'deprecated-verification-token',
    team_id: 'T0FAKE',
    api_app_id: 'A0DUMPTRUCK',
    event: { event_ts: String(event.ts ?? `${Math.floor(Date.now() / 1000)}.000000`), ...event },
    type: 'event_callback',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: 'T0FAKE', user_id: 'U0BOT', is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
  };
}

export function sendEvent(
  url: string,
  secret: string,
  event: Record<string, unknown>,
  eventId: string,
  opts: SignOptions = {},
): Promise<SignedResponse> {
  return postSigned(url, JSON.stringify(eventCallback(event, eventId)), 'application/json', secret, opts);
}
