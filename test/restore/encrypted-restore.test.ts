// Restoring encrypted (`.age`) backups (issues 15 and 16) against the real PostgreSQL, versitygw
// and `age`: decrypted with the target's identity through the same fd-3 pipe verify uses, the
// checksum over the stored ciphertext, and the identity in no argv, environment or error.
import { spawn as nodeSpawn, type SpawnOptions } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { planRestore, runRestore, type RestoreDeps } from '../../src/restore/restore.js';
import type { ToolSpawn } from '../../src/verify/tools.js';
import { ageKeygen } from '../helpers/age.js';
import { seedDatabase, tableDigests, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { databasesLike, getBytes, sha256 } from '../helpers/objects.js';
import { rejection } from '../helpers/rejection.js';

const servers = testServers();
const SRC = 'encrestore_src';
const alice = ageKeygen();
const mallory = ageKeygen();
const env = { ...servers.env, RESTORE_PW: servers.pg.superuser.password, ALICE_KEY: alice.identity, MALLORY_KEY: mallory.identity };
const restoreTo = `restore: { url: ${servers.pg.url('postgres', servers.pg.superuser.user)}, password: { env: RESTORE_PW } }`;
const encrypted = (identity?: string) =>
  `${restoreTo}\nencrypt: { recipients: [${alice.recipient}]${identity ? `, identity: { env: ${identity} }` : ''} }`;
const config = testConfig(servers, uniquePrefix('encrestore'), {
  enc: { db: SRC, extra: encrypted('ALICE_KEY') },
  enccustom: { db: SRC, format: 'custom', extra: encrypted('ALICE_KEY') },
  zenc: { db: SRC, extra: `compression: { algorithm: zstd }\n${encrypted('ALICE_KEY')}` },
  noid: { db: SRC, extra: encrypted() },
  wrongid: { db: SRC, extra: encrypted('MALLORY_KEY') },
});
const s3 = servers.s3.client();

/** Every process a restore starts (psql, pg_restore, bash around age), with its argv and environment. */
const spawned: { command: string; args: readonly string[]; env: Record<string, string | undefined> }[] = [];
const recordingSpawn = ((command: string, args: readonly string[], options: SpawnOptions) => {
  spawned.push({ command, args, env: { ...options.env } });
  return nodeSpawn(command, args, options);
}) as ToolSpawn;
const deps: RestoreDeps = { config, s3, env, spawn: recordingSpawn };
const backup = (target: string) => createBackupRunner({ config, s3, env })({ target, trigger: { kind: 'cli', by: 'tester' } });

function expectNoIdentityIn(where: string, text: string): void {
  for (const identity of [alice.identity, mallory.identity]) expect(text.includes(identity), `an identity appears in ${where}`).toBe(false);
}

let sourceDigests: Awaited<ReturnType<typeof tableDigests>>;
beforeAll(async () => {
  await seedDatabase(servers.pg, SRC, 2000);
  sourceDigests = await tableDigests(servers.pg, SRC);
}, 120_000);

afterAll(async () => {
  for (const db of await databasesLike(servers.pg, 'encrestore_')) await servers.pg.dropDatabase(db);
});

describe('restoring encrypted backups', () => {
  it('plain gzip, plain zstd and custom .age backups restore equal to the source, checked against the ciphertext’s SHA-256; the identity reaches age only through its pipe', async () => {
    for (const [target, database] of [
      ['enc', 'encrestore_plain'],
      ['zenc', 'encrestore_zstd'],
      ['enccustom', 'encrestore_custom'],
    ] as const) {
      const result = await backup(target);
      expect(result.key).toMatch(/\.age$/);
      spawned.length = 0;
      const plan = await planRestore(deps, { target, key: 'latest', database });
      // The recorded checksum is of the stored (encrypted) bytes, and that is what restore checks.
      expect(plan.sha256).toBe(sha256(await getBytes(s3, servers.bucket, result.key)));
      const report = await runRestore(deps, plan);
      expect(report.rows).toBe(2505);
      expect(await tableDigests(servers.pg, database), target).toEqual(sourceDigests);
      expect(
        spawned.some((p) => p.command === 'bash' && p.args.includes('age') && p.args.includes('--decrypt')),
        target,
      ).toBe(true);
      for (const p of spawned) expectNoIdentityIn(`${p.command}'s argv or environment`, JSON.stringify(p));
      expectNoIdentityIn('the report', JSON.stringify(report));
    }
  }, 180_000);

  it('a wrong identity fails with a plain reason, leaves no database, and names no key', async () => {
    await backup('wrongid');
    const plan = await planRestore(deps, { target: 'wrongid', key: 'latest', database: 'encrestore_wrong' });
    const err = await rejection(runRestore(deps, plan));
    expect(err).toMatchObject({ code: 'WRONG_IDENTITY' });
    expect(err.message).toMatch(/: the configured identity is not one of the backup's recipients: age cannot decrypt it$/);
    expectNoIdentityIn('the error', JSON.stringify({ message: err.message, stderrTail: err.stderrTail, hint: err.hint }));
    expect(await databasesLike(servers.pg, 'encrestore_wrong')).toEqual([]);
  }, 120_000);

  it('without an identity configured, the restore is refused before anything is created', async () => {
    await backup('noid');
    spawned.length = 0;
    const err = await rejection(planRestore(deps, { target: 'noid', key: 'latest', database: 'encrestore_noid' }));
    expect(err.message).toMatch(
      /\.sql\.gz\.age is encrypted with age and no encrypt\.identity is configured for noid, so it cannot be decrypted; nothing was restored$/,
    );
    expect(err.hint).toMatch(/targets\.noid\.encrypt\.identity/);
    // A plan made while an identity was configured is refused all the same once it is gone.
    const plan = await planRestore(deps, { target: 'wrongid', key: 'latest', database: 'encrestore_noid' });
    const gone = await rejection(
      runRestore({ ...deps, config: testConfig(servers, config.storage.prefix, { wrongid: { db: SRC, extra: encrypted() } }) }, plan),
    );
    expect(gone.message).toMatch(/no encrypt\.identity is configured for wrongid/);
    expect(spawned).toEqual([]);
    expect(await databasesLike(servers.pg, 'encrestore_noid')).toEqual([]);
  }, 120_000);
});
