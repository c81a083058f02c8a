// zstd end to end against PostgreSQL and versitygw: the stored object, its restore with the zstd
// tool, the read side (list, link, verify) and pg_dump's own zstd for custom archives.
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DumptruckError } from '../../src/errors.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { locatePgDump } from '../../src/pipeline/probe.js';
import { createCatalog } from '../../src/storage/catalog.js';
import { objectKey } from '../../src/storage/keys.js';
import { verifyBackup } from '../../src/verify/verify.js';
import { restoreFromUrl, seedDatabase, tableDigests, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { getBytes, getManifest, honestManifest, putBackup } from '../helpers/objects.js';

const servers = testServers();
const SRC = 'zstd_src';
const prefix = uniquePrefix('zstd');
const env = { ...servers.env, SCRATCH_PW: servers.pg.superuser.password };
const config = testConfig(
  servers,
  prefix,
  {
    plain: { db: SRC, extra: 'compression: { algorithm: zstd }' },
    custom: { db: SRC, format: 'custom', extra: 'compression: { algorithm: zstd, level: 5 }' },
  },
  `verify:\n  restoreUrl: ${servers.pg.url('postgres', servers.pg.superuser.user)}\n  password: { env: SCRATCH_PW }\n`,
);
const s3 = servers.s3.client();
const run = createBackupRunner({ config, s3, env });
const catalog = createCatalog({ s3, storage: config.storage, env: servers.env });
const backup = (target: string) => run({ target, trigger: { kind: 'cli', by: 'tester' } });

async function verifyError(key: string, restore: boolean): Promise<DumptruckError | undefined> {
  return verifyBackup({ config, s3, env }, 'plain', key, { restore }).then(
    () => undefined,
    (err: unknown) => err as DumptruckError,
  );
}

beforeAll(async () => {
  await seedDatabase(servers.pg, SRC, 200_000);
}, 120_000);

describe('zstd backups', () => {
  it('a plain zstd backup is a .sql.zst object (application/zstd, no Content-Encoding) that the zstd tool restores equal', async () => {
    const result = await backup('plain');
    expect(result.key).toMatch(new RegExp(`^${prefix}/plain/\\d{4}/\\d{2}/\\d{2}/plain_\\d{8}T\\d{6}Z-\\d{3}-[0-9a-f]{6}\\.sql\\.zst$`));
    expect(result.compression).toEqual({ algorithm: 'zstd', level: 3 });
    expect(result.storedBytes).toBeLessThan(result.dumpedBytes / 3);

    const head = await s3.send(new HeadObjectCommand({ Bucket: servers.bucket, Key: result.key }));
    expect(head.ContentType).toBe('application/zstd');
    expect(head.ContentEncoding).toBeUndefined();
    expect(head.Metadata).toMatchObject({ compression: 'zstd:3', format: 'plain' });
    expect(await getManifest(s3, servers.bucket, result.key)).toMatchObject({
      compression: { algorithm: 'zstd', level: 3 },
      sha256: result.sha256,
    });

    // The read side finds it like any backup.
    expect((await catalog.list('plain')).map((o) => o.key)).toContain(result.key);
    expect((await catalog.resolve('plain', 'latest')).key).toBe(result.key);

    await restoreFromUrl(servers.pg, (await catalog.link(result.key)).url, 'plain', 'zstd_restored');
    expect(await tableDigests(servers.pg, 'zstd_restored')).toEqual(await tableDigests(servers.pg, SRC));
    await servers.pg.dropDatabase('zstd_restored');

    const report = await verifyBackup({ config, s3, env }, 'plain', result.key, { restore: true });
    expect(report).toMatchObject({ key: result.key, sha256: result.sha256, dumpedBytes: result.dumpedBytes, restore: { rows: 200_505 } });
    expect(report.checks).toContain('zstd -d | psql -v ON_ERROR_STOP=1 restored it');
  });

  it('verify catches a flipped byte and a zstd object cut short', async () => {
    const good = await backup('plain');
    const bytes = await getBytes(s3, servers.bucket, good.key);
    const meta = await getManifest(s3, servers.bucket, good.key);
    const planted = (seconds: number) =>
      objectKey(prefix, 'plain', new Date(Date.UTC(2020, 0, 1, 0, 0, seconds)), 'plain', { algorithm: 'zstd' });

    const flipped = Buffer.from(bytes);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
    await putBackup(s3, servers.bucket, planted(1), flipped, meta);
    expect(await verifyError(planted(1), false)).toMatchObject({
      code: 'CORRUPTED',
      message: expect.stringMatching(/SHA-256 of the stored bytes/),
    });
    // With a manifest that matches the damage, the frame checks find it.
    await putBackup(s3, servers.bucket, planted(2), flipped, honestManifest(meta, flipped));
    expect(await verifyError(planted(2), false)).toMatchObject({
      code: 'CORRUPTED',
      message: expect.stringMatching(/the zstd stream does not decompress/),
    });

    const cut = bytes.subarray(0, Math.floor(bytes.length * 0.7));
    await putBackup(s3, servers.bucket, planted(3), cut, meta);
    expect(await verifyError(planted(3), false)).toMatchObject({
      code: 'TRUNCATED',
      message: `${planted(3)} is ${cut.length} bytes, but ${bytes.length} were stored: the object was cut short`,
    });
    await putBackup(s3, servers.bucket, planted(4), cut, honestManifest(meta, cut));
    for (const restore of [false, true]) {
      expect(await verifyError(planted(4), restore)).toMatchObject({
        code: 'TRUNCATED',
        message: `${planted(4)}: the zstd stream ends early (unexpected end of file): the object was cut short`,
      });
    }
  });

  it('a custom archive asks pg_dump for zstd, which pg_dump 16+ does and an older one is refused before dumping', async () => {
    // Which path runs depends on the machine's pg_dump; the backup starts only once that is known,
    // so its refusal is never an unhandled rejection.
    const major = (await locatePgDump(undefined)).major;
    const started = backup('custom');
    if (major >= 16) {
      const result = await started;
      expect(result.key).toMatch(/\.dump$/);
      expect(result.compression).toEqual({ algorithm: 'zstd', level: 5 });
      await restoreFromUrl(servers.pg, (await catalog.link(result.key)).url, 'custom', 'zstd_restored_custom');
      expect(await tableDigests(servers.pg, 'zstd_restored_custom')).toEqual(await tableDigests(servers.pg, SRC));
      await servers.pg.dropDatabase('zstd_restored_custom');
      return;
    }
    await expect(started).rejects.toMatchObject({
      code: 'PG_DUMP_TOO_OLD',
      stage: 'version',
      message: expect.stringMatching(/cannot compress a custom-format archive with zstd: that needs pg_dump 16 or newer/),
    });
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/custom/`)).toEqual([]);
  });
});
