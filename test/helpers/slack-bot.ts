// The bot on Bolt's real HTTP receiver, on a free loopback port, talking to a fake Slack Web API.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import type { Config } from '../../src/config/schema.js';
import type { RunBackup } from '../../src/jobs/types.js';
import { createSlackApp, type SlackAppOptions, type SlackBot } from '../../src/slack/app.js';
import type { BackupCatalog } from '../../src/storage/types.js';
import { startFakeSlack, type FakeSlack } from './slack-fake.js';
import {
  sendButton,
  sendCommand,
  sendEvent,
  sendViewSubmission,
  TEST_SIGNING_SECRET,
  type ButtonClick,
  type SignedResponse,
  type SignOptions,
  type ViewSubmission,
} from './slack-sign.js';

export const TEST_BOT_TOKEN = 'xoxb-1111-2222-testtoken';

export interface TestBot {
  readonly bot: SlackBot;
  readonly slack: FakeSlack;
  /** http://127.0.0.1:port/slack/events */
  readonly url: string;
  /** Sends `/backup {text}`; `responseUrl` is where the bot's later ephemeral replies land. */
  command(
    text: string,
    who?: { readonly user_id?: string; readonly channel_id?: string },
    opts?: SignOptions,
  ): Promise<SignedResponse & { readonly responseUrl: string }>;
  button(click: Omit<ButtonClick, 'response_url'>): Promise<SignedResponse & { readonly responseUrl: string }>;
  /** Submits a modal (view_submission); the ack's body carries the modal's errors, if any. */
  view(submission: ViewSubmission): Promise<SignedResponse>;
  /** Sends a signed event_callback with this event (a `message` in a channel, an edit, ...). */
  event(event: Record<string, unknown>, eventId: string): Promise<SignedResponse>;
  stop(): Promise<void>;
}

export async function startTestBot(options: {
  readonly config: Config;
  readonly runBackup: RunBackup;
  readonly catalog: BackupCatalog;
  readonly progressIntervalMs?: number;
  /** Where the bot logs; default: silent (TEST_LOG_LEVEL to see it). */
  readonly logger?: Logger;
  /** More createSlackApp options (timers, alert decisions). */
  readonly app?: Partial<
    Pick<SlackAppOptions, 'setTimer' | 'onAlertDecision' | 'clock' | 'snapshots' | 'trust' | 'approvals' | 'state' | 'alertLedger'>
  >;
}): Promise<TestBot> {
  const slack = await startFakeSlack({ token: TEST_BOT_TOKEN });
  const bot = createSlackApp({
    config: options.config,
    env: { SLACK_MODE: 'http', SLACK_BOT_TOKEN: TEST_BOT_TOKEN, SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET, SLACK_API_URL: slack.apiUrl },
    runBackup: options.runBackup,
    catalog: options.catalog,
    logger: options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    progressIntervalMs: options.progressIntervalMs ?? 300,
    ...options.app,
  });
  const server = (await bot.start({ port: 0, host: '127.0.0.1' })) as Server;
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  return {
    bot,
    slack,
    url,
    async command(text, who = {}, opts = {}) {
      const responseUrl = slack.responseUrl();
      const response = await sendCommand(url, TEST_SIGNING_SECRET, { text, response_url: responseUrl, ...who }, opts);
      return { ...response, responseUrl };
    },
    async button(click) {
      const responseUrl = slack.responseUrl();
      const response = await sendButton(url, TEST_SIGNING_SECRET, { ...click, response_url: responseUrl });
      return { ...response, responseUrl };
    },
    event: (event, eventId) => sendEvent(url, TEST_SIGNING_SECRET, event, eventId),
    view: (submission) => sendViewSubmission(url, TEST_SIGNING_SECRET, submission),
    async stop() {
      await bot.stop();
      await slack.close();
    },
  };
}
