// Every backup is signed at finish (x-amz-meta-dumptruck-hmac over its key and SHA-256), and a
// run that could not sign never starts pg_dump: an unsigned backup would be one nobody restores.
import { beforeAll, describe, expect, it } from 'vitest';
import { DumptruckError } from '../../src/errors.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { backupHmac } from '../../src/storage/hmac.js';
import { seedDatabase, TEST_HMAC_KEY, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { getManifest } from '../helpers/objects.js';

const servers = testServers();
const prefix = uniquePrefix('signing');
const s3 = servers.s3.client();
const config = testConfig(servers, prefix, { signed: { db: 'signing_src' }, custom: { db: 'signing_src', format: 'custom' } });
const trigger = { kind: 'cli', by: 'tester' } as const;

beforeAll(async () => {
  await seedDatabase(servers.pg, 'signing_src', 100);
}, 60_000);

describe('signing backups', () => {
  it('records the HMAC of the key and SHA-256 in the manifest, plain and custom', async () => {
    const run = createBackupRunner({ config, s3, env: servers.env });
    for (const target of ['signed', 'custom']) {
      const result = await run({ target, trigger });
      const manifest = await getManifest(s3, servers.bucket, result.key);
      expect(manifest.hmac).toBe(backupHmac(TEST_HMAC_KEY, result.key, result.sha256));
      expect(manifest.sha256).toBe(result.sha256);
    }
  });

  it('without the key, fails before pg_dump starts and stores nothing, with the fix in the hint', async () => {
    const run = createBackupRunner({ config, s3, env: { ...servers.env, DUMPTRUCK_HMAC_KEY: 'too-short' } });
    const events: string[] = [];
    const before = await servers.s3.listKeys(servers.bucket, `${prefix}/signed/`);
    const err = await run({ target: 'signed', trigger }, { onEvent: (e) => events.push(e.type) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DumptruckError);
    expect(err).toMatchObject({
      code: 'SECRET_UNAVAILABLE',
      message: 'storage.hmacKey: the key is 9 characters long; at least 32 are needed',
      hint: expect.stringContaining('openssl rand -hex 32'),
    });
    expect(events).not.toContain('started');
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/signed/`)).toEqual(before);
  });
});
