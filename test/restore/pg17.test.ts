// A newer pg_dump's backup restored into the older server it came from, as users do with the
// image's pg_dump 18 against their PostgreSQL 13-16: here a real pg_dump 17 (Debian 13's client,
// .local/pg17, built by scripts/install-pg17-client.sh) against the tests' PostgreSQL 15. Its
// scripts start with `SET transaction_timeout = 0;`, which PostgreSQL 15 refuses.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/bot-process.js';
import { runCli, startCli, type CliRun } from '../helpers/cli.js';
import { adminSql, configYaml, ownedByMissingRole, seedDatabase, tableDigests, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { databasesLike } from '../helpers/objects.js';

const PG17 = resolve('.local/pg17');
const PG_DUMP = join(PG17, 'bin', 'pg_dump');

/** Why the PostgreSQL 17 client is missing after trying to install it, or undefined when it is there. */
function pg17Missing(): string | undefined {
  if (existsSync(PG_DUMP)) return undefined;
  const run = spawnSync('scripts/install-pg17-client.sh', { encoding: 'utf8' });
  if (existsSync(PG_DUMP)) return undefined;
  return `no PostgreSQL 17 client in ${PG17}/bin: scripts/install-pg17-client.sh failed (${run.error?.message ?? `exit ${run.status}: ${run.stderr.trim().slice(-300)}`})`;
}

const missing = pg17Missing();
// CI installs the client (.ci/run): there a missing one is a failure, not a skip.
if (missing && process.env.CI === 'true') throw new Error(missing);
if (missing) console.warn(`skipping the pg_dump 17 tests: ${missing}`);

const servers = testServers();
const prefix = uniquePrefix('pg17');
const SRC = 'pg17_src';
const ROLES = 'pg17_roles';
const OWNER = 'pg17_owner';
const BIG = 'pg17_big';
const env = { ...servers.env, RESTORE_PW: servers.pg.superuser.password, SCRATCH_PW: servers.pg.superuser.password };
const superuserUrl = servers.pg.url('postgres', servers.pg.superuser.user);
const newer = `pgDump: ${PG_DUMP}\nrestore: { url: ${superuserUrl}, password: { env: RESTORE_PW } }`;
const zstd = `${newer}\ncompression: { algorithm: zstd, level: 3 }`;
let dir: string;

function cli(args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir, env: { ...env, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml') } });
}

const admin = (db: string, sql: string) => adminSql(servers.pg, db, sql);

/** Processes running the PostgreSQL 17 client (the wrappers exec its loader with the binary's path). */
function pg17Processes(): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return ps.stdout.split('\n').filter((line) => line.includes(`${PG17}/root/`));
}

describe.skipIf(missing !== undefined)('a pg_dump 17 backup of a PostgreSQL 15 database', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dt-pg17-'));
    await Promise.all([seedDatabase(servers.pg, SRC, 3000), seedDatabase(servers.pg, BIG, 300_000)]);
    await writeFile(
      join(dir, 'dumptruck.yml'),
      configYaml(
        servers,
        prefix,
        {
          custom: { db: SRC, format: 'custom', extra: zstd },
          plain: { db: SRC, extra: newer },
          'plain-zstd': { db: SRC, extra: zstd },
          roles: { db: ROLES, format: 'custom', extra: newer },
          big: { db: BIG, format: 'custom', extra: newer },
        },
        `verify:\n  restoreUrl: ${superuserUrl}\n  password: { env: SCRATCH_PW }\n`,
      ),
    );
  }, 120_000);

  afterAll(async () => {
    for (const db of await databasesLike(servers.pg, 'pg17_')) await servers.pg.dropDatabase(db);
    await admin('postgres', `drop role if exists ${OWNER}`);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('custom format with zstd: verify passes its restore test, and a restore gives equal tables', async () => {
    const backup = await cli(['backup', 'custom']);
    expect(backup.code, backup.stderr).toBe(0);
    const key = /key: s3:\/\/[^/]+\/(\S+)/.exec(backup.stdout)![1]!;
    expect(key).toMatch(/\.dump$/);

    const verify = await cli(['verify', 'custom', key]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain(
      'pg_restore -f - | psql -v ON_ERROR_STOP=1 restored it (PostgreSQL 15: without SET transaction_timeout)',
    );

    const restore = await cli(['restore', 'custom', 'latest', '--into', 'pg17_custom', '--yes']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await tableDigests(servers.pg, 'pg17_custom')).toEqual(await tableDigests(servers.pg, SRC));
  }, 120_000);

  it('plain format (gzip and zstd): verify passes its restore test, and a restore gives equal tables', async () => {
    for (const target of ['plain', 'plain-zstd']) {
      const backup = await cli(['backup', target]);
      expect(backup.code, backup.stderr).toBe(0);
      const key = /key: s3:\/\/[^/]+\/(\S+)/.exec(backup.stdout)![1]!;
      const verify = await cli(['verify', target, key]);
      expect(verify.code, verify.stderr).toBe(0);
      expect(verify.stdout).toMatch(/psql -v ON_ERROR_STOP=1 restored it/);

      const database = `pg17_${target.replace('-', '_')}`;
      const restore = await cli(['restore', target, 'latest', '--into', database, '--yes']);
      expect(restore.code, restore.stderr).toBe(0);
      expect(await tableDigests(servers.pg, database)).toEqual(await tableDigests(servers.pg, SRC));
    }
  }, 120_000);

  it("custom format: psql's failure (a missing role) fails the restore, with psql's words under its name", async () => {
    await ownedByMissingRole(servers.pg, ROLES, OWNER, async () => {
      expect((await cli(['backup', 'roles'])).code).toBe(0);
    });

    const run = await cli(['restore', 'roles', '--into', 'pg17_noroles', '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`refers to role ${OWNER}, which 127\\.0\\.0\\.1:\\d+ does not have`));
    expect(run.stderr).toMatch(new RegExp(`\\npsql said:\\n(.*\\n)*.*role "${OWNER}" does not exist`));
    expect(await databasesLike(servers.pg, 'pg17_noroles')).toEqual([]);
    expect(pg17Processes()).toEqual([]);
  }, 120_000);

  it('custom format: Ctrl-C mid-restore stops pg_restore and psql, and drops the half-restored database', async () => {
    expect((await cli(['backup', 'big'])).code).toBe(0);
    const run = startCli(['restore', 'big', '--into', 'pg17_half', '--yes'], {
      cwd: dir,
      env: { ...env, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml') },
    });
    try {
      // Both programs of the script path are running.
      await eventually(async () => (pg17Processes().length >= 2 ? true : undefined), 'pg_restore and psql', 30_000, 20);
      run.child.kill('SIGINT');
      const done = await run.done;
      expect(done.code).not.toBe(0);
      expect(done.stderr).toMatch(/cancelled by SIGINT/);
      expect(await databasesLike(servers.pg, 'pg17_half')).toEqual([]);
      expect(pg17Processes()).toEqual([]);
    } finally {
      run.child.kill('SIGKILL');
    }
  }, 120_000);
});
