import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommand } from '../../src/cli/main.js';
import { objectKey } from '../../src/storage/keys.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { configYaml, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { databasesLike, getBytes, getManifest, legacyMetadata, putBackup, putBytes, sha256 } from '../helpers/objects.js';

// verify, prune and the flagged exit codes of backup, as users run them: the built bin.
const servers = testServers();
const prefix = uniquePrefix('trustcli');
const s3 = servers.s3.client();
let dir: string;

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  return runCli(args, {
    cwd: dir,
    env: { ...servers.env, SCRATCH_PW: servers.pg.superuser.password, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml'), ...env },
  });
}

const keyOf = (stdout: string) => /key: s3:\/\/[^/]+\/(\S+)/.exec(stdout)?.[1];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-trust-cli-'));
  await seedDatabase(servers.pg, 'trustcli_src', 2000);
  await servers.pg.dropDatabase('trustcli_empty');
  await servers.pg.createDatabase('trustcli_empty');
  await writeFile(
    join(dir, 'dumptruck.yml'),
    configYaml(
      servers,
      prefix,
      {
        kept: { db: 'trustcli_src', extra: 'retention: { keepLast: 1 }' },
        empty: { db: 'trustcli_empty' },
        checked: { db: 'trustcli_src', extra: 'verify: true' },
      },
      `verify:\n  restoreUrl: ${servers.pg.url('postgres', servers.pg.superuser.user)}\n  password: { env: SCRATCH_PW }\n`,
    ),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dumptruck verify, prune and flagged backups', () => {
  it('verify latest restores the backup, lists its tables and exits 0; a damaged one exits 1 with the reason', async () => {
    const backup = await cli(['backup', 'kept']);
    expect(backup.code).toBe(0);
    const key = keyOf(backup.stdout)!;

    const ok = await cli(['verify', 'kept', 'latest']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`verified: s3://${servers.bucket}/${key}`);
    expect(ok.stdout).toMatch(/^ {2}ok {2}sha256 matches manifest$/m);
    expect(ok.stdout).toMatch(/^ {2}restored into dumptruck_verify_kept_[0-9a-f]{8} \(dropped\) in .*: 3 tables, 2505 rows$/m);
    expect(ok.stdout).toMatch(/^ {4}public\.events +2000 rows$/m);
    expect(await databasesLike(servers.pg, 'dumptruck_verify_kept_')).toEqual([]);

    const bytes = await getBytes(s3, servers.bucket, key);
    bytes[100]! ^= 0xff;
    const damaged = objectKey(prefix, 'kept', new Date('2020-01-01T00:00:00Z'), 'plain');
    await putBackup(s3, servers.bucket, damaged, bytes, await getManifest(s3, servers.bucket, key));
    const bad = await cli(['verify', 'kept', damaged]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /^dumptruck: verify failed: .*: SHA-256 of the stored bytes is [0-9a-f]{64}, manifest says [0-9a-f]{64}: the object changed after it was written/,
    );
    expect(await databasesLike(servers.pg, 'dumptruck_verify_kept_')).toEqual([]);

    // prune keeps the newest (keepLast 1): the planted 2020 object goes.
    const dry = await cli(['prune', 'kept', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(
      new RegExp(
        `^kept: keepLast 1: would delete 1, keeping 1 \\(dry run\\)\\n {2}would delete +${damaged} \\(\\d+\\.\\d days old\\)\\n {2}keep +${key} \\(newest, last, verified\\)$`,
        'm',
      ),
    );
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/kept/`)).toContain(damaged);
    const pruned = await cli(['prune', 'kept']);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(/^kept: keepLast 1: deleted 1, keeping 1$/m);
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/kept/`)).toEqual([key, `${key}.manifest.json`, `${key}.verified`]);

    const noRules = await cli(['prune', 'empty']);
    expect(noRules.code).toBe(2);
    expect(noRules.stderr).toBe('dumptruck: empty has no retention rules\nset targets.empty.retention: { keepLast: N, keepDays: D }\n');
  });

  it('link warns on an unsigned backup and refuses one whose signature does not match (exit 1, no URL)', async () => {
    const backup = await cli(['backup', 'kept']);
    const key = keyOf(backup.stdout)!;
    const manifest = await getManifest(s3, servers.bucket, key);
    const bytes = await getBytes(s3, servers.bucket, key);
    const unsigned = objectKey(prefix, 'kept', new Date(Date.now() - 86_400_000), 'plain');
    await putBytes(s3, servers.bucket, unsigned, bytes, legacyMetadata(manifest));
    const warned = await cli(['link', 'kept', unsigned]);
    expect(warned.code).toBe(0);
    expect(warned.stdout).toContain(
      'warning: Not signed by this dumptruck: written before backups were signed, or by someone else who can write to the bucket.',
    );
    expect(warned.stdout.trim().split('\n').at(-1)).toMatch(/X-Amz-Signature=/);

    const forged = objectKey(prefix, 'kept', new Date(Date.now() - 2 * 86_400_000), 'plain');
    await putBytes(s3, servers.bucket, forged, Buffer.from('planted'));
    await putBytes(
      s3,
      servers.bucket,
      `${forged}.manifest.json`,
      JSON.stringify({ ...manifest, key: forged, sha256: sha256(Buffer.from('planted')), storedBytes: 7 }),
    );
    const refused = await cli(['link', 'kept', forged]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).not.toMatch(/X-Amz-Signature=/);
    expect(refused.stderr).toContain(`the signature recorded for ${forged} does not match it`);
  });

  it('backup exits 4 for an empty dump, still printing the key', async () => {
    const r = await cli(['backup', 'empty']);
    expect(r.code).toBe(4);
    expect(keyOf(r.stdout)).toMatch(new RegExp(`^${prefix}/empty/`));
    expect(r.stdout).toMatch(/^WARNING: the dump is empty: \d+ bytes \(less than 1\.0 KiB\)/m);
  });

  it('backup exits 5 when the automatic verification fails, still printing the key', async () => {
    const r = await cli(['backup', 'checked'], { SCRATCH_PW: undefined });
    expect(r.code).toBe(5);
    expect(keyOf(r.stdout)).toMatch(new RegExp(`^${prefix}/checked/`));
    expect(r.stdout).toContain('VERIFY FAILED: secret failed: verify.password: environment variable SCRATCH_PW is not set');

    const ok = await cli(['backup', 'checked']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^verified: s3:\/\//m);
  });

  it('parses verify and prune', () => {
    expect(parseCommand(['verify', 'app'])).toEqual({ name: 'verify', target: 'app', key: undefined, trustLegacy: false });
    expect(parseCommand(['verify', 'app', 'latest'])).toEqual({ name: 'verify', target: 'app', key: 'latest', trustLegacy: false });
    expect(parseCommand(['verify', 'app', 'k.sql.gz', '--trust-legacy'])).toEqual({
      name: 'verify',
      target: 'app',
      key: 'k.sql.gz',
      trustLegacy: true,
    });
    for (const argv of [
      ['verify', 'app', '--trust-legacy'],
      ['verify', 'app', 'latest', '--trust-legacy'],
    ]) {
      expect(() => parseCommand(argv)).toThrow('--trust-legacy needs the exact key of one backup, not latest');
    }
    expect(parseCommand(['prune', 'app'])).toEqual({ name: 'prune', target: 'app', dryRun: false });
    expect(parseCommand(['prune', '--dry-run', 'app'])).toEqual({ name: 'prune', target: 'app', dryRun: true });
    expect(() => parseCommand(['prune'])).toThrow('prune takes <target> [--dry-run]');
    expect(() => parseCommand(['prune', 'app', 'x'])).toThrow('prune takes <target> [--dry-run]');
  });
});
