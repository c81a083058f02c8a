// Socket Mode builds the same app: same listeners, no HTTP server, and nothing connects until
// start(). Events are fed through app.processEvent, which is what the Socket Mode receiver calls.
import { SocketModeReceiver } from '@slack/bolt';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createSlackApp } from '../../src/slack/app.js';
import type { BackupCatalog } from '../../src/storage/types.js';
import { fakeRunner } from '../jobs/fake-runner.js';
import { slackTestConfig } from '../helpers/slack-config.js';
import { startFakeSlack, type FakeSlack } from '../helpers/slack-fake.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';
import { blockActionPayload } from '../helpers/slack-sign.js';

const catalog: BackupCatalog = {
  list: async () => [],
  resolve: async () => {
    throw new Error('unused');
  },
  link: async () => {
    throw new Error('unused');
  },
  linkStored: async () => {
    throw new Error('unused');
  },
};

let slack: FakeSlack;
afterEach(async () => {
  await slack?.close();
});

describe('Socket Mode wiring', () => {
  it('builds the same app on the Socket Mode receiver, without an HTTP server or a connection', async () => {
    slack = await startFakeSlack({ token: TEST_BOT_TOKEN });
    const runner = fakeRunner();
    const bot = createSlackApp({
      config: slackTestConfig({ 'app-db': {} }),
      env: { SLACK_BOT_TOKEN: TEST_BOT_TOKEN, SLACK_APP_TOKEN: 'xapp-1-A0DUMPTRUCK-1-0123abcd', SLACK_API_URL: slack.apiUrl },
      runBackup: runner.runBackup,
      catalog,
      logger: pino({ level: 'silent' }),
      progressIntervalMs: 50,
    });
    expect(bot.slack.mode).toBe('socket');
    const receiver = (bot.app as unknown as { receiver: unknown }).receiver;
    expect(receiver).toBeInstanceOf(SocketModeReceiver);
    expect((receiver as unknown as { httpServer?: unknown }).httpServer).toBeUndefined();

    await bot.init();
    expect(slack.calls.map((c) => c.method)).toEqual(['auth.test']);

    // The /backup listener answers with the ack, as over HTTP.
    let acked: unknown = 'not acked';
    await bot.app.processEvent({
      body: {
        command: '/backup',
        text: 'help',
        user_id: 'U0ALICE',
        channel_id: 'C0OPS',
        team_id: 'T0FAKE',
        response_url: slack.responseUrl(),
        trigger_id: '1',
      },
      ack: async (response?: unknown) => {
        acked = response;
      },
    });
    expect(acked).toMatchObject({ response_type: 'ephemeral', text: expect.stringMatching(/^\*dumptruck\* backs up/) });

    // So do the buttons: a Cancel for a job that is gone.
    const responseUrl = slack.responseUrl();
    let actionAcked = false;
    await bot.app.processEvent({
      body: blockActionPayload({ actionId: 'dumptruck_cancel', value: 'nojob', messageTs: '1.1', response_url: responseUrl }),
      ack: async () => {
        actionAcked = true;
      },
    });
    expect(actionAcked).toBe(true);
    expect((await slack.waitForResponse(responseUrl)).body.text).toBe('That backup has already finished; there is nothing to cancel.');

    // A run posts through the same Web API client.
    await bot.app.processEvent({
      body: {
        command: '/backup',
        text: 'run app-db',
        user_id: 'U0ALICE',
        channel_id: 'C0OPS',
        team_id: 'T0FAKE',
        response_url: slack.responseUrl(),
        trigger_id: '1',
      },
      ack: async () => {},
    });
    (await runner.started('app-db')).succeed();
    await bot.reporters.idle();
    expect(slack.ok('chat.postMessage').map((c) => c.args.channel)).toEqual(['C0OPS', 'C0OPS', 'C0OPS']);
    // Never connected: no apps.connections.open.
    expect(slack.calls.some((c) => c.method === 'apps.connections.open')).toBe(false);
  });
});
