// `from mirror`: a restore read from the target's mirror (a second versitygw with its own keys)
// while the primary store is unreachable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { planRestore, runRestore } from '../../src/restore/restore.js';
import { createS3Client } from '../../src/storage/client.js';
import { databasesLike } from '../helpers/objects.js';
import { ageKeygen } from '../helpers/age.js';
import { seedDatabase, tableDigests, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { startVersitygw, type S3Server } from '../helpers/versitygw.js';

const servers = testServers();
const SRC = 'mirrorrestore_src';
const MIRROR_BUCKET = 'dumptruck-mirror-restore';
let second: S3Server;

beforeAll(async () => {
  [second] = await Promise.all([startVersitygw({ buckets: [MIRROR_BUCKET], allowExternal: false }), seedDatabase(servers.pg, SRC, 2000)]);
}, 180_000);

afterAll(async () => {
  await second?.stop();
  for (const db of await databasesLike(servers.pg, 'mirrorrestore_')) await servers.pg.dropDatabase(db);
});

describe('restore from the mirror', () => {
  it('reads the mirror’s copy, with the primary store down, and restores equal data, encrypted ones too', async () => {
    const key = ageKeygen();
    const restore = `restore: { url: ${servers.pg.url('postgres', servers.pg.superuser.user)}, password: { env: RESTORE_PW } }`;
    const mirror = `mirror:\n  bucket: ${MIRROR_BUCKET}\n  endpoint: ${second.endpoint}\n  accessKeyIdEnv: MIRROR_KEY_ID\n  secretAccessKeyEnv: MIRROR_SECRET\n`;
    const config = testConfig(
      servers,
      uniquePrefix('mirrorrestore'),
      {
        db: { db: SRC, extra: restore },
        sealed: { db: SRC, extra: `${restore}\nencrypt: { recipients: [${key.recipient}], identity: { env: AGE_KEY } }` },
      },
      mirror,
    );
    const env = {
      ...servers.env,
      MIRROR_KEY_ID: second.accessKeyId,
      MIRROR_SECRET: second.secretAccessKey,
      RESTORE_PW: servers.pg.superuser.password,
      AGE_KEY: key.identity,
    };
    const backup = await createBackupRunner({ config, s3: servers.s3.client(), env })({ target: 'db', trigger: { kind: 'cli', by: 't' } });

    // Nothing listens on port 9: every call to the primary store fails.
    const down = createS3Client(
      { region: 'us-east-1', endpoint: 'http://127.0.0.1:9', forcePathStyle: true, checksums: 'when_required' },
      { maxAttempts: 1, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } },
    );
    const deps = { config, s3: down, env };
    await expect(planRestore(deps, { target: 'db', key: 'latest', database: 'mirrorrestore_copy' })).rejects.toThrow(/ECONNREFUSED/);
    const plan = await planRestore(deps, { target: 'db', key: 'latest', database: 'mirrorrestore_copy', source: 'mirror' });
    expect(plan).toMatchObject({ key: backup.key, source: 'mirror', bucket: MIRROR_BUCKET, sha256: backup.sha256 });
    const report = await runRestore(deps, plan);
    expect(report.rows).toBe(2505);
    expect(await tableDigests(servers.pg, 'mirrorrestore_copy')).toEqual(await tableDigests(servers.pg, SRC));

    const sealed = await createBackupRunner({ config, s3: servers.s3.client(), env })({
      target: 'sealed',
      trigger: { kind: 'cli', by: 't' },
    });
    expect(sealed.key).toMatch(/\.sql\.gz\.age$/);
    const sealedPlan = await planRestore(deps, { target: 'sealed', key: 'latest', database: 'mirrorrestore_sealed', source: 'mirror' });
    expect(sealedPlan).toMatchObject({ key: sealed.key, source: 'mirror', sha256: sealed.sha256 });
    expect((await runRestore(deps, sealedPlan)).rows).toBe(2505);
    expect(await tableDigests(servers.pg, 'mirrorrestore_sealed')).toEqual(await tableDigests(servers.pg, SRC));
  }, 120_000);
});
