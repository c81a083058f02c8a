// `dumptruck restore` for real: the built CLI (and, for the typed-back name, runCommand with a
// terminal's answer) against the shared PostgreSQL and versitygw.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppDeps } from '../../src/app.js';
import { parseCommand, runCommand } from '../../src/cli/main.js';
import { objectKey } from '../../src/storage/keys.js';
import { eventually } from '../helpers/bot-process.js';
import { runCli, startCli, type CliRun } from '../helpers/cli.js';
import { adminSql, configYaml, ownedByMissingRole, seedDatabase, tableDigests, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { databasesLike, getBytes, getManifest, legacyMetadata, putBackup, putBytes } from '../helpers/objects.js';

const servers = testServers();
const prefix = uniquePrefix('restorecli');
const SRC = 'restorecli_src';
const ROLES = 'restorecli_roles';
const OWNER = 'restorecli_owner';
const BIG = 'restorecli_big';
const SCAN = 'restorecli_scan';
const env = { ...servers.env, RESTORE_PW: servers.pg.superuser.password };
let dir: string;
let key: string;

function cli(args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir, env: { ...env, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml') } });
}

const restoreTo = `restore: { url: ${servers.pg.url('postgres', servers.pg.superuser.user)}, password: { env: RESTORE_PW } }`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-restore-cli-'));
  await Promise.all([seedDatabase(servers.pg, SRC, 2000), seedDatabase(servers.pg, BIG, 300_000)]);
  await writeFile(
    join(dir, 'dumptruck.yml'),
    configYaml(servers, prefix, {
      'app-db': { db: SRC, extra: restoreTo },
      big: { db: BIG, extra: restoreTo },
      custom: { db: SRC, format: 'custom', extra: restoreTo },
      roles: { db: ROLES, extra: restoreTo },
      'roles-custom': { db: ROLES, format: 'custom', extra: restoreTo.replace(/ }$/, ', noOwner: true }') },
      'roles-plain': { db: ROLES, extra: restoreTo.replace(/ }$/, ', noOwner: true }') },
      'scan-plain': { db: SCAN, extra: restoreTo.replace(/ }$/, ', noOwner: true }') },
      replacing: {
        db: SRC,
        extra: restoreTo.replace(/ }$/, ', allowReplace: true, replaceable: [restorecli_replaceable, postgres, restorecli_roles] }'),
      },
    }),
  );
  const backup = await cli(['backup', 'app-db']);
  expect(backup.code, backup.stderr).toBe(0);
  key = /key: s3:\/\/[^/]+\/(\S+)/.exec(backup.stdout)![1]!;
}, 120_000);

afterAll(async () => {
  for (const db of await databasesLike(servers.pg, 'restorecli_')) if (db !== SRC) await servers.pg.dropDatabase(db);
  await admin('postgres', `drop role if exists ${OWNER}`);
  await rm(dir, { recursive: true, force: true });
});

const admin = (db: string, sql: string) => adminSql(servers.pg, db, sql);

