// Security review, finding 1: the HMAC vouches for a key and a SHA-256, not for the bytes stored
// under the key now. A bucket writer who overwrites a signed backup's bytes (same size, manifest
// left alone) must not get their SQL run by a restore test or a restore: the whole object is
// hashed before psql sees a byte. The hostile SQL creates a role, which is cluster-wide, so it
// would still be seen after the scratch or half-restored database is dropped.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPinned, hashObject } from '../../src/storage/pinned.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { configYaml, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { databasesLike, getBytes, putBytes, sizedHostileDump } from '../helpers/objects.js';

const servers = testServers();
const prefix = uniquePrefix('swapped');
const s3 = servers.s3.client();
const bucket = servers.bucket;
const SRC = 'swapped_src';
const admin = servers.pg.url('postgres', servers.pg.superuser.user);
const scratchYaml = `verify:\n  restoreUrl: ${admin}\n  password: { env: SCRATCH_PW }\n`;
const env = { ...servers.env, SCRATCH_PW: servers.pg.superuser.password };
const role = `pwned_${randomBytes(4).toString('hex')}`;
let dir: string;
let key: string;

function cli(args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir, env: { ...env, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml') } });
}

async function roleExists(): Promise<boolean> {
  const client = await servers.pg.adminClient();
  try {
    return (await client.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-swapped-'));
  await seedDatabase(servers.pg, SRC, 500);
  const restoreTo = `restore: { url: ${admin}, password: { env: SCRATCH_PW } }`;
  await writeFile(join(dir, 'dumptruck.yml'), configYaml(servers, prefix, { victim: { db: SRC, extra: restoreTo } }, scratchYaml));
  const backup = await cli(['backup', 'victim']);
  expect(backup.code, backup.stderr).toBe(0);
  key = /key: s3:\/\/[^/]+\/(\S+)/.exec(backup.stdout)![1]!;
  // Same key, same size, manifest untouched: only the bytes differ.
  const size = (await getBytes(s3, bucket, key)).length;
  await putBytes(s3, bucket, key, sizedHostileDump(`CREATE ROLE ${role};`, size));
}, 120_000);

afterAll(async () => {
  const client = await servers.pg.adminClient();
  try {
    await client.query(`drop role if exists ${role}`);
  } finally {
    await client.end();
  }
  for (const db of await databasesLike(servers.pg, 'swapped_')) if (db !== SRC) await servers.pg.dropDatabase(db);
  await rm(dir, { recursive: true, force: true });
});

describe('a signed backup whose bytes were replaced', () => {
  it('fails its restore test as CORRUPTED before psql runs any of it', async () => {
    const r = await cli(['verify', 'victim', key]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^dumptruck: verify failed: \S+: SHA-256 of the stored bytes is [0-9a-f]{64}, manifest says [0-9a-f]{64}: the object changed after it was written\n/,
    );
    expect(await roleExists()).toBe(false);
    expect(await databasesLike(servers.pg, 'dumptruck_verify_victim_')).toEqual([]);
  });

  it('is not restored: CORRUPTED, nothing created, nothing run', async () => {
    const r = await cli(['restore', 'victim', key, '--into', 'swapped_restored', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /SHA-256 of the bytes read is [0-9a-f]{64}, the backup recorded [0-9a-f]{64}: the object changed after it was written/,
    );
    expect(await roleExists()).toBe(false);
    expect(await databasesLike(servers.pg, 'swapped_restored')).toEqual([]);
  });

  it('the restoring pass reads only the version the first pass hashed: bytes replaced in between are refused by the store', async () => {
    const between = `${key}.between`;
    await putBytes(s3, bucket, between, 'hashed');
    const pin = await hashObject(s3, bucket, between, undefined);
    await putBytes(s3, bucket, between, 'replaced');
    await expect(getPinned(s3, bucket, pin, 'restore', undefined)).rejects.toMatchObject({
      code: 'CORRUPTED',
      message: `${between}: the object changed while it was being checked (its ETag is no longer ${pin.etag})`,
    });
  });
});
