// /healthz, /readyz and /metrics on both servers they are mounted on: a server of their own
// (Socket Mode) and Bolt's HTTP receiver (HTTP mode), with the bucket check against versitygw.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel } from '@slack/bolt';
import { afterAll, describe, expect, it } from 'vitest';
import { DumptruckError } from '../../src/errors.js';
import {
  bucketCheck,
  createHealthHandler,
  createMetrics,
  flagCheck,
  healthRoutes,
  observeJob,
  serveHealth,
  type ReadinessCheck,
} from '../../src/observability/index.js';
import { testServers } from '../helpers/fixtures.js';
import { freePort } from '../helpers/free-port.js';

const servers = testServers();
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

function s3Client(endpoint?: string) {
  const client = servers.s3.client(endpoint ? { endpoint, maxAttempts: 1 } : {});
  closers.push(async () => client.destroy());
  return client;
}

async function ownServer(
  checks: Record<string, ReadinessCheck>,
  registry = createMetrics({ defaultMetrics: false }).registry,
): Promise<string> {
  const server = await serveHealth(createHealthHandler({ checks, registry }), 0, '127.0.0.1');
  closers.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function get(url: string, init?: RequestInit): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('health endpoints on their own server (Socket Mode)', () => {
  it('healthz is 200; readyz names what is not ready until everything is; metrics is Prometheus text', async () => {
    const slack = flagCheck({ ok: false, detail: 'Socket Mode not connected yet' });
    const metrics = createMetrics({ defaultMetrics: false });
    const base = await ownServer(
      { config: () => ({ ok: true }), slack, bucket: bucketCheck({ s3: s3Client(), bucket: servers.bucket }) },
      metrics.registry,
    );

    expect(await get(`${base}/healthz`)).toMatchObject({ status: 200, text: '{"status":"ok"}' });

    const notReady = await get(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(JSON.parse(notReady.text)).toEqual({
      status: 'not ready',
      failing: ['slack'],
      checks: { config: { ok: true }, slack: { ok: false, detail: 'Socket Mode not connected yet' }, bucket: { ok: true } },
    });

    slack.set(true);
    const ready = await get(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({
      status: 'ready',
      checks: { config: { ok: true }, slack: { ok: true }, bucket: { ok: true } },
    });

    observeJob(metrics, {
      type: 'failed',
      jobId: 'j1',
      target: 'app-db',
      error: new DumptruckError('CONNECT_FAILED', 'connect', 'refused'),
    });
    const scraped = await get(`${base}/metrics`);
    expect(scraped.status).toBe(200);
    expect(scraped.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(scraped.text).toContain('dumptruck_backups_total{target="app-db",result="failure"} 1');
    expect(scraped.text).toContain('# TYPE dumptruck_queue_depth gauge');
  });

  it('readyz is 503 naming the bucket when the store is unreachable', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const base = await ownServer({ config: () => ({ ok: true }), bucket: bucketCheck({ s3: s3Client(closed), bucket: servers.bucket }) });
    const res = await get(`${base}/readyz`);
    expect(res.status).toBe(503);
    const body = JSON.parse(res.text) as { failing: string[]; checks: { bucket: { detail: string } } };
    expect(body.failing).toEqual(['bucket']);
    expect(body.checks.bucket.detail).toMatch(new RegExp(`^bucket ${servers.bucket}: .*ECONNREFUSED`));
  });

  it('readyz is 503 when the bucket does not exist', async () => {
    const base = await ownServer({ bucket: bucketCheck({ s3: s3Client(), bucket: 'no-such-bucket-here' }) });
    const res = await get(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(res.text).toContain('bucket no-such-bucket-here: no such bucket');
  });

  it('the bucket check costs one HeadBucket per cache period', async () => {
    const s3 = s3Client();
    let heads = 0;
    s3.middlewareStack.add(
      (next) => (args) => {
        heads++;
        return next(args);
      },
      { step: 'initialize' },
    );
    let now = 0;
    const check = bucketCheck({ s3, bucket: servers.bucket, cacheMs: 5000, now: () => now });
    const results = await Promise.all([check(), check(), check()]);
    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    now = 4000;
    await check();
    expect(heads).toBe(1);
    now = 5000;
    await check();
    expect(heads).toBe(2);
  });

  it('a check that hangs or throws fails readiness instead of hanging or crashing it', async () => {
    const server = await serveHealth(
      createHealthHandler({
        checks: {
          stuck: () => new Promise(() => {}),
          broken: () => {
            throw new Error('boom');
          },
        },
        checkTimeoutMs: 100,
      }),
      0,
    );
    closers.push(() => new Promise((r) => server.close(r)));
    const res = await get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text)).toMatchObject({
      failing: ['stuck', 'broken'],
      checks: { stuck: { detail: 'timed out after 100 ms' }, broken: { detail: 'boom' } },
    });
  });

  it('answers HEAD without a body, refuses other methods and unknown paths', async () => {
    const base = await ownServer({});
    const head = await fetch(`${base}/readyz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await get(`${base}/readyz`, { method: 'POST' })).status).toBe(405);
    expect((await get(`${base}/nope`)).status).toBe(404);
  });

  it('serveHealth rejects when the port is taken', async () => {
    const server = await serveHealth(createHealthHandler({ checks: {} }), 0, '127.0.0.1');
    closers.push(() => new Promise((r) => server.close(r)));
    await expect(serveHealth(createHealthHandler({ checks: {} }), (server.address() as AddressInfo).port, '127.0.0.1')).rejects.toThrow(
      /EADDRINUSE/,
    );
  });
});

describe("health endpoints on Bolt's HTTP receiver (HTTP mode)", () => {
  it('serves healthz, readyz and metrics beside /slack/events on one port', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const unreachable = bucketCheck({ s3: s3Client(`http://127.0.0.1:${await freePort()}`), bucket: servers.bucket });
    const reachable = bucketCheck({ s3: s3Client(), bucket: servers.bucket });
    let bucket = unreachable;
    const handler = createHealthHandler({ checks: { bucket: () => bucket() }, registry: metrics.registry });
    const app = new App({
      signingSecret: '8f14e45fceea167a5a36dedd4bea2543',
      // No token, so no auth.test call to Slack: this test is about the HTTP server only.
      authorize: async () => ({ botToken: 'xoxb-test' }),
      logLevel: LogLevel.ERROR,
      customRoutes: healthRoutes(handler),
    });
    const port = await freePort();
    const server = (await app.start(port)) as Server;
    closers.push(() => app.stop());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    expect(await get(`${base}/healthz`)).toMatchObject({ status: 200, text: '{"status":"ok"}' });
    const notReady = await get(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(JSON.parse(notReady.text)).toMatchObject({ status: 'not ready', failing: ['bucket'] });
    bucket = reachable;
    const ready = await get(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({ status: 'ready', checks: { bucket: { ok: true } } });
    const scraped = await get(`${base}/metrics`);
    expect(scraped.status).toBe(200);
    expect(scraped.text).toContain('# TYPE dumptruck_backups_total counter');
    // Bolt still owns its own route, and still checks signatures there.
    expect(
      (await get(`${base}/slack/events`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status,
    ).toBe(401);
  });
});
