import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { DumptruckError } from '../../src/errors.js';
import { secretsInEnv } from '../../src/redact.js';
import { resolveHmacKey } from '../../src/secrets/index.js';

const KEY = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const HINT =
  'generate one with `openssl rand -hex 32`, put it where storage.hmacKey points (default: DUMPTRUCK_HMAC_KEY in the environment or .env), and give every bot and CLI that shares the bucket the same one';

async function failure(promise: Promise<unknown>): Promise<DumptruckError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DumptruckError);
  return err as DumptruckError;
}

describe('storage.hmacKey', () => {
  it('defaults to DUMPTRUCK_HMAC_KEY, and takes the same sources as passwords', () => {
    const yaml = (extra: string) => `storage:\n  bucket: backups\n${extra}targets:\n  app:\n    url: postgres://b@db:5432/app\n`;
    expect(parseConfig(yaml(''), {}).storage.hmacKey).toEqual({ env: 'DUMPTRUCK_HMAC_KEY' });
    expect(parseConfig(yaml('  hmacKey: { file: /run/secrets/hmac }\n'), {}).storage.hmacKey).toEqual({ file: '/run/secrets/hmac' });
    expect(() => parseConfig(yaml('  hmacKey: abc\n'), {})).toThrow(/storage\.hmacKey: expected \{ env: VAR_NAME \}/);
  });

  it('resolves from the environment or a file', async () => {
    expect(await resolveHmacKey({ env: 'DUMPTRUCK_HMAC_KEY' }, { env: { DUMPTRUCK_HMAC_KEY: KEY } })).toBe(KEY);
    expect(await resolveHmacKey({ file: '/k' }, { env: {}, readFile: async () => `${KEY}\n` })).toBe(KEY);
  });

  it('missing: a clear error naming the setting, the variable and how to make a key', async () => {
    const err = await failure(resolveHmacKey({ env: 'DUMPTRUCK_HMAC_KEY' }, { env: {} }));
    expect(err).toMatchObject({
      code: 'SECRET_UNAVAILABLE',
      stage: 'secret',
      message: 'storage.hmacKey: environment variable DUMPTRUCK_HMAC_KEY is not set',
      hint: HINT,
    });
  });

  it('too short: refused, without echoing it', async () => {
    const err = await failure(resolveHmacKey({ env: 'K' }, { env: { K: 'short-key-1234' } }));
    expect(err).toMatchObject({
      code: 'SECRET_UNAVAILABLE',
      message: 'storage.hmacKey: the key is 14 characters long; at least 32 are needed',
      hint: HINT,
    });
  });

  it('is redacted from logs like the other secrets in the environment', () => {
    expect(secretsInEnv({ DUMPTRUCK_HMAC_KEY: KEY, PATH: '/bin' })).toEqual([KEY]);
  });
});
