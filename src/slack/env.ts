import type { Env } from '../config/load.js';
import { ConfigError } from '../errors.js';

// The Slack half of the environment, checked before anything connects: a wrong token should
// stop start-up with the variable's name and the expected shape, not fail on the first command.

export interface SlackEnv {
  readonly mode: 'socket' | 'http';
  readonly botToken: string;
  /** Socket Mode only. */
  readonly appToken: string | undefined;
  /** HTTP mode only. */
  readonly signingSecret: string | undefined;
  /** HTTP mode: Bolt's receiver; both modes: health routes, when added. Default 3000. */
  readonly port: number;
  /** Web API base URL; undefined: Slack's. */
  readonly apiUrl: string | undefined;
}

const BOT_TOKEN = /^xoxb-[A-Za-z0-9-]+$/;
const APP_TOKEN = /^xapp-[A-Za-z0-9-]+$/;
const SIGNING_SECRET = /^[0-9a-f]{32}$/i;

/** Every problem at once, as a ConfigError naming each variable. Never echoes a secret. */
export function readSlackEnv(env: Env): SlackEnv {
  const problems: string[] = [];
  const value = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const check = (name: string, pattern: RegExp, expected: string, required: boolean, ifMissing = ''): string | undefined => {
    const v = value(name);
    if (v === undefined) {
      if (required) problems.push(`${name}: required: ${expected}${ifMissing}`);
      return undefined;
    }
    if (!pattern.test(v)) problems.push(`${name}: expected ${expected}, got ${shape(v)}`);
    return v;
  };

  const rawMode = value('SLACK_MODE')?.toLowerCase();
  if (rawMode !== undefined && rawMode !== 'socket' && rawMode !== 'http') {
    problems.push(`SLACK_MODE: expected socket or http, got ${JSON.stringify(value('SLACK_MODE'))}`);
  }
  const mode = rawMode === 'http' ? 'http' : 'socket';

  const botToken = check('SLACK_BOT_TOKEN', BOT_TOKEN, 'the bot token, xoxb-... (OAuth & Permissions > Bot User OAuth Token)', true);
  const appToken = check(
    'SLACK_APP_TOKEN',
    APP_TOKEN,
    'an app-level token, xapp-... with the connections:write scope (Basic Information > App-Level Tokens)',
    mode === 'socket',
    rawMode === undefined ? '; or set SLACK_MODE=http and SLACK_SIGNING_SECRET to use the HTTP receiver' : '',
  );
  const signingSecret = check(
    'SLACK_SIGNING_SECRET',
    SIGNING_SECRET,
    'the signing secret, 32 hexadecimal characters (Basic Information > App Credentials)',
    mode === 'http',
  );

  let port = 3000;
  const rawPort = value('PORT');
  if (rawPort !== undefined) {
    port = Number(rawPort);
    if (!/^\d+$/.test(rawPort) || port > 65535) problems.push(`PORT: expected a TCP port number (0-65535), got ${JSON.stringify(rawPort)}`);
  }

  const apiUrl = value('SLACK_API_URL');
  if (apiUrl !== undefined && !/^https?:\/\/[^\s/]+/.test(apiUrl)) {
    problems.push(`SLACK_API_URL: expected an http(s) URL like https://slack.com/api/, got ${JSON.stringify(apiUrl)}`);
  }

  if (problems.length > 0 || botToken === undefined) throw new ConfigError(problems);
  return {
    mode,
    botToken,
    appToken: mode === 'socket' ? appToken : undefined,
    signingSecret: mode === 'http' ? signingSecret : undefined,
    port,
    apiUrl: apiUrl === undefined ? undefined : apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`,
  };
}

/** What a wrong value looks like without showing it: its kind of token, or only its length. */
function shape(v: string): string {
  if (v !== v.trim()) return 'a value with spaces or a newline around it';
  if (/^["']/.test(v)) return 'a quoted value (remove the quotes)';
  const prefix = /^(xox[a-z]|xapp)-/.exec(v)?.[0];
  if (prefix) return `a token starting with ${prefix}`;
  return `${v.length} characters in another format`;
}
