import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CustomRoute } from '@slack/bolt';
import { describeCause } from '../errors.js';
import { checkBucket } from '../pipeline/upload.js';
import type { Registry } from 'prom-client';

// /healthz, /readyz and /metrics as one plain node:http handler, so that the same code serves them
// on Bolt's HTTP receiver (customRoutes) and on a server of its own in Socket Mode.

export interface CheckResult {
  readonly ok: boolean;
  /** Why not ready, shown in /readyz's body. Never a secret. */
  readonly detail?: string;
}

export type ReadinessCheck = () => CheckResult | Promise<CheckResult>;

export interface HealthOptions {
  /** Readiness checks by name, e.g. { config, slack, bucket }; /readyz is 200 only when all pass. */
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  /** Served at /metrics; without it /metrics answers 404. */
  readonly registry?: Registry;
  /** A check that takes longer fails with "timed out". Default 5000 ms. */
  readonly checkTimeoutMs?: number;
}

export type HealthHandler = (req: IncomingMessage, res: ServerResponse) => void;

export const HEALTH_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

export function createHealthHandler(options: HealthOptions): HealthHandler {
  const timeoutMs = options.checkTimeoutMs ?? 5000;
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!(HEALTH_PATHS as readonly string[]).includes(path)) return send(res, req, 404, 'application/json', '{"error":"not found"}');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, req, 405, 'application/json', '{"error":"method not allowed"}');
    }
    respond(path).then(
      ({ status, type, body }) => send(res, req, status, type, body),
      (err: unknown) => send(res, req, 500, 'application/json', JSON.stringify({ error: describeCause(err) })),
    );
  };

  async function respond(path: string): Promise<{ status: number; type: string; body: string }> {
    if (path === '/healthz') return { status: 200, type: 'application/json', body: '{"status":"ok"}' };
    if (path === '/metrics') {
      if (!options.registry) return { status: 404, type: 'application/json', body: '{"error":"metrics are not enabled"}' };
      return { status: 200, type: options.registry.contentType, body: await options.registry.metrics() };
    }
    const names = Object.keys(options.checks);
    const results = await Promise.all(names.map((name) => runCheck(options.checks[name]!, timeoutMs)));
    const checks = Object.fromEntries(names.map((name, i) => [name, results[i]!]));
    const failing = names.filter((_, i) => !results[i]!.ok);
    const body = { status: failing.length === 0 ? 'ready' : 'not ready', ...(failing.length > 0 ? { failing } : {}), checks };
    return { status: failing.length === 0 ? 200 : 503, type: 'application/json', body: JSON.stringify(body) };
  }
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve().then(check), timeout]);
  } catch (err) {
    return { ok: false, detail: describeCause(err) };
  } finally {
    clearTimeout(timer);
  }
}

function send(res: ServerResponse, req: IncomingMessage, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The handler as Bolt custom routes (HTTP mode: App({ customRoutes })). */
export function healthRoutes(handler: HealthHandler): CustomRoute[] {
  return HEALTH_PATHS.map((path) => ({ path, method: ['GET', 'HEAD'], handler }));
}

/**
 * The handler on a server of its own (Socket Mode, where Bolt has no HTTP server of ours).
 * Resolves once listening; rejects if the port is taken.
 */
export function serveHealth(handler: HealthHandler, port: number, host?: string): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}

/** A check whose state the app sets, e.g. Slack's connection: slack.set(true) on 'connected'. */
export interface FlagCheck extends ReadinessCheck {
  set(ok: boolean, detail?: string): void;
}

export function flagCheck(initial: CheckResult): FlagCheck {
  let state: CheckResult = initial;
  const check = (() => state) as FlagCheck;
  check.set = (ok, detail) => {
    state = detail === undefined ? { ok } : { ok, detail };
  };
  return check;
}

export interface BucketCheckOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  /** A result is reused this long, so probes every few seconds cost one HeadBucket. Default 5000 ms. */
  readonly cacheMs?: number;
  /** Milliseconds; default Date.now. */
  readonly now?: () => number;
}

/** HeadBucket with the bot's credentials: the bucket exists and may be used. Cached briefly. */
export function bucketCheck(options: BucketCheckOptions): ReadinessCheck {
  const cacheMs = options.cacheMs ?? 5000;
  const now = options.now ?? Date.now;
  let cached: { result: CheckResult; at: number } | undefined;
  let inflight: Promise<CheckResult> | undefined;
  return () => {
    if (cached && now() - cached.at < cacheMs) return cached.result;
    inflight ??= checkBucket(options.s3, options.bucket)
      .then(
        (): CheckResult => ({ ok: true }),
        // checkBucket's message already says which bucket and why (no such bucket, access denied, unreachable).
        (err: unknown): CheckResult => ({ ok: false, detail: err instanceof Error ? err.message : String(err) }),
      )
      .then((result) => {
        cached = { result, at: now() };
        inflight = undefined;
        return result;
      });
    return inflight;
  };
}
