// `npm start` as operators run it: the built entry point, the environment, a config file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configYaml, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { freePort, waitForPort } from '../helpers/free-port.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';
import { startFakeSlack, type FakeSlack } from '../helpers/slack-fake.js';
import { sendCommand, TEST_SIGNING_SECRET } from '../helpers/slack-sign.js';

const MAIN = resolve('dist/slack/main.js');
const servers = testServers();
let dir: string;
let slack: FakeSlack | undefined;
let child: ChildProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-slack-main-'));
  await writeFile(join(dir, 'dumptruck.yml'), configYaml(servers, uniquePrefix('slack-main'), { 'app-db': { db: 'postgres' } }));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
  await slack?.close();
  slack = undefined;
});

function startMain(env: Record<string, string>): { exited: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  // cwd without a .env, and only the variables given: nothing from the test's own environment.
  child = spawn(process.execPath, [MAIN], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((done) =>
    child!.on('close', (code) => done({ code, stdout, stderr })),
  );
  return { exited };
}

describe('npm start (dist/slack/main.js)', () => {
  it('without Slack variables: exits 1 naming each one and its shape', async () => {
    const { code, stderr } = await startMain({}).exited;
    expect(code).toBe(1);
    expect(stderr).toBe(
      [
        'dumptruck: invalid configuration:',
        '  SLACK_BOT_TOKEN: required: the bot token, xoxb-... (OAuth & Permissions > Bot User OAuth Token)',
        '  SLACK_APP_TOKEN: required: an app-level token, xapp-... with the connections:write scope (Basic Information > App-Level Tokens); or set SLACK_MODE=http and SLACK_SIGNING_SECRET to use the HTTP receiver',
        '',
      ].join('\n'),
    );
  });

  it('with a malformed token: exits 1 without printing it', async () => {
    const { code, stderr } = await startMain({
      SLACK_MODE: 'http',
      SLACK_BOT_TOKEN: 'xoxp-12345-user-secret',
      SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
    }).exited;
    expect(code).toBe(1);
    expect(stderr).toContain(
      'SLACK_BOT_TOKEN: expected the bot token, xoxb-... (OAuth & Permissions > Bot User OAuth Token), got a token starting with xoxp-',
    );
    expect(stderr).not.toContain('user-secret');
  });

  it('without the HMAC key: exits 1 at start, naming the setting and how to make one', async () => {
    const { DUMPTRUCK_HMAC_KEY: _none, ...withoutKey } = servers.env;
    const { code, stderr } = await startMain({
      ...withoutKey,
      SLACK_MODE: 'http',
      SLACK_BOT_TOKEN: TEST_BOT_TOKEN,
      SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
      PORT: String(await freePort()),
    }).exited;
    expect(code).toBe(1);
    expect(stderr).toBe(
      'dumptruck: secret failed: storage.hmacKey: environment variable DUMPTRUCK_HMAC_KEY is not set\n' +
        'generate one with `openssl rand -hex 32`, put it where storage.hmacKey points (default: DUMPTRUCK_HMAC_KEY in the environment or .env), and give every bot and CLI that shares the bucket the same one\n',
    );
  });

  it('with a token Slack rejects: exits 1 saying so', async () => {
    slack = await startFakeSlack({ token: 'xoxb-the-real-one' });
    const { code, stderr } = await startMain({
      ...servers.env,
      SLACK_MODE: 'http',
      SLACK_BOT_TOKEN: TEST_BOT_TOKEN,
      SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      PORT: String(await freePort()),
    }).exited;
    expect(code).toBe(1);
    expect(stderr).toMatch(/^dumptruck: invalid configuration:\n {2}SLACK_BOT_TOKEN: Slack rejected the token \(invalid_auth\)/);
  });

  it('HTTP mode: serves /slack/events on PORT with signature verification, and stops on SIGTERM', async () => {
    slack = await startFakeSlack({ token: TEST_BOT_TOKEN });
    const port = await freePort();
    const { exited } = startMain({
      ...servers.env,
      SLACK_MODE: 'http',
      SLACK_BOT_TOKEN: TEST_BOT_TOKEN,
      SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      PORT: String(port),
      LOG_LEVEL: 'info',
    });
    await waitForPort('127.0.0.1', port, {
      timeoutMs: 15_000,
      failed: () => (child?.exitCode != null ? new Error(`main exited ${child.exitCode}`) : undefined),
    });
    const url = `http://127.0.0.1:${port}/slack/events`;
    const help = await sendCommand(url, TEST_SIGNING_SECRET, { text: 'help', response_url: slack.responseUrl() });
    expect(help.status).toBe(200);
    expect(help.json?.text).toMatch(/^\*dumptruck\* backs up PostgreSQL databases/);
    const forged = await sendCommand(url, 'f'.repeat(32), { text: 'help', response_url: slack.responseUrl() });
    expect(forged.status).toBe(401);
    child!.kill('SIGTERM');
    const { code, stdout } = await exited;
    expect(code).toBe(0);
    expect(stdout).toContain('dumptruck is listening for /backup');
    expect(stdout).not.toContain(TEST_BOT_TOKEN);
  });
});