describe('dumptruck restore', () => {
  it('a dump owned by a role the server lacks fails naming the role; restore.noOwner restores it (custom and plain format)', async () => {
    await ownedByMissingRole(servers.pg, ROLES, OWNER, async () => {
      for (const target of ['roles', 'roles-custom', 'roles-plain']) expect((await cli(['backup', target])).code).toBe(0);
    });

    const plain = await cli(['restore', 'roles', '--into', 'restorecli_noroles', '--yes']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(
      new RegExp(
        `^dumptruck: restore failed: .+\\.sql\\.gz refers to role ${OWNER}, which 127\\.0\\.0\\.1:\\d+ does not have\\ncreate it on 127\\.0\\.0\\.1:\\d+ first, or set targets\\.roles\\.restore\\.noOwner: true`,
      ),
    );
    expect(await databasesLike(servers.pg, 'restorecli_noroles')).toEqual([]);

    const custom = await cli(['restore', 'roles-custom', '--into', 'restorecli_noowner', '--yes']);
    expect(custom.code, custom.stderr).toBe(0);
    expect(custom.stdout).toMatch(/public\.owned +2 rows/);
    // A plain dump has no such switch: its ALTER ... OWNER TO and GRANT statements are left out.
    const plainNoOwner = await cli(['restore', 'roles-plain', '--into', 'restorecli_plainnoowner', '--yes']);
    expect(plainNoOwner.code, plainNoOwner.stderr).toBe(0);
    expect(plainNoOwner.stdout).toMatch(/public\.owned +2 rows/);
  }, 120_000);

  it('restore.noOwner, plain: rows of a COPY whose table name holds a newline are kept, even one reading GRANT; a dump with standard_conforming_strings off is refused', async () => {
    await servers.pg.dropDatabase(SCAN);
    await servers.pg.createDatabase(SCAN);
    // COPY writes the carriage return as \r: that row's line starts `\restrict`.
    await admin(SCAN, `create table "a\nb" (c text); insert into "a\nb" values ('GRANT ALL ON t TO x;'), (E'\\restrict x'), ('z')`);
    const rows = async (db: string) => {
      const client = await servers.pg.adminClient(db);
      try {
        return (await client.query('select c from "a\nb" order by c')).rows.map((r: { c: string }) => r.c);
      } finally {
        await client.end();
      }
    };
    expect((await cli(['backup', 'scan-plain'])).code).toBe(0);
    const kept = await cli(['restore', 'scan-plain', '--into', 'restorecli_scancopy', '--yes']);
    expect(kept.code, kept.stderr).toBe(0);
    expect(await rows('restorecli_scancopy')).toEqual(await rows(SCAN));

    // pg_dump then writes `SET standard_conforming_strings = off;`, which the filter cannot follow.
    await admin('postgres', `alter database ${SCAN} set standard_conforming_strings = off`);
    expect((await cli(['backup', 'scan-plain'])).code).toBe(0);
    const refused = await cli(['restore', 'scan-plain', '--into', 'restorecli_scanoff', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/restore\.noOwner cannot filter this plain dump: line \d+ changes standard_conforming_strings/);
    expect(await databasesLike(servers.pg, 'restorecli_scanoff')).toEqual([]);
  }, 120_000);

  it('--yes restores the latest backup into a new database equal to the source, and lists tables and rows', async () => {
    const run = await cli(['restore', 'app-db', 'latest', '--into', 'restorecli_copy', '--yes']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`restore ${key}\n`);
    expect(run.stdout).toMatch(/^restored .+ into restorecli_copy on 127\.0\.0\.1:\d+ in .+: 3 tables, 2505 rows$/m);
    expect(run.stdout).toMatch(/public\.events +2000 rows/);
    expect(await tableDigests(servers.pg, 'restorecli_copy')).toEqual(await tableDigests(servers.pg, SRC));
  }, 60_000);

  it('a custom-format backup goes through pg_restore and restores equal data', async () => {
    const backup = await cli(['backup', 'custom']);
    expect(backup.code, backup.stderr).toBe(0);
    const run = await cli(['restore', 'custom', '--into', 'restorecli_custom', '--yes']);
    expect(run.code, run.stderr).toBe(0);
    expect(await tableDigests(servers.pg, 'restorecli_custom')).toEqual(await tableDigests(servers.pg, SRC));
  }, 60_000);

  it('Ctrl-C mid-restore stops it and drops the half-restored database', async () => {
    expect((await cli(['backup', 'big'])).code).toBe(0);
    const run = startCli(['restore', 'big', '--into', 'restorecli_half', '--yes'], {
      cwd: dir,
      env: { ...env, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml') },
    });
    try {
      await eventually(
        async () => ((await databasesLike(servers.pg, 'restorecli_half')).length > 0 ? true : undefined),
        'the new database',
        30_000,
        20,
      );
      run.child.kill('SIGINT');
      const done = await run.done;
      expect(done.code).not.toBe(0);
      expect(done.stderr).toMatch(/cancelled by SIGINT/);
      expect(done.stdout).not.toMatch(/^restored /m);
      expect(await databasesLike(servers.pg, 'restorecli_half')).toEqual([]);
    } finally {
      run.child.kill('SIGKILL');
    }
  }, 120_000);

  it('without --yes and without a terminal it refuses, and creates nothing', async () => {
    const run = await cli(['restore', 'app-db', '--into', 'restorecli_nottyped']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('dumptruck: restore needs a confirmation and stdin is not a terminal\nadd --yes to restore from a script\n');
    expect(await databasesLike(servers.pg, 'restorecli_nottyped')).toEqual([]);
  });

  it('on a terminal the database name typed back starts it; anything else does not', async () => {
    // The S3 client from the test servers: the SDK's credential chain reads process.env, not `env`.
    const deps = { ...(await createAppDeps({ ...env, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml') })), s3: servers.s3.client() };
    const out: string[] = [];
    const io = (answer: string) => ({
      stdout: { write: (t: string) => void out.push(t) },
      stderr: { write: () => undefined },
      ask: async () => answer,
    });
    const command = parseCommand(['restore', 'app-db', key, '--into', 'restorecli_typed']);
    await expect(runCommand(command, deps, io('restorecli_typo'))).rejects.toThrow(
      'you typed "restorecli_typo", not "restorecli_typed"; nothing was restored',
    );
    expect(await databasesLike(servers.pg, 'restorecli_typed')).toEqual([]);
    expect(await runCommand(command, deps, io('restorecli_typed'))).toBe(0);
    expect(await tableDigests(servers.pg, 'restorecli_typed')).toEqual(await tableDigests(servers.pg, SRC));
  }, 60_000);

  it('refuses an existing destination with a clear message and leaves it as it was', async () => {
    await servers.pg.createDatabase('restorecli_exists');
    const run = await cli(['restore', 'app-db', '--into', 'restorecli_exists', '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^dumptruck: restore failed: database restorecli_exists already exists on 127\.0\.0\.1:\d+; a restore never overwrites a database\npick a new database name \(replacing one needs targets\.app-db\.restore\.allowReplace: true\)\n$/,
    );
    const client = await servers.pg.adminClient('restorecli_exists');
    try {
      expect((await client.query("select count(*)::int as n from pg_tables where schemaname = 'public'")).rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });

  it("--replace reaches only restore.replaceable: never a system database or another target's, whatever the list says; nothing is touched", async () => {
    expect((await cli(['backup', 'replacing'])).code).toBe(0);
    await servers.pg.dropDatabase(ROLES);
    await servers.pg.createDatabase(ROLES);
    const refused = {
      postgres: 'postgres is a system database; postgres, template0, template1 are never replaced\nrestore into a new database instead',
      template1: 'template1 is a system database; postgres, template0, template1 are never replaced\nrestore into a new database instead',
      [ROLES]: `${ROLES} is the database of target roles; a restore of replacing never replaces another target's database\nrestore into a new database instead, or restore a backup of roles`,
      restorecli_unlisted:
        'restorecli_unlisted is not in targets.replacing.restore.replaceable (it lists restorecli_replaceable, postgres, restorecli_roles)\nan admin adds it to targets.replacing.restore.replaceable; or restore into a new database instead',
    };
    await servers.pg.createDatabase('restorecli_unlisted');
    for (const [database, why] of Object.entries(refused)) {
      const run = await cli(['restore', 'replacing', '--into', database, '--replace', '--yes']);
      expect(run.stderr).toBe(`dumptruck: ${why}\n`);
      expect(run.code).toBe(2);
    }
    expect((await databasesLike(servers.pg, 'restorecli_')).filter((db) => db.includes('before_restore'))).toEqual([]);
    await servers.pg.createDatabase('restorecli_replaceable');
    const allowed = await cli(['restore', 'replacing', '--into', 'restorecli_replaceable', '--replace', '--yes']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(await tableDigests(servers.pg, 'restorecli_replaceable')).toEqual(await tableDigests(servers.pg, SRC));
  }, 120_000);

  it('a corrupted object fails on its checksum and leaves no database behind', async () => {
    const bytes = await getBytes(servers.s3.client(), servers.bucket, key);
    bytes[bytes.length - 100]! ^= 0xff;
    const bad = objectKey(prefix, 'app-db', new Date('2020-01-01T00:00:00Z'), 'plain');
    // Signed for its own key (as a copy by dumptruck would be), so only the checksum can catch the damage.
    await putBackup(servers.s3.client(), servers.bucket, bad, bytes, await getManifest(servers.s3.client(), servers.bucket, key));
    const run = await cli(['restore', 'app-db', bad, '--into', 'restorecli_corrupt', '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `^dumptruck: restore failed: ${bad}: SHA-256 of the bytes read is [0-9a-f]{64}, the backup recorded [0-9a-f]{64}: the object changed after it was written`,
      ),
    );
    expect(await databasesLike(servers.pg, 'restorecli_corrupt')).toEqual([]);
  }, 60_000);

  it('refuses a backup dated in the future before touching the server', async () => {
    const future = objectKey(prefix, 'app-db', new Date(Date.now() + 86_400_000), 'plain');
    // Signed as if by our own key: the date alone refuses it.
    await putBackup(
      servers.s3.client(),
      servers.bucket,
      future,
      await getBytes(servers.s3.client(), servers.bucket, key),
      await getManifest(servers.s3.client(), servers.bucket, key),
    );
    const run = await cli(['restore', 'app-db', future, '--into', 'restorecli_future', '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${future} is dated `);
    expect(run.stderr).toContain('in the future: dumptruck did not write it, so it is not restored');
    expect(await databasesLike(servers.pg, 'restorecli_future')).toEqual([]);
  }, 60_000);

  it('refuses an unsigned backup (written before backups were signed) unless that exact key is named with --trust-legacy', async () => {
    const legacy = objectKey(prefix, 'app-db', new Date(Date.UTC(2019, 0, 1)), 'plain');
    const unsigned = legacyMetadata(await getManifest(servers.s3.client(), servers.bucket, key));
    await putBytes(servers.s3.client(), servers.bucket, legacy, await getBytes(servers.s3.client(), servers.bucket, key), unsigned);
    const refused = await cli(['restore', 'app-db', legacy, '--into', 'restorecli_legacy', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${legacy} carries no dumptruck HMAC`);
    expect(await databasesLike(servers.pg, 'restorecli_legacy')).toEqual([]);
    const trusted = await cli(['restore', 'app-db', legacy, '--into', 'restorecli_legacy', '--yes', '--trust-legacy']);
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(await databasesLike(servers.pg, 'restorecli_legacy')).toEqual(['restorecli_legacy']);
    await servers.pg.dropDatabase('restorecli_legacy');
  }, 60_000);

  it('--trust-legacy is refused for a key with a run token: such backups were always signed, so an unsigned one was planted', async () => {
    const planted = objectKey(prefix, 'app-db', new Date(Date.UTC(2020, 0, 1)), 'plain', { runToken: 'abc123' });
    const unsigned = legacyMetadata(await getManifest(servers.s3.client(), servers.bucket, key));
    await putBytes(servers.s3.client(), servers.bucket, planted, await getBytes(servers.s3.client(), servers.bucket, key), unsigned);
    const why = `--trust-legacy is only for backups written before backups were signed; ${planted} has a run token, so dumptruck signed it when it wrote it, and an unsigned copy of it was not written by dumptruck\ndo not restore it: check who can write to the bucket, and restore another backup\n`;
    const restore = await cli(['restore', 'app-db', planted, '--into', 'restorecli_planted', '--yes', '--trust-legacy']);
    expect(restore.stderr).toBe(`dumptruck: ${why}`);
    expect(restore.code).toBe(1);
    expect(await databasesLike(servers.pg, 'restorecli_planted')).toEqual([]);
    const verify = await cli(['verify', 'app-db', planted, '--trust-legacy']);
    expect(verify.stderr).toBe(`dumptruck: ${why}`);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toBe('');
  }, 60_000);
});
