// Shared fixtures for tests that run real backups: a config pointing at the test servers, a
// source database with awkward content, and a restore + compare that proves a dump is good.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { inject } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type pg from 'pg';
import { RestrictedPsqlInput, newRestrictKey } from '../../src/verify/restrict.js';
import { postgresFromInfo, type PgHandle } from './postgres.js';
import { s3FromInfo, type S3Handle } from './versitygw.js';

/** storage.hmacKey of every test config (through DUMPTRUCK_HMAC_KEY, the default source). */
export const TEST_HMAC_KEY = 'test-hmac-key-0123456789abcdef0123456789abcdef';

export interface TestServers {
  readonly pg: PgHandle;
  readonly s3: S3Handle;
  readonly bucket: string;
  /** The environment a runner gets: S3 credentials, target passwords and the HMAC key. */
  readonly env: Record<string, string>;
}

export function testServers(): TestServers {
  const pg = postgresFromInfo(inject('postgres'));
  const s3 = s3FromInfo(inject('s3'));
  return {
    pg,
    s3,
    bucket: inject('s3Bucket'),
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
      BACKUP_PW: pg.backup.password,
      WRONG_PW: 'not-the-password',
      DUMPTRUCK_HMAC_KEY: TEST_HMAC_KEY,
    },
  };
}

export interface TargetSpec {
  readonly db: string;
  readonly format?: 'plain' | 'custom';
  readonly passwordEnv?: string;
  /** The password source as YAML, e.g. `{ awsSecretsManager: { secretId: x } }`; default `{ env: <passwordEnv> }`. */
  readonly password?: string;
  /** The role in the URL; default the backup role. */
  readonly user?: string;
  readonly extra?: string;
}

/** YAML text for a config on the test servers; `extraYaml` is appended at the top level. */
export function configYaml(servers: TestServers, prefix: string, targets: Record<string, TargetSpec>, extraYaml = ''): string {
  const lines = [
    'storage:',
    `  bucket: ${servers.bucket}`,
    `  prefix: ${prefix}`,
    `  endpoint: ${servers.s3.endpoint}`,
    `  region: ${servers.s3.region}`,
    'targets:',
  ];
  for (const [name, t] of Object.entries(targets)) {
    lines.push(
      `  ${name}:`,
      `    url: ${servers.pg.url(t.db, t.user)}`,
      `    password: ${t.password ?? `{ env: ${t.passwordEnv ?? 'BACKUP_PW'} }`}`,
      `    format: ${t.format ?? 'plain'}`,
    );
    if (t.extra) lines.push(...t.extra.split('\n').map((l) => `    ${l}`));
  }
  return `${lines.join('\n')}\n${extraYaml}`;
}

export function testConfig(servers: TestServers, prefix: string, targets: Record<string, TargetSpec>, extraYaml = ''): Config {
  return parseConfig(configYaml(servers, prefix, targets, extraYaml), {}, 'test config');
}

/**
 * A source database with several tables: non-ASCII text, NULLs, bytea, a large table of
 * `largeRows` rows (about 100 bytes each as text) and a sequence.
 */
export async function seedDatabase(pg: PgHandle, db: string, largeRows = 100_000): Promise<void> {
  await pg.dropDatabase(db);
  await pg.createDatabase(db);
  const client = await pg.adminClient(db);
  try {
    await client.query(`
      create table customers (id serial primary key, name text not null, note text, created timestamptz default '2026-01-01T00:00:00Z');
      insert into customers (name, note) values
        ('Ana Müller', 'ümlaut'), ('김민준', '백업 테스트'), ('Zoë', null), ('O''Brien', E'tab\\there'), ('東京', '日本語テキスト 🚚');
      create table blobs (id int primary key, data bytea);
      insert into blobs select g, decode(md5(g::text) || md5((g * 7)::text), 'hex') from generate_series(1, 500) g;
      create table events (id bigint primary key, kind text, payload jsonb, amount numeric(12,2));
      insert into events
        select g, (array['login','logout','purchase','refund'])[1 + g % 4],
               jsonb_build_object('n', g, 'h', md5(g::text), 'tag', 'été'),
               (g % 10000) / 100.0
        from generate_series(1, ${largeRows}) g;
      create sequence invoice_no start 1000;
      select nextval('invoice_no');
    `);
  } finally {
    await client.end();
  }
}

export const SEEDED_TABLES = ['customers', 'blobs', 'events'] as const;

/**
 * Holds a backup of a seeded database at pg_dump's start (it waits for a share lock on every
 * table) until releaseLock(): a job that is certainly running, for as long as a test needs.
 */
