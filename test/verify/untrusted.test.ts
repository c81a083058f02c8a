// Issue 11, item 2: anyone who can write to the bucket must not run code on the host that
// verifies (or restores). Planted objects are refused without psql ever starting; a signed object
// whose dump holds meta-commands meets psql in restricted mode; only signed objects are `latest`.
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectKey } from '../../src/storage/keys.js';
import { verifyBackup } from '../../src/verify/verify.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { configYaml, seedDatabase, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import {
  databasesLike,
  getBytes,
  getManifest,
  honestMetadata,
  hostileDump,
  legacyMetadata,
  putBackup,
  putBytes,
  signedFor,
} from '../helpers/objects.js';

const servers = testServers();
const prefix = uniquePrefix('untrusted');
const s3 = servers.s3.client();
const bucket = servers.bucket;
const SRC = 'untrusted_src';
const scratchYaml = `verify:\n  restoreUrl: ${servers.pg.url('postgres', servers.pg.superuser.user)}\n  password: { env: SCRATCH_PW }\n`;
const env = { ...servers.env, SCRATCH_PW: servers.pg.superuser.password };
let dir: string;

function cli(args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir, env: { ...env, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml') } });
}

const keyOf = (stdout: string) => /key: s3:\/\/[^/]+\/(\S+)/.exec(stdout)![1]!;
const yearsAhead = (years: number, seconds = 0) => new Date(Date.UTC(new Date().getUTCFullYear() + years, 0, 1, 0, 0, seconds));

/** What a planted dump's `\!` would have left behind; each test gets its own. */
let n = 0;
const evidence = () => join(dir, `ran-${++n}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-untrusted-'));
  await seedDatabase(servers.pg, SRC, 500);
  await writeFile(
    join(dir, 'dumptruck.yml'),
    configYaml(servers, prefix, { planted: { db: SRC }, signed: { db: SRC }, legacy: { db: SRC } }, scratchYaml),
  );
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('objects dumptruck did not write', () => {
  it('a planted future-dated dump with \\! is never latest: verify and link latest take the real backup, naming it is refused, and nothing runs', async () => {
    const backup = await cli(['backup', 'planted']);
    expect(backup.code).toBe(0);
    const real = keyOf(backup.stdout);

    const ranUnsigned = evidence();
    const ranForged = evidence();
    // No HMAC at all, dated next year; and one with an HMAC that is not ours, dated the year after.
    const unsigned = objectKey(prefix, 'planted', yearsAhead(1), 'plain');
    const unsignedBytes = hostileDump(`env > ${ranUnsigned}`);
    await putBytes(s3, bucket, unsigned, unsignedBytes, honestMetadata({ target: 'planted', format: 'plain' }, unsignedBytes));
    const forged = objectKey(prefix, 'planted', yearsAhead(2), 'plain');
    const forgedBytes = hostileDump(`touch ${ranForged}`);
    await putBytes(s3, bucket, forged, forgedBytes, {
      ...honestMetadata({ target: 'planted', format: 'plain' }, forgedBytes),
      'dumptruck-hmac': 'ab'.repeat(32),
    });

    // Signed, even: a key dated beyond the clock's 5-minute allowance is never latest (a wrong clock, or a key holder's mistake).
    const ahead = objectKey(prefix, 'planted', new Date(Date.now() + 3_600_000), 'plain');
    await putBackup(s3, bucket, ahead, await getBytes(s3, bucket, real), await getManifest(s3, bucket, real));

    const latest = await cli(['verify', 'planted', 'latest']);
    expect(latest.stderr).toBe('');
    expect(latest.code).toBe(0);
    expect(latest.stdout).toContain(`verified: s3://${bucket}/${real}`);
    expect(latest.stdout).toMatch(/^ {2}ok {2}HMAC of key and sha256 \(in its manifest\) matches storage\.hmacKey$/m);
    expect(latest.stdout).toMatch(/^ {2}restored into dumptruck_verify_planted_[0-9a-f]{8} \(dropped\)/m);

    const link = await cli(['link', 'planted', 'latest']);
    expect(link.code).toBe(0);
    expect(link.stdout.split('\n')[0]).toMatch(new RegExp(`^${real.replace(/[.]/g, '\\.')} \\(`));

    const named = await cli(['verify', 'planted', unsigned]);
    expect(named.code).toBe(1);
    expect(named.stderr).toBe(
      `dumptruck: verify failed: ${unsigned} carries no dumptruck HMAC (x-amz-meta-dumptruck-hmac), so it was not restored: it was not written by dumptruck, or was written before backups were signed\n` +
        `if you know it is a backup dumptruck wrote before signing, verify that one object from a terminal with: dumptruck verify planted ${unsigned} --trust-legacy\n`,
    );
    for (const args of [
      ['verify', 'planted', forged],
      ['verify', 'planted', forged, '--trust-legacy'],
    ]) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `^dumptruck: verify failed: ${forged.replace(/[.]/g, '\\.')} is not a backup dumptruck wrote: its HMAC \\(x-amz-meta-dumptruck-hmac\\) does not match its key and SHA-256, so it was not restored\n`,
        ),
      );
    }
    // Not even a scratch database was made for them, and no shell ran.
    expect(await databasesLike(servers.pg, 'dumptruck_verify_planted_')).toEqual([]);
    expect(existsSync(ranUnsigned)).toBe(false);
    expect(existsSync(ranForged)).toBe(false);
  });

  it('a signed object whose dump holds \\! fails its restore test in restricted mode, and nothing runs', async () => {
    const ran = evidence();
    const key = objectKey(prefix, 'signed', new Date('2020-01-01T00:00:00Z'), 'plain');
    const bytes = hostileDump(`env > ${ran}`);
    await putBytes(s3, bucket, key, bytes, signedFor(key, honestMetadata({ target: 'signed', format: 'plain' }, bytes)));

    const r = await cli(['verify', 'signed', key]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`dumptruck: verify failed: ${key} did not restore: psql exited with code 3`);
    expect(r.stderr).toMatch(/backslash commands are restricted; only \\unrestrict is allowed/);
    expect(existsSync(ran)).toBe(false);
    expect(await databasesLike(servers.pg, 'dumptruck_verify_signed_')).toEqual([]);
  });

  it('a backup written before signing is verified only with --trust-legacy, for that key', async () => {
    const backup = await cli(['backup', 'legacy']);
    const signed = keyOf(backup.stdout);
    const unsignedMeta = legacyMetadata(await getManifest(s3, bucket, signed));
    const old = objectKey(prefix, 'legacy', new Date('2020-01-01T00:00:00Z'), 'plain');
    await putBytes(s3, bucket, old, await getBytes(s3, bucket, signed), unsignedMeta);

    const refused = await cli(['verify', 'legacy', old]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('carries no dumptruck HMAC');
    const trusted = await cli(['verify', 'legacy', old, '--trust-legacy']);
    expect(trusted.stderr).toBe('');
    expect(trusted.code).toBe(0);
    expect(trusted.stdout).toContain(`verified: s3://${bucket}/${old}`);
    expect(trusted.stdout).toMatch(/^ {2}ok {2}no HMAC \(written before backups were signed\), trusted by the operator for this key$/m);
    expect(trusted.stdout).toMatch(/: 3 tables, 1005 rows$/m);
  });

  it('a psql without restricted mode is refused before a scratch database is made', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'dt-oldpsql-'));
    try {
      await writeFile(join(bin, 'psql'), '#!/bin/sh\necho "psql (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)"\n');
      await chmod(join(bin, 'psql'), 0o755);
      const config = testConfig(servers, prefix, { legacy: { db: SRC } }, scratchYaml);
      const backup = await cli(['backup', 'legacy']);
      const key = keyOf(backup.stdout);
      const err = await verifyBackup(
        { config, s3, env, locatePgDump: async () => ({ path: join(bin, 'pg_dump'), version: '15.13', major: 15 }) },
        'legacy',
        key,
        { restore: true },
      ).catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: 'PSQL_TOO_OLD',
        message: expect.stringMatching(/^psql 15\.13 has no restricted mode/),
        hint: expect.stringMatching(/^upgrade postgresql-client/),
      });
      expect(await databasesLike(servers.pg, 'dumptruck_verify_legacy_')).toEqual([]);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });
});
