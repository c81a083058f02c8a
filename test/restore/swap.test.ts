// Where a restore writes, against the real PostgreSQL and versitygw (review findings 1-4, 6, 7):
// always into a private `<db>_restoring_<random>` database that takes the requested name only at
// the end, so the original stays untouched under its name until then; admin statements on the
// `postgres` database (restore.url unset: the target's own server, whose URL names the database
// being replaced); the plan's backup checked again before anything is created; a failing row
// count that does not throw away a restore; an aside name that is already taken.
import { spawn as nodeSpawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { planRestore, runRestore, type RestoreDeps, type RestorePlan } from '../../src/restore/restore.js';
import { restoreResultLines } from '../../src/cli/restore.js';
import { asideName } from '../../src/restore/server.js';
import { compactTimestamp, objectKey } from '../../src/storage/keys.js';
import type { ToolSpawn } from '../../src/verify/tools.js';
import { seedDatabase, tableDigests, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { databasesLike, getBytes, getManifest, legacyMetadata, putBytes } from '../helpers/objects.js';
import { rejection } from '../helpers/rejection.js';

const servers = testServers();
const LIVE = 'swaprestore_live';
const prefix = uniquePrefix('swaprestore');
const env = { ...servers.env, RESTORE_PW: servers.pg.superuser.password };
// No restore.url: the destination is the target's own server, and its URL names LIVE itself.
const config = testConfig(servers, prefix, {
  own: { db: LIVE, user: servers.pg.superuser.user, passwordEnv: 'RESTORE_PW', extra: 'restore: { allowReplace: true }' },
});
const s3 = servers.s3.client();
const deps: RestoreDeps = { config, s3, env };

let key: string;
let backedUp: Awaited<ReturnType<typeof tableDigests>>;

async function sql(db: string, text: string): Promise<unknown[]> {
  const client = await servers.pg.adminClient(db);
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/** LIVE as the backup has it, plus a marker table the backup does not have. */
async function resetLive(): Promise<void> {
  await servers.pg.dropDatabase(LIVE);
  await seedDatabase(servers.pg, LIVE, 100_000);
  await sql(LIVE, "create table marker (note text); insert into marker values ('the original')");
}

const leftovers = async () => (await databasesLike(servers.pg, 'swaprestore_')).filter((db) => /_restoring_|_before_restore_/.test(db));

beforeAll(async () => {
  await servers.pg.dropDatabase(LIVE);
  await seedDatabase(servers.pg, LIVE, 100_000);
  backedUp = await tableDigests(servers.pg, LIVE);
  key = (await createBackupRunner({ config, s3, env })({ target: 'own', trigger: { kind: 'cli', by: 'tester' } })).key;
  await sql(LIVE, "create table marker (note text); insert into marker values ('the original')");
}, 180_000);

afterAll(async () => {
  for (const db of await databasesLike(servers.pg, 'swaprestore_')) await servers.pg.dropDatabase(db);
});

describe('restore swaps in a private database at the end', () => {
  it('cancelled mid-restore of a replace: the original kept its name and content throughout, and nothing else is left', async () => {
    const plan = await planRestore(deps, { target: 'own', key, database: LIVE, replace: true });
    const controller = new AbortController();
    let during: Promise<unknown[]> | undefined;
    const err = await rejection(
      runRestore(deps, plan, {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type !== 'restore-started') return;
          // While the restore streams, the production name still points at the original.
          during = sql(LIVE, 'select note from marker').finally(() => controller.abort());
        },
      }),
    );
    expect(err).toMatchObject({ code: 'CANCELLED' });
    expect(await during).toEqual([{ note: 'the original' }]);
    expect(await sql(LIVE, 'select note from marker')).toEqual([{ note: 'the original' }]);
    expect(await tableDigests(servers.pg, LIVE)).toEqual(backedUp);
    expect(await leftovers()).toEqual([]);
  }, 120_000);

  it("replacing the target's own database with restore.url unset restores it, and keeps the original aside", async () => {
    const plan = await planRestore(deps, { target: 'own', key, database: LIVE, replace: true });
    const report = await runRestore(deps, plan);
    expect(report.keptAs).toMatch(/^swaprestore_live_before_restore_\d{8}T\d{6}Z_[0-9a-f]{8}$/);
    expect(report.rows).toBe(100_505);
    expect(await tableDigests(servers.pg, LIVE)).toEqual(backedUp);
    expect(await sql(LIVE, "select to_regclass('marker') as t")).toEqual([{ t: null }]);
    expect(await sql(report.keptAs!, 'select note from marker')).toEqual([{ note: 'the original' }]);
    expect((await leftovers()).filter((db) => db !== report.keptAs)).toEqual([]);
    await servers.pg.dropDatabase(report.keptAs!);
  }, 120_000);

  it('an aside name that is already taken fails the restore, and neither the original nor that database is touched', async () => {
    await resetLive();
    const at = new Date();
    const taken = asideName(LIVE, compactTimestamp(at), '0000beef');
    await servers.pg.createDatabase(taken);
    await sql(taken, "create table unrelated (note text); insert into unrelated values ('someone else')");
    const bystander = await servers.pg.adminClient(taken);
    try {
      const pinned: RestoreDeps = { ...deps, now: () => at, randomSuffix: () => '0000beef' };
      const plan = await planRestore(pinned, { target: 'own', key, database: LIVE, replace: true });
      const err = await rejection(runRestore(pinned, plan));
      expect(err.message).toMatch(new RegExp(`^cannot rename database ${LIVE} to ${taken} on .*: database "${taken}" already exists$`));
      // A session on the unrelated database was not ended, and its data is as it was.
      expect((await bystander.query('select note from unrelated')).rows).toEqual([{ note: 'someone else' }]);
    } finally {
      await bystander.end();
    }
    expect(await sql(LIVE, 'select note from marker')).toEqual([{ note: 'the original' }]);
    expect(await leftovers()).toEqual([taken]);
    await servers.pg.dropDatabase(taken);
  }, 120_000);

  it('names what earlier interrupted restores into the same database left, unless someone is connected to it, and drops none', async () => {
    const idle = 'swaprestore_left_restoring_0badc0de';
    const busy = 'swaprestore_left_restoring_0000beef';
    const otherDatabase = 'swaprestore_leftx_restoring_11111111';
    const notOurs = 'swaprestore_left_restoring_by_hand';
    for (const db of [idle, busy, otherDatabase, notOurs]) await sql('postgres', `create database ${db}`);
    const holder = await servers.pg.adminClient(busy);
    try {
      const plan = await planRestore(deps, { target: 'own', key, database: 'swaprestore_left' });
      const report = await runRestore(deps, plan);
      expect(report.leftovers).toEqual([idle]);
      expect(restoreResultLines(report).at(-1)).toBe(
        `  also on the server, left by an interrupted restore and with nobody connected: ${idle}; drop it once no restore of own is running`,
      );
    } finally {
      await holder.end();
    }
    expect(await databasesLike(servers.pg, 'swaprestore_left')).toEqual(
      expect.arrayContaining(['swaprestore_left', idle, busy, otherDatabase, notOurs]),
    );
    for (const db of [idle, busy, otherDatabase, notOurs]) await servers.pg.dropDatabase(db);
    const again = await runRestore(deps, await planRestore(deps, { target: 'own', key, database: 'swaprestore_left2' }));
    expect(again.leftovers).toBeUndefined();
  }, 180_000);

  it('a row count that fails keeps the restored database and says the rows were not counted', async () => {
    // A 1 ms statement timeout for the counts only: count(*) over 100,000 rows cannot finish in it.
    const strict: RestoreDeps = { ...deps, adminTimeouts: { adminMs: 60_000, countMs: 1 } };
    const plan = await planRestore(strict, { target: 'own', key, database: 'swaprestore_uncounted' });
    const report = await runRestore(strict, plan);
    expect(report.notCounted).toMatch(/^cannot count rows in swaprestore_restoring|statement timeout/);
    expect(report).toMatchObject({ tables: [], rows: 0 });
    expect(await tableDigests(servers.pg, 'swaprestore_uncounted')).toEqual(backedUp);
    expect(await leftovers()).toEqual([]);
  }, 120_000);

  it('a new database whose name was created by someone else while the restore ran is left alone; only the restore is dropped', async () => {
    // psql waits for a file before it starts: the name is taken, for sure, before the restore can end.
    const gate = join(await mkdtemp(join(tmpdir(), 'dt-swap-')), 'go');
    const gated: ToolSpawn = (command, args, options) =>
      args.includes('ON_ERROR_STOP=1')
        ? nodeSpawn('bash', ['-c', 'while [ ! -e "$0" ]; do sleep 0.05; done; shift; exec "$@"', gate, 'x', command, ...args], options)
        : nodeSpawn(command, args, options);
    const plan = await planRestore(deps, { target: 'own', key, database: 'swaprestore_appeared' });
    let appeared: Promise<void> | undefined;
    const err = await rejection(
      runRestore({ ...deps, spawn: gated }, plan, {
        onEvent: (e) => {
          if (e.type !== 'restore-started') return;
          appeared = (async () => {
            await servers.pg.createDatabase('swaprestore_appeared');
            await sql('swaprestore_appeared', "create table theirs (note text); insert into theirs values ('not ours')");
            await writeFile(gate, '');
          })();
        },
      }),
    );
    await appeared;
    expect(err).toMatchObject({ code: 'DESTINATION_EXISTS' });
    expect(err.message).toMatch(
      /^database swaprestore_appeared was created on 127\.0\.0\.1:\d+ while the restore ran; it is left as it is and the restore is dropped$/,
    );
    expect(await sql('swaprestore_appeared', 'select note from theirs')).toEqual([{ note: 'not ours' }]);
    expect(await leftovers()).toEqual([]);
    await rm(dirname(gate), { recursive: true, force: true });
  }, 120_000);

  it('a plan whose key was swapped after approval for an unsigned copy of the same bytes is refused before anything is created', async () => {
    const plan = await planRestore(deps, { target: 'own', key, database: 'swaprestore_planted' });
    const planted = objectKey(prefix, 'own', new Date(Date.UTC(2019, 0, 1)), 'plain');
    const unsigned = legacyMetadata(await getManifest(s3, servers.bucket, key));
    await putBytes(s3, servers.bucket, planted, await getBytes(s3, servers.bucket, key), unsigned);
    const edited: RestorePlan = { ...plan, key: planted };
    const err = await rejection(runRestore(deps, edited));
    expect(err).toMatchObject({ code: 'NOT_TRUSTED' });
    expect(err.message).toContain(`${planted} carries no dumptruck HMAC`);
    expect(await databasesLike(servers.pg, 'swaprestore_planted')).toEqual([]);
  }, 120_000);
});
