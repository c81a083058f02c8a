// The bot as operators run it (`node dist/slack/main.js`, i.e. `npm start`) in a child process:
// its own cwd and config file, only the environment given, stdout and stderr captured, and HTTP
// helpers for its port (/slack/events, /healthz, /readyz, /metrics).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { freePort } from './free-port.js';
import { TEST_BOT_TOKEN } from './slack-bot.js';
import { startFakeSlack, type FakeSlack } from './slack-fake.js';
import { sendButton, sendCommand, TEST_SIGNING_SECRET, type ButtonClick, type SignedResponse } from './slack-sign.js';

export const MAIN = resolve('dist/slack/main.js');

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Date.now() when it exited. */
  readonly at: number;
}

export interface HttpAnswer {
  readonly status: number;
  readonly type: string | null;
  readonly text: string;
  readonly json: Record<string, any> | undefined;
}

export interface BotProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** http://127.0.0.1:PORT */
  readonly base: string;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves when the process has exited; never rejects. */
  readonly exited: Promise<Exit>;
  get(path: string): Promise<HttpAnswer>;
  /** Polls GET `path` until `accept` is true; the last answer is in the error otherwise. */
  waitFor(path: string, accept: (answer: HttpAnswer) => boolean, timeoutMs?: number): Promise<HttpAnswer>;
  /** Sends a signed `/backup {text}` to /slack/events (HTTP mode); later replies land on `responseUrl`. */
  command(
    text: string,
    who?: { readonly user_id?: string; readonly channel_id?: string },
  ): Promise<SignedResponse & { readonly responseUrl: string }>;
  /** Clicks a button of a bot message (HTTP mode); the reply lands on `responseUrl`. */
  button(click: Omit<ButtonClick, 'response_url'>): Promise<SignedResponse & { readonly responseUrl: string }>;
  /** SIGKILL if still running (test cleanup). */
  kill(): void;
}

export function startBotProcess(options: {
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly port: number;
  readonly slack: FakeSlack;
}): BotProcess {
  // Only the variables given: nothing from the test's own environment, no .env in cwd.
  const child = spawn(process.execPath, [MAIN], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<Exit>((done) => child.on('close', (code, signal) => done({ code, signal, at: Date.now() })));
  const base = `http://127.0.0.1:${options.port}`;
  const describeExit = () =>
    `the bot exited ${child.exitCode ?? child.signalCode}; stderr: ${stderr.slice(-2000)}; stdout: ${stdout.slice(-2000)}`;

  const get = async (path: string): Promise<HttpAnswer> => {
    const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(15_000) });
    const text = await res.text();
    let json: Record<string, any> | undefined;
    try {
      json = JSON.parse(text) as Record<string, any>;
    } catch {
      json = undefined;
    }
    return { status: res.status, type: res.headers.get('content-type'), text, json };
  };

  return {
    child,
    pid: child.pid!,
    base,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    get,
    async waitFor(path, accept, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: HttpAnswer | Error | undefined;
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(describeExit());
        try {
          last = await get(path);
          if (accept(last)) return last;
        } catch (err) {
          last = err as Error; // not listening yet
        }
        if (Date.now() > deadline) {
          throw new Error(
            `GET ${path}: not as expected after ${timeoutMs} ms; last: ${last instanceof Error ? last.message : `${last?.status} ${last?.text}`}`,
          );
        }
        await sleep(100);
      }
    },
    async command(text, who = {}) {
      const responseUrl = options.slack.responseUrl();
      const response = await sendCommand(`${base}/slack/events`, TEST_SIGNING_SECRET, { text, response_url: responseUrl, ...who });
      return { ...response, responseUrl };
    },
    async button(click) {
      const responseUrl = options.slack.responseUrl();
      const response = await sendButton(`${base}/slack/events`, TEST_SIGNING_SECRET, { ...click, response_url: responseUrl });
      return { ...response, responseUrl };
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Child processes of `pid` whose command name is `comm` (from /proc; Linux only). */
export async function childProcesses(pid: number, comm: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after the last ')'.
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && name === comm) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Polls until `find` returns a value. */
export async function eventually<T>(
  find: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await find();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

export interface BotStart {
  /** The YAML config, written to a file of its own (DUMPTRUCK_CONFIG). */
  readonly config: string;
  /** Socket Mode with this app token; default HTTP mode. */
  readonly appToken?: string;
  /** The fake Slack accepts only this token; default any. */
  readonly fakeToken?: string;
  /** More environment, e.g. LOG_LEVEL, S3_ENDPOINT. */
  readonly env?: Record<string, string>;
  /** This fake Slack instead of a new one: replicas of a fleet share one workspace. Its starter closes it. */
  readonly slack?: FakeSlack;
}

/**
 * For a test file: a temp dir for configs, and start() for a bot process on a fake Slack and a
 * free port, killed (with its fake Slack closed) after each test.
 */
export function botProcesses(servers: { readonly env: Record<string, string> }): {
  start(options: BotStart): Promise<{ readonly bot: BotProcess; readonly slack: FakeSlack }>;
} {
  let dir: string | undefined;
  let configs = 0;
  const running: Array<{ readonly bot: BotProcess; readonly slack: FakeSlack; readonly ownSlack: boolean }> = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dt-bot-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const { bot, slack, ownSlack } of running.splice(0)) {
      bot.kill();
      if (ownSlack) await slack.close();
    }
  });
  return {
    async start(options) {
      if (!dir) throw new Error('botProcesses: start() is for tests, after beforeAll');
      const config = join(dir, `dumptruck-${++configs}.yml`);
      await writeFile(config, options.config);
      const slack = options.slack ?? (await startFakeSlack(options.fakeToken ? { token: options.fakeToken } : {}));
      const port = await freePort();
      const env = {
        ...servers.env,
        ...(options.appToken ? { SLACK_APP_TOKEN: options.appToken } : { SLACK_MODE: 'http', SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET }),
        SLACK_BOT_TOKEN: TEST_BOT_TOKEN,
        SLACK_API_URL: slack.apiUrl,
        PORT: String(port),
        DUMPTRUCK_CONFIG: config,
        LOG_LEVEL: 'info',
        ...options.env,
      };
      const bot = startBotProcess({ cwd: dir, env, port, slack });
      running.push({ bot, slack, ownSlack: !options.slack });
      return { bot, slack };
    },
  };
}
