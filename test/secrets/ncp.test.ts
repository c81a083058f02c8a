// NAVER Cloud Secret Manager as a password source, against a local stand-in for its API Gateway
// that checks the signature as the API documents it and serves a secret chain.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PasswordSource } from '../../src/config/schema.js';
import { SecretCache, resolvePassword } from '../../src/secrets/index.js';
import { ncpSecretUrl } from '../../src/secrets/ncp.js';
import { freePort } from '../helpers/free-port.js';
import { rejection } from '../helpers/rejection.js';

const ACCESS_KEY = 'NCPTESTACCESSKEY0001';
const SECRET_KEY = 'ncp-test-secret-key-do-not-use';
const env = { NCLOUD_ACCESS_KEY: ACCESS_KEY, NCLOUD_SECRET_KEY: SECRET_KEY };

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly timestamp: string;
}

/** secretId -> ACTIVE value; `previous` holds what a rotation replaced. */
const chains = new Map<string, { active: string; previous?: string }>();
const seen: Seen[] = [];
let server: Server;
let endpoint: string;

// Written from the API Gateway docs, independently of src/secrets/ncp.ts:
// base64(HmacSHA256(secretKey, method + " " + url + "\n" + timestamp + "\n" + accessKey)), url = path + query.
function expectedSignature(req: IncomingMessage, timestamp: string, accessKey: string): Buffer {
  const message = `${req.method} ${req.url}\n${timestamp}\n${accessKey}`;
  return createHmac('sha256', SECRET_KEY).update(message, 'utf8').digest();
}

