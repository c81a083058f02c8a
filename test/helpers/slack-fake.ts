// A recording fake of the Slack Web API on a free loopback port, reached through SLACK_API_URL,
// plus response_url endpoints (Bolt's respond() POSTs JSON there). Tests read what the bot
// said, and make a method answer 429 with Retry-After or an error to see that it copes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ApiCall {
  readonly method: string;
  /** Form fields, with JSON-valued ones (blocks) parsed. */
  readonly args: Record<string, any>;
  readonly token: string | undefined;
  readonly at: number;
  /** What the fake answered: ok, or the injected error / status. */
  readonly outcome: 'ok' | string;
  /** chat.postMessage: the ts it returned. */
  readonly ts?: string;
}

export interface ResponsePost {
  readonly url: string;
  readonly body: Record<string, any>;
  readonly at: number;
}

export type Failure = { readonly status: 429; readonly retryAfter: number } | { readonly status: 500 } | { readonly error: string };

export interface FakeSlack {
  /** For SLACK_API_URL. */
  readonly apiUrl: string;
  readonly calls: ApiCall[];
  readonly responses: ResponsePost[];
  /** A fresh response_url for one slash command or action. */
  responseUrl(): string;
  /** Makes the next `times` calls of `method` fail. */
  fail(method: string, failure: Failure, times?: number): void;
  /** chat.postMessage into these channels answers not_in_channel, like a channel the bot was never invited to. */
  notInChannel(channel: string): void;
  /** Calls of a method that succeeded, in order. */
  ok(method: string): ApiCall[];
  /** Resolves with the first call (past or future) that matches. */
  waitForCall(predicate: (call: ApiCall) => boolean, timeoutMs?: number): Promise<ApiCall>;
  waitForResponse(url: string, timeoutMs?: number): Promise<ResponsePost>;
  close(): Promise<void>;
}

export interface FakeSlackOptions {
  /** Calls with another bearer token get invalid_auth. Default: any token. */
  readonly token?: string;
}

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const calls: ApiCall[] = [];
  const responses: ResponsePost[] = [];
  const failures = new Map<string, Failure[]>();
  const deniedChannels = new Set<string>();
  const watchers = new Set<() => void>();
  let ts = 0;
  let responseIds = 0;

  const notify = () => {
    for (const w of [...watchers]) w();
  };

  const handleApi = (method: string, args: Record<string, any>, token: string | undefined, res: ServerResponse) => {
    const queued = failures.get(method);
    const failure = queued?.shift();
    const record = (outcome: string, ts?: string) => {
      calls.push({ method, args, token, at: Date.now(), outcome, ...(ts ? { ts } : {}) });
      notify();
    };
    if (failure) {
      if ('status' in failure) {
        record(`HTTP ${failure.status}`);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (failure.status === 429) headers['retry-after'] = String(failure.retryAfter);
        res
          .writeHead(failure.status, headers)
          .end(JSON.stringify({ ok: false, error: failure.status === 429 ? 'ratelimited' : 'internal_error' }));
      } else {
        record(failure.error);
        json(res, { ok: false, error: failure.error });
      }
      return;
    }
    if (options.token !== undefined && token !== options.token) {
      record('invalid_auth');
      json(res, { ok: false, error: 'invalid_auth' });
      return;
    }
    const channel = String(args.channel ?? '');
    switch (method) {
      case 'auth.test':
        record('ok');
        return json(res, {
          ok: true,
          url: 'https://fake.slack.com/',
          team: 'Fake',
          user: 'dumptruck',
          team_id: 'T0FAKE',
          user_id: 'U0BOT',
          bot_id: 'B0BOT',
        });
      case 'chat.postMessage': {
        if (deniedChannels.has(channel)) {
          record('not_in_channel');
          return json(res, { ok: false, error: 'not_in_channel' });
        }
        const messageTs = `${1_700_000_000 + ++ts}.000100`;
        record('ok', messageTs);
        return json(res, { ok: true, channel, ts: messageTs, message: { text: args.text, ts: messageTs } });
      }
      case 'chat.update':
        record('ok');
        return json(res, { ok: true, channel, ts: args.ts, text: args.text });
      case 'chat.postEphemeral':
        record('ok');
        return json(res, { ok: true, message_ts: `${1_700_000_000 + ++ts}.000200` });
      case 'views.open':
        record('ok');
        return json(res, { ok: true, view: { id: `V${++ts}`, ...(args.view as object) } });
      case 'chat.getPermalink':
        record('ok');
        return json(res, {
          ok: true,
          channel,
          permalink: `https://fake.slack.com/archives/${channel}/p${String(args.message_ts).replace('.', '')}`,
        });
      default:
        record('unknown_method');
        return json(res, { ok: false, error: 'unknown_method' });
    }
  };

  const server: Server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const path = new URL(req.url ?? '/', 'http://fake').pathname;
      if (path.startsWith('/api/')) {
        const auth = req.headers.authorization;
        handleApi(
          path.slice('/api/'.length),
          parseArgs(body, req.headers['content-type']),
          auth?.startsWith('Bearer ') ? auth.slice(7) : undefined,
          res,
        );
      } else if (path.startsWith('/response/')) {
        responses.push({ url: `${base}${path}`, body: JSON.parse(body || '{}') as Record<string, any>, at: Date.now() });
        notify();
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const waitFor = <T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = find();
        if (found === undefined) return;
        watchers.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(
          new Error(
            `fake Slack: no ${what} within ${timeoutMs} ms; calls so far: ${calls.map((c) => `${c.method}(${c.outcome})`).join(', ')}`,
          ),
        );
      }, timeoutMs);
      watchers.add(check);
      check();
    });

  return {
    apiUrl: `${base}/api/`,
    calls,
    responses,
    responseUrl: () => `${base}/response/${++responseIds}`,
    fail(method, failure, times = 1) {
      const list = failures.get(method) ?? [];
      for (let i = 0; i < times; i++) list.push(failure);
      failures.set(method, list);
    },
    notInChannel: (channel) => void deniedChannels.add(channel),
    ok: (method) => calls.filter((c) => c.method === method && c.outcome === 'ok'),
    waitForCall: (predicate, timeoutMs = 10_000) => waitFor(() => calls.find(predicate), 'matching call', timeoutMs),
    waitForResponse: (url, timeoutMs = 10_000) => waitFor(() => responses.find((r) => r.url === url), `POST to ${url}`, timeoutMs),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** The WebClient posts form fields and JSON-encodes object-valued ones (blocks, attachments). */
function parseArgs(body: string, contentType: string | undefined): Record<string, any> {
  if (contentType?.includes('application/json')) return JSON.parse(body || '{}') as Record<string, any>;
  const args: Record<string, any> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    args[key] = /^[[{]/.test(value) ? tryJson(value) : value;
  }
  return args;
}

function tryJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
