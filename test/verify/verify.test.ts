import { gunzipSync, gzipSync } from 'node:zlib';
import { CopyObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { DumptruckError } from '../../src/errors.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { verifiedHmac } from '../../src/storage/hmac.js';
import { objectKey } from '../../src/storage/keys.js';
import { verifyBackup, type VerifyReport } from '../../src/verify/verify.js';
import { seedDatabase, TEST_HMAC_KEY, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { databasesLike, getBytes, getManifest, honestManifest, putBackup, putBytes } from '../helpers/objects.js';

const servers = testServers();
const prefix = uniquePrefix('verify');
const SRC = 'verify_src';
const OTHER = 'verify_other';
const BIG = 'verify_big';
const env = { ...servers.env, SCRATCH_PW: servers.pg.superuser.password };
const scratchYaml = `verify:\n  restoreUrl: ${servers.pg.url('postgres', servers.pg.superuser.user)}\n  password: { env: SCRATCH_PW }\n`;
const config: Config = testConfig(
  servers,
  prefix,
  {
    plain: { db: SRC },
    custom: { db: SRC, format: 'custom' },
    other: { db: OTHER },
    othercustom: { db: OTHER, format: 'custom' },
    auto: { db: SRC, extra: 'verify: true' },
    big: { db: BIG },
  },
  scratchYaml,
);
const s3 = servers.s3.client();
const bucket = servers.bucket;
const run = createBackupRunner({ config, s3, env });
const backup = (target: string) => run({ target, trigger: { kind: 'cli', by: 'tester' } });

let n = 0;
/** A verify whose scratch database name is known, so the test can check it is gone. */
async function verify(
  target: string,
  key: string,
  restore: boolean,
  signal?: AbortSignal,
): Promise<{ report?: VerifyReport; error?: DumptruckError; database: string }> {
  const suffix = `t${process.pid}x${++n}`;
  const database = `dumptruck_verify_${target}_${suffix}`;
  try {
    const report = await verifyBackup({ config, s3, env, randomSuffix: () => suffix }, target, key, {
      restore,
      ...(signal ? { signal } : {}),
    });
    return { report, database };
  } catch (err) {
    expect(err).toBeInstanceOf(DumptruckError);
    return { error: err as DumptruckError, database };
  }
}

/** Writes `bytes` under `key` with `manifest` signed for that key, as if dumptruck had written them: only their content can be wrong. */
const plant = (key: string, bytes: Buffer, manifest: Record<string, unknown>) => putBackup(s3, bucket, key, bytes, manifest);

/** A key of `target` for a moment in the past, for planted objects. */
const plantedKey = (target: string, format: 'plain' | 'custom', seconds: number) =>
  objectKey(prefix, target, new Date(Date.UTC(2020, 0, 1, 0, 0, seconds)), format);

const EXPECTED_TABLES = [
  { schema: 'public', name: 'events', rows: 20_000 },
  { schema: 'public', name: 'blobs', rows: 500 },
  { schema: 'public', name: 'customers', rows: 5 },
];

beforeAll(async () => {
  await Promise.all([
    seedDatabase(servers.pg, SRC, 20_000),
    seedDatabase(servers.pg, OTHER, 1_000),
    seedDatabase(servers.pg, BIG, 300_000),
  ]);
}, 120_000);

describe('verify against PostgreSQL and versitygw', () => {
  for (const format of ['plain', 'custom'] as const) {
    it(`a good ${format} backup verifies, restores with every table and row, and the scratch database is dropped`, async () => {
      const result = await backup(format);
      const quick = await verify(format, result.key, false);
      expect(quick.error).toBeUndefined();
      expect(quick.report).toMatchObject({
        target: format,
        key: result.key,
        sha256: result.sha256,
        storedBytes: result.storedBytes,
        format,
      });
      expect(quick.report!.restore).toBeUndefined();
      if (format === 'plain') expect(quick.report!.dumpedBytes).toBe(result.dumpedBytes);
      else expect(quick.report!.archiveEntries).toBeGreaterThan(5);

      const full = await verify(format, result.key, true);
      expect(full.error).toBeUndefined();
      expect(full.report!.restore).toMatchObject({ database: full.database, tables: EXPECTED_TABLES, rows: 20_505 });
      expect(full.report!.checks.join('\n')).toMatch(
        format === 'plain' ? /psql -v ON_ERROR_STOP=1 restored it/ : /pg_restore --list: \d+ entries, database verify_src/,
      );
      expect(await databasesLike(servers.pg, full.database)).toEqual([]);

      const marker = JSON.parse((await getBytes(s3, bucket, `${result.key}.verified`)).toString()) as {
        sha256: string;
        restored: { rows: number };
      };
      expect(marker).toMatchObject({
        key: result.key,
        sha256: result.sha256,
        restored: { tables: 3, rows: 20_505 },
        hmac: verifiedHmac(TEST_HMAC_KEY, result.key, result.sha256),
      });
    });
  }

  it('a flipped byte fails as corrupted (checksum), with and without a restore, and the scratch database is dropped', async () => {
    for (const format of ['plain', 'custom'] as const) {
      const good = await backup(format);
      const bytes = await getBytes(s3, bucket, good.key);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      const key = plantedKey(format, format, 1);
      await plant(key, bytes, await getManifest(s3, bucket, good.key));
      // Verified once, damaged since: the stale marker goes, so retention stops protecting it.
      await putBytes(s3, bucket, `${key}.verified`, '{}');
      for (const restore of [false, true]) {
        const { error, database } = await verify(format, key, restore);
        expect(error).toMatchObject({ code: 'CORRUPTED', stage: 'verify' });
        expect(error!.message).toMatch(
          /SHA-256 of the stored bytes is [0-9a-f]{64}, manifest says [0-9a-f]{64}: the object changed after it was written/,
        );
        expect(await databasesLike(servers.pg, database)).toEqual([]);
      }
      expect(await servers.s3.listKeys(bucket, key)).toEqual([key, `${key}.manifest.json`]);
    }
  });

  it('a truncated object fails as truncated: cut bytes, a dump without its trailer, an archive cut short', async () => {
    const plain = await backup('plain');
    const plainBytes = await getBytes(s3, bucket, plain.key);
    const meta = await getManifest(s3, bucket, plain.key);

    // The object lost its end (the metadata still says what was stored).
    const cutKey = plantedKey('plain', 'plain', 2);
    await plant(cutKey, plainBytes.subarray(0, plainBytes.length - 1000), meta);
    const cut = await verify('plain', cutKey, false);
    expect(cut.error).toMatchObject({
      code: 'TRUNCATED',
      message: `${cutKey} is ${plainBytes.length - 1000} bytes, but ${plainBytes.length} were stored: the object was cut short`,
    });

    // A gzip stream that stops early, with metadata that matches it.
    const earlyKey = plantedKey('plain', 'plain', 3);
    const early = plainBytes.subarray(0, Math.floor(plainBytes.length * 0.7));
    await plant(earlyKey, early, honestManifest(meta, early));
    const earlyResult = await verify('plain', earlyKey, true);
    expect(earlyResult.error).toMatchObject({ code: 'TRUNCATED' });
    expect(earlyResult.error!.message).toBe(`${earlyKey}: the gzip stream ends early (unexpected end of file): the object was cut short`);
    expect(await databasesLike(servers.pg, earlyResult.database)).toEqual([]);

    // What the exit-status gate prevents: pg_dump died, gzip ended cleanly. Valid gzip, no trailer.
    const text = gunzipSync(plainBytes);
    const noTrailer = gzipSync(text.subarray(0, text.indexOf('COPY public.events')));
    const noTrailerKey = plantedKey('plain', 'plain', 4);
    await plant(noTrailerKey, noTrailer, honestManifest(meta, noTrailer));
    const noTrailerResult = await verify('plain', noTrailerKey, false);
    expect(noTrailerResult.error).toMatchObject({
      code: 'TRUNCATED',
      message: `${noTrailerKey}: ends without pg_dump's "-- PostgreSQL database dump complete" trailer: the dump was cut short`,
    });

    // A custom archive cut short, with metadata that matches it.
    const custom = await backup('custom');
    const customBytes = await getBytes(s3, bucket, custom.key);
    const shortArchive = customBytes.subarray(0, customBytes.length - 5000);
    const shortKey = plantedKey('custom', 'custom', 5);
    await plant(shortKey, shortArchive, honestManifest(await getManifest(s3, bucket, custom.key), shortArchive));
    for (const restore of [false, true]) {
      const r = await verify('custom', shortKey, restore);
      expect(r.error).toMatchObject({ code: 'TRUNCATED' });
      expect(r.error!.message).toMatch(/the archive ends early/);
      expect(await databasesLike(servers.pg, r.database)).toEqual([]);
    }
  });

  it("an object replaced by another target's backup fails as swapped", async () => {
    const mine = await backup('plain');
    const theirs = await backup('other');
    // Copied with its manifest: its HMAC signs the other key, so nothing of it is read.
    for (const suffix of ['', '.manifest.json']) {
      await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: `${mine.key}${suffix}`, CopySource: `${bucket}/${theirs.key}${suffix}` }));
    }
    const copied = await verify('plain', mine.key, true);
    expect(copied.error).toMatchObject({
      code: 'UNTRUSTED',
      message: `${mine.key} is not a backup dumptruck wrote: its HMAC (${mine.key}.manifest.json) does not match its key and SHA-256, so it was not restored`,
    });
    expect(await databasesLike(servers.pg, copied.database)).toEqual([]);

    // Signed for this key (by whoever holds the HMAC key): the metadata still names the other target.
    await plant(mine.key, await getBytes(s3, bucket, theirs.key), await getManifest(s3, bucket, theirs.key));
    const r = await verify('plain', mine.key, true);
    expect(r.error).toMatchObject({
      code: 'SWAPPED',
      message: `${mine.key} holds a backup of target "other", not of "plain": the object was replaced`,
    });
    expect(await databasesLike(servers.pg, r.database)).toEqual([]);

    // Relabelled too (metadata rewritten to this target): the archive still names its database.
    const theirsCustom = await backup('othercustom');
    const bytes = await getBytes(s3, bucket, theirsCustom.key);
    const key = plantedKey('custom', 'custom', 6);
    await plant(key, bytes, { ...(await getManifest(s3, bucket, theirsCustom.key)), target: 'custom' });
    const relabelled = await verify('custom', key, false);
    expect(relabelled.error).toMatchObject({
      code: 'SWAPPED',
      message: `${key} is a dump of database "verify_other", but the target's url names "verify_src": the object was replaced`,
    });
  });

  it('a dump that does not restore fails as such, and the scratch database is dropped', async () => {
    const good = await backup('plain');
    const text = gunzipSync(await getBytes(s3, bucket, good.key)).toString();
    const broken = gzipSync(
      text.replace(
        'CREATE TABLE public.blobs',
        'CREATE TABLE public.blobs_nope (x int);\nSELECT no_such_function();\nCREATE TABLE public.blobs',
      ),
    );
    const key = plantedKey('plain', 'plain', 7);
    await plant(key, broken, honestManifest(await getManifest(s3, bucket, good.key), broken));
    const r = await verify('plain', key, true);
    expect(r.error).toMatchObject({ code: 'RESTORE_FAILED', stage: 'verify' });
    expect(r.error!.message).toMatch(/did not restore: psql exited with code 3/);
    expect(r.error!.stderrTail).toMatch(/no_such_function/);
    expect(await databasesLike(servers.pg, r.database)).toEqual([]);
    // Without a restore the same object is a well-formed dump.
    expect((await verify('plain', key, false)).error).toBeUndefined();
  });

  it('verifies automatically after a backup when the target asks for it', async () => {
    const result = await backup('auto');
    expect(result.verification).toMatchObject({
      ok: true,
      report: { key: result.key, sha256: result.sha256, restore: { tables: EXPECTED_TABLES } },
    });
    expect(await databasesLike(servers.pg, 'dumptruck_verify_auto_')).toEqual([]);
    expect((await backup('plain')).verification).toBeUndefined();
  });

  it('a cancelled restore test stops and still drops the scratch database', async () => {
    const result = await backup('big');
    const controller = new AbortController();
    const running = verify('big', result.key, true, controller.signal);
    // Abort while psql is restoring: once the scratch database exists and has its first table.
    const client = await servers.pg.adminClient();
    try {
      for (let i = 0; i < 500; i++) {
        const { rows } = await client.query<{ datname: string }>(
          "select datname from pg_database where datname like 'dumptruck_verify_big_%'",
        );
        if (rows.length > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await client.end();
    }
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    const { error, database } = await running;
    expect(error).toMatchObject({ code: 'CANCELLED', stage: 'cancelled' });
    expect(await databasesLike(servers.pg, database)).toEqual([]);
  });
});
