import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { readSlackEnv } from '../../src/slack/env.js';

const BOT = 'xoxb-1234-5678-AbCdEf';
const APP = 'xapp-1-A0DUMPTRUCK-1-0123abcd';
const SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

function problems(env: Record<string, string>): string[] {
  try {
    readSlackEnv(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('accepted');
}

describe('readSlackEnv', () => {
  it('Socket Mode by default with an app token', () => {
    expect(readSlackEnv({ SLACK_BOT_TOKEN: BOT, SLACK_APP_TOKEN: APP })).toEqual({
      mode: 'socket',
      botToken: BOT,
      appToken: APP,
      signingSecret: undefined,
      port: 3000,
      apiUrl: undefined,
    });
  });

  it('HTTP mode with a signing secret, PORT and SLACK_API_URL', () => {
    expect(
      readSlackEnv({
        SLACK_MODE: 'http',
        SLACK_BOT_TOKEN: BOT,
        SLACK_SIGNING_SECRET: SECRET,
        PORT: '8080',
        SLACK_API_URL: 'http://127.0.0.1:9999/api',
      }),
    ).toEqual({
      mode: 'http',
      botToken: BOT,
      appToken: undefined,
      signingSecret: SECRET,
      port: 8080,
      apiUrl: 'http://127.0.0.1:9999/api/',
    });
  });

  it('names every missing variable and what it should look like', () => {
    expect(problems({})).toEqual([
      'SLACK_BOT_TOKEN: required: the bot token, xoxb-... (OAuth & Permissions > Bot User OAuth Token)',
      'SLACK_APP_TOKEN: required: an app-level token, xapp-... with the connections:write scope (Basic Information > App-Level Tokens); or set SLACK_MODE=http and SLACK_SIGNING_SECRET to use the HTTP receiver',
    ]);
    expect(problems({ SLACK_MODE: 'http', SLACK_BOT_TOKEN: BOT })).toEqual([
      'SLACK_SIGNING_SECRET: required: the signing secret, 32 hexadecimal characters (Basic Information > App Credentials)',
    ]);
  });

  it('describes malformed values without echoing them', () => {
    const found = problems({
      SLACK_BOT_TOKEN: 'xoxp-user-token-secret',
      SLACK_APP_TOKEN: 'xoxb-wrong-kind-secret',
      SLACK_SIGNING_SECRET: 'not-hex-secret-value',
      SLACK_MODE: 'websocket',
      PORT: 'eighty',
      SLACK_API_URL: 'slack.example',
    });
    expect(found).toEqual([
      'SLACK_MODE: expected socket or http, got "websocket"',
      'SLACK_BOT_TOKEN: expected the bot token, xoxb-... (OAuth & Permissions > Bot User OAuth Token), got a token starting with xoxp-',
      'SLACK_APP_TOKEN: expected an app-level token, xapp-... with the connections:write scope (Basic Information > App-Level Tokens), got a token starting with xoxb-',
      'SLACK_SIGNING_SECRET: expected the signing secret, 32 hexadecimal characters (Basic Information > App Credentials), got 20 characters in another format',
      'PORT: expected a TCP port number (0-65535), got "eighty"',
      'SLACK_API_URL: expected an http(s) URL like https://slack.com/api/, got "slack.example"',
    ]);
    expect(found.join('\n')).not.toMatch(/secret-value|user-token|wrong-kind/);
  });

  it('spots pasted whitespace and quotes', () => {
    expect(problems({ SLACK_BOT_TOKEN: `${BOT}\n`, SLACK_APP_TOKEN: `"${APP}"` })).toEqual([
      'SLACK_BOT_TOKEN: expected the bot token, xoxb-... (OAuth & Permissions > Bot User OAuth Token), got a value with spaces or a newline around it',
      'SLACK_APP_TOKEN: expected an app-level token, xapp-... with the connections:write scope (Basic Information > App-Level Tokens), got a quoted value (remove the quotes)',
    ]);
  });
});
