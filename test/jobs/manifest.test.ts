// A backup is complete exactly when its manifest exists: what list, latest, verify and prune make
// of a dump whose manifest is gone, of an old-style object (facts in its metadata), and what one
// backup leaves in a bucket with versioning.
import { DeleteObjectCommand, ListObjectVersionsCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { pruneTarget } from '../../src/retention/prune.js';
import { createCatalog } from '../../src/storage/catalog.js';
import { objectKey } from '../../src/storage/keys.js';
import { verifyBackup } from '../../src/verify/verify.js';
import { seedDatabase, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { getBytes, getManifest, legacyMetadata, putBytes, signedFor } from '../helpers/objects.js';
import { startVersitygw, type S3Server } from '../helpers/versitygw.js';

const servers = testServers();
const prefix = uniquePrefix('manifest');
const DB = 'manifest_src';
const s3 = servers.s3.client();
const bucket = servers.bucket;
const config = testConfig(servers, prefix, { app: { db: DB, extra: 'retention: { keepLast: 5 }' } });
const catalog = createCatalog({ s3, storage: config.storage, env: servers.env });
const run = createBackupRunner({ config, s3, env: servers.env });
const backup = () => run({ target: 'app', trigger: { kind: 'cli', by: 'tester' } });
const verifyError = (key: string) =>
  verifyBackup({ config, s3, env: servers.env }, 'app', key, { restore: false }).then(
    () => undefined,
    (e: unknown) => e,
  );

let versioned: S3Server | undefined;

beforeAll(async () => {
  await seedDatabase(servers.pg, DB, 2_000);
}, 60_000);

afterAll(async () => {
  await versioned?.stop();
  await servers.pg.dropDatabase(DB);
});

describe('manifests', () => {
  it('a dump whose manifest was deleted is incomplete in list and verify, never latest, and pruned only after storage.incompleteGrace', async () => {
    const good = await backup();
    const lost = await backup();
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${lost.key}.manifest.json` }));

    const listed = await catalog.list('app');
    expect(listed.map((o) => [o.key, o.state])).toEqual([
      [lost.key, 'incomplete'],
      [good.key, 'complete'],
    ]);
    expect((await catalog.resolve('app', 'latest')).key).toBe(good.key);
    expect(await verifyError(lost.key)).toMatchObject({ code: 'INCOMPLETE', stage: 'verify' });
    expect(await verifyError(good.key)).toBeUndefined();

    // Within the grace period it stays (its run may still be writing the manifest); after it, it goes.
    const prune = (hours: number) =>
      pruneTarget({ config, s3, env: servers.env, now: () => new Date(Date.now() + hours * 3_600_000) }, 'app');
    expect((await prune(23)).deleted).toEqual([]);
    const pruned = await prune(25);
    expect(pruned.deleted.map((i) => i.key)).toEqual([lost.key]);
    expect(pruned.kept.map((i) => i.key)).toEqual([good.key]);
    expect(await servers.s3.listKeys(bucket, `${prefix}/app/`)).toEqual([good.key, `${good.key}.manifest.json`, `${good.key}.verified`]);
  });

  it('an old-style object (facts and HMAC in its metadata, no manifest) is listed, latest, verified and pruned with its marker', async () => {
    const source = await backup();
    const bytes = await getBytes(s3, bucket, source.key);
    // Written "before manifests": dated a minute later, so it is the newest.
    const old = objectKey(prefix, 'app', new Date(source.startedAt.getTime() + 60_000), 'plain');
    await putBytes(s3, bucket, old, bytes, signedFor(old, legacyMetadata(await getManifest(s3, bucket, source.key))));

    expect((await catalog.list('app')).find((o) => o.key === old)?.state).toBe('legacy');
    expect((await catalog.resolve('app', 'latest')).key).toBe(old);
    const report = await verifyBackup({ config, s3, env: servers.env }, 'app', old, { restore: false });
    expect(report.checks).toContain('HMAC of key and sha256 (in its metadata) matches storage.hmacKey');
    expect(report.sha256).toBe(source.sha256);

    // Retention: with keepLast 1 the old-style one stays (newest); the manifest backup goes with its manifest and marker.
    await putBytes(s3, bucket, `${source.key}.verified`, '{}');
    const keepOne = testConfig(servers, prefix, { app: { db: DB, extra: 'retention: { keepLast: 1 }' } });
    const pruned = await pruneTarget({ config: keepOne, s3, env: servers.env }, 'app');
    expect(pruned.kept.map((i) => i.key)).toEqual([old]);
    const left = await servers.s3.listKeys(bucket, `${prefix}/app/`);
    expect(left.filter((k) => k.startsWith(source.key))).toEqual([]);
    expect(left).toContain(old);
    // Nothing dangling: no manifest or marker without its dump.
    for (const k of left) if (k !== old) expect(left).toContain(k.replace(/\.(manifest\.json|verified)$/, ''));
  });

  it('on a bucket with versioning, one backup leaves exactly one version of the dump (and of its manifest)', async () => {
    versioned = await startVersitygw({ buckets: ['versioned'], allowExternal: false, versioning: true });
    const client = versioned.client();
    await client.send(new PutBucketVersioningCommand({ Bucket: 'versioned', VersioningConfiguration: { Status: 'Enabled' } }));
    const vconfig = testConfig({ ...servers, s3: versioned, bucket: 'versioned' }, prefix, { app: { db: DB } });
    const env = { ...servers.env, AWS_ACCESS_KEY_ID: versioned.accessKeyId, AWS_SECRET_ACCESS_KEY: versioned.secretAccessKey };
    const result = await createBackupRunner({ config: vconfig, s3: client, env })({
      target: 'app',
      trigger: { kind: 'cli', by: 'tester' },
    });
    const versions = await client.send(new ListObjectVersionsCommand({ Bucket: 'versioned', Prefix: `${prefix}/` }));
    expect((versions.Versions ?? []).map((v) => v.Key).sort()).toEqual([result.key, `${result.key}.manifest.json`]);
    expect(versions.DeleteMarkers ?? []).toEqual([]);
  });
});