export async function lockTable(pg: PgHandle, db: string, table = 'customers'): Promise<pg.Client> {
  const client = await pg.adminClient(db);
  await client.query('begin');
  await client.query(`lock table ${client.escapeIdentifier(table)} in access exclusive mode`);
  return client;
}

export async function releaseLock(lock: pg.Client): Promise<void> {
  await lock.query('rollback');
  await lock.end();
}

/** Runs `sql` on `db` as the superuser. */
export async function adminSql(pg: PgHandle, db: string, sql: string): Promise<void> {
  const client = await pg.adminClient(db);
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database `db` with table `owned` owned by role `owner`, backed up by `backup` while the role
 * exists; then the role goes away, as on a server that never had it.
 */
export async function ownedByMissingRole(pg: PgHandle, db: string, owner: string, backup: () => Promise<void>): Promise<void> {
  await pg.dropDatabase(db);
  await adminSql(pg, 'postgres', `drop role if exists ${owner}; create role ${owner}`);
  await pg.createDatabase(db);
  await adminSql(
    pg,
    db,
    `create table owned (id int); insert into owned values (1), (2); alter table owned owner to ${owner}; grant select on owned to ${pg.backup.user}`,
  );
  await backup();
  await adminSql(pg, db, `reassign owned by ${owner} to ${pg.superuser.user}; drop owned by ${owner}`);
  await adminSql(pg, 'postgres', `drop role ${owner}`);
}

/** Row count and an order-independent content checksum per table. */
export async function tableDigests(
  pg: PgHandle,
  db: string,
  tables: readonly string[] = SEEDED_TABLES,
): Promise<Record<string, { rows: number; md5: string }>> {
  const client = await pg.adminClient(db);
  try {
    const out: Record<string, { rows: number; md5: string }> = {};
    for (const t of tables) {
      const { rows } = await client.query<{ n: string; h: string }>(
        `select count(*)::text as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from ${t} x`,
      );
      out[t] = { rows: Number(rows[0]!.n), md5: rows[0]!.h };
    }
    return out;
  } finally {
    await client.end();
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, stdin?: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: [stdin ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    if (stdin) stdin.pipe(child.stdin!);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err.slice(-2000)}`))));
  });
}

/** Downloads `url` and restores it into a fresh database `db` (plain: gunzip | psql or zstd -dc | psql, by the key's suffix; custom: pg_restore). */
export async function restoreFromUrl(pg: PgHandle, url: string, format: 'plain' | 'custom', db: string): Promise<void> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`download failed: HTTP ${res.status}`);
  // Downloaded whole before restoring (test dumps are a few MiB): fetch's parser asserts on Node 24
  // when the server closes the socket while psql's backpressure holds the body paused.
  const body = Readable.from([Buffer.from(await res.arrayBuffer())]);
  await restoreFrom(pg, body, format, db, new URL(url).pathname.endsWith('.sql.zst') ? 'zstd' : 'gzip');
}

/** Restores a dump (plain: compressed SQL; custom: the archive) read from `body` into a fresh database `db`. */
export async function restoreFrom(
  pg: PgHandle,
  body: Readable,
  format: 'plain' | 'custom',
  db: string,
  algorithm: 'gzip' | 'zstd' = 'gzip',
): Promise<void> {
  await pg.dropDatabase(db);
  await pg.createDatabase(db);
  const env = { ...process.env, PGPASSWORD: pg.superuser.password };
  const conn = ['-h', pg.host, '-p', String(pg.port), '-U', pg.superuser.user, '-d', db];
  if (format === 'plain') {
    // As dumptruck restores: restricted mode, so no meta-command in the dump runs here either.
    const psql = (sql: Readable) =>
      run('psql', [...conn, '-q', '-v', 'ON_ERROR_STOP=1', '-X'], env, sql.pipe(new RestrictedPsqlInput(newRestrictKey())));
    if (algorithm === 'gzip') return psql(body.pipe(createGunzip()));
    // The reference tool, as the README's restore command uses it.
    const zstd = spawn('zstd', ['-dc'], { stdio: ['pipe', 'pipe', 'inherit'] });
    body.pipe(zstd.stdin);
    const unzstd = new Promise<void>((resolve, reject) =>
      zstd.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd -dc exited ${code}`)))),
    );
    await Promise.all([psql(zstd.stdout), unzstd]);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'dt-restore-'));
  try {
    const file = join(dir, 'dump');
    await pipeline(body, createWriteStream(file));
    await run('pg_restore', [...conn, '--exit-on-error', '--no-owner', file], env);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function uniquePrefix(name: string): string {
  return `${name}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