function handle(req: IncomingMessage): { status: number; body: unknown } {
  const timestamp = String(req.headers['x-ncp-apigw-timestamp'] ?? '');
  const accessKey = String(req.headers['x-ncp-iam-access-key'] ?? '');
  const signature = Buffer.from(String(req.headers['x-ncp-apigw-signature-v2'] ?? ''), 'base64');
  const unauthorized = {
    status: 401,
    body: { error: { errorCode: '200', message: 'Authentication Failed', details: 'Invalid authentication information.' } },
  };
  if (!/^\d{13}$/.test(timestamp) || accessKey !== ACCESS_KEY) return unauthorized;
  const expected = expectedSignature(req, timestamp, accessKey);
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return unauthorized;
  seen.push({ method: req.method ?? '', url: req.url ?? '', timestamp });

  const m = /^(?:\/secretmanager)?\/api\/v1\/secrets\/([^/?]+)\/values$/.exec(req.url ?? '');
  if (req.method !== 'GET' || !m) return { status: 404, body: { error: { errorCode: 'NOT_FOUND', message: 'Not found' } } };
  const chain = chains.get(decodeURIComponent(m[1]!));
  if (!chain) return { status: 404, body: { error: { errorCode: 'NOT_FOUND', message: 'Not found', details: 'secret not found' } } };
  return {
    status: 200,
    body: {
      code: 'SUCCESS',
      data: { decryptedSecretChain: { previous: chain.previous ?? chain.active, active: chain.active }, rotationTargets: ['password'] },
    },
  };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const { status, body } = handle(req);
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const source = (secretId: string, extra: { key?: string; cacheTtl?: number; endpoint?: string } = {}): PasswordSource => ({
  ncpSecretManager: { secretId, key: extra.key ?? 'password', endpoint: extra.endpoint ?? endpoint, cacheTtl: extra.cacheTtl ?? 60_000 },
});

describe('NAVER Cloud Secret Manager password source', () => {
  it('signs the request as documented and reads a key of the ACTIVE value', async () => {
    chains.set('Abc123', { active: JSON.stringify({ username: 'backup', password: 'ncp-pass-1' }) });
    const now = 1_767_225_600_123;
    const value = await resolvePassword('app', source('Abc123'), { env, now: () => now, cache: new SecretCache() });
    expect(value).toBe('ncp-pass-1');
    expect(seen.at(-1)).toEqual({ method: 'GET', url: '/api/v1/secrets/Abc123/values', timestamp: String(now) });
  });

  it('signs the full path when the endpoint has one (region-isolated API: /secretmanager/...)', async () => {
    chains.set('Regional1', { active: JSON.stringify({ password: 'regional-pass' }) });
    const value = await resolvePassword('app', source('Regional1', { endpoint: `${endpoint}/secretmanager/` }), {
      env,
      cache: new SecretCache(),
    });
    expect(value).toBe('regional-pass');
    expect(seen.at(-1)?.url).toBe('/secretmanager/api/v1/secrets/Regional1/values');
  });

  it('picks the documented endpoints from region', () => {
    expect(ncpSecretUrl({ secretId: 'x', key: 'k' }).href).toBe('https://secretmanager.apigw.ntruss.com/api/v1/secrets/x/values');
    expect(ncpSecretUrl({ secretId: 'x', key: 'k', region: 'kr' }).href).toBe(
      'https://ocapi-kr.ncloud.com/secretmanager/api/v1/secrets/x/values',
    );
    expect(ncpSecretUrl({ secretId: 'x', key: 'k', region: 'JPN' }).href).toBe(
      'https://ocapi-jp.ncloud.com/secretmanager/api/v1/secrets/x/values',
    );
  });

  it('a wrong secret key is refused by the gateway and reported without the key', async () => {
    chains.set('Abc123', { active: JSON.stringify({ password: 'ncp-pass-1' }) });
    const err = await rejection(
      resolvePassword('app', source('Abc123'), { env: { ...env, NCLOUD_SECRET_KEY: 'wrong-secret-key' }, cache: new SecretCache() }),
    );
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.stage).toBe('secret');
    expect(err.message).toContain('NAVER Cloud Secret Manager secret "Abc123"');
    expect(err.message).toContain('HTTP 401, 200: Authentication Failed');
    expect(err.message).not.toContain('wrong-secret-key');
  });

  it('missing credentials say which variables to set', async () => {
    const err = await rejection(resolvePassword('app', source('Abc123'), { env: {}, cache: new SecretCache() }));
    expect(err.message).toContain('NCLOUD_ACCESS_KEY and NCLOUD_SECRET_KEY must be set');
  });

  it('a secret that does not exist fails with SECRET_UNAVAILABLE naming the secret', async () => {
    const err = await rejection(resolvePassword('db1', source('Missing9'), { env, cache: new SecretCache() }));
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.message).toMatch(
      /^targets\.db1\.password: NAVER Cloud Secret Manager secret "Missing9" at http:\/\/127\.0\.0\.1:\d+: no such secret \(HTTP 404, NOT_FOUND: Not found\)$/,
    );
  });

  it('a missing key names the keys present, never the values', async () => {
    chains.set('Keys1', { active: JSON.stringify({ user: 'backup', pw: 'value-that-must-not-leak' }) });
    const err = await rejection(resolvePassword('app', source('Keys1'), { env, cache: new SecretCache() }));
    expect(err.message).toContain('its ACTIVE value has no key "password" (keys: "user", "pw")');
    expect(err.message).not.toContain('value-that-must-not-leak');
  });

  it('a rotation is picked up once the cached value is older than cacheTtl (injected clock)', async () => {
    chains.set('Rot1', { active: JSON.stringify({ password: 'before-rotation' }) });
    let now = 1_767_225_600_000;
    const deps = { env, now: () => now, cache: new SecretCache() };
    const src = source('Rot1', { cacheTtl: 60_000 });
    const requests = () => seen.filter((s) => s.url.includes('/Rot1/')).length;

    expect(await resolvePassword('app', src, deps)).toBe('before-rotation');
    chains.set('Rot1', {
      active: JSON.stringify({ password: 'after-rotation' }),
      previous: JSON.stringify({ password: 'before-rotation' }),
    });
    now += 30_000;
    expect(await resolvePassword('app', src, deps)).toBe('before-rotation');
    expect(requests()).toBe(1);
    now += 31_000;
    expect(await resolvePassword('app', src, deps)).toBe('after-rotation');
    expect(requests()).toBe(2);
    // The signed timestamp is the injected clock's, so a skewed clock shows up as a 401, not silently.
    expect(seen.at(-1)?.timestamp).toBe(String(now));
  });

  it('cacheTtl 0 fetches for every job', async () => {
    chains.set('NoCache', { active: JSON.stringify({ password: 'x1' }) });
    const deps = { env, cache: new SecretCache() };
    await resolvePassword('app', source('NoCache', { cacheTtl: 0 }), deps);
    await resolvePassword('app', source('NoCache', { cacheTtl: 0 }), deps);
    expect(seen.filter((s) => s.url.includes('/NoCache/')).length).toBe(2);
  });

  it('an unreachable gateway fails the job, naming where', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const err = await rejection(resolvePassword('app', source('Abc123', { endpoint: closed }), { env, cache: new SecretCache() }));
    expect(err.message).toBe(`targets.app.password: NAVER Cloud Secret Manager secret "Abc123" at ${closed}: unreachable (ECONNREFUSED)`);
  });
});
