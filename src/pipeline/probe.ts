import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Compression } from '../config/compression.js';
import { DumptruckError } from '../errors.js';
import type { DumpFormat } from '../types.js';
import { scrubSecrets } from '../redact.js';

const execFileAsync = promisify(execFile);

export interface ServerInfo {
  /** e.g. "15.18" */
  readonly version: string;
  readonly major: number;
  /** pg_database_size: on-disk size, the best cheap estimate of the dump's size. */
  readonly databaseBytes: number;
}

/** Connects once before dumping: bad passwords and missing databases fail here, before any upload starts. */
export async function probeServer(url: string, password: string | undefined, appName: string): Promise<ServerInfo> {
  const client = new pg.Client({
    connectionString: withPassword(url, password),
    application_name: appName,
    connectionTimeoutMillis: 15_000,
    // A server that accepts the connection and then goes quiet must fail the probe, not hold the job.
    query_timeout: 30_000,
    statement_timeout: 30_000,
  });
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string; n: string; size: string }>(
      "select current_setting('server_version') as v, current_setting('server_version_num') as n, pg_database_size(current_database())::text as size",
    );
    const row = rows[0]!;
    return { version: row.v.split(' ')[0]!, major: Math.floor(Number(row.n) / 10000), databaseBytes: Number(row.size) };
  } catch (err) {
    const message = scrubSecrets(err instanceof Error ? err.message : String(err), password ? [password] : []);
    throw new DumptruckError('CONNECT_FAILED', 'connect', `cannot connect to ${describeUrl(url)}: ${message}`, {
      cause: err,
      hint: hintFor(err),
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * pg lets values parsed from connectionString override explicit options (an absent password
 * included), so the password goes into the in-memory URL. This string never leaves the process.
 */
function withPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url;
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}

function hintFor(err: unknown): string | undefined {
  const code = (err as { code?: string }).code;
  if (code === '28P01' || code === '28000') return "check the target's password source and the role in its url";
  if (code === '3D000') return "check the database name in the target's url";
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT')
    return "check the host and port in the target's url, and that the bot can reach it";
  return undefined;
}

/** host:port/db, for messages: never the user's password (there is none in the url by contract). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return 'the target database';
  }
}

export interface PgDumpBinary {
  readonly path: string;
  /** e.g. "15.18" */
  readonly version: string;
  readonly major: number;
}

export async function pgDumpVersion(path: string): Promise<PgDumpBinary> {
  const { stdout } = await execFileAsync(path, ['--version'], { timeout: 10_000 });
  const m = /(\d+)(?:\.(\d+))?/.exec(stdout.replace(/^[^)]*\)/, ''));
  if (!m) throw new Error(`unexpected pg_dump --version output: ${stdout.trim()}`);
  return { path, version: m[2] === undefined ? m[1]! : `${m[1]}.${m[2]}`, major: Number(m[1]) };
}

/**
 * The pg_dump to use: the configured one, else the newest installed (PATH, then the Debian and
 * RHEL per-major directories). A newer pg_dump dumps older servers; an older one cannot.
 */
export async function locatePgDump(
  configured: string | undefined,
  listDir: (dir: string) => Promise<string[]> = (d) => readdir(d),
): Promise<PgDumpBinary> {
  if (configured) {
    try {
      return await pgDumpVersion(configured);
    } catch (err) {
      throw new DumptruckError('PG_DUMP_NOT_FOUND', 'version', `cannot run pg_dump at ${configured}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const candidates = ['pg_dump'];
  for (const [dir, sub] of [
    ['/usr/lib/postgresql', 'bin/pg_dump'],
    ['/usr', 'bin/pg_dump'],
  ] as const) {
    const entries = await listDir(dir).catch(() => []);
    for (const e of entries) if (dir === '/usr/lib/postgresql' || e.startsWith('pgsql-')) candidates.push(`${dir}/${e}/${sub}`);
  }
  const found = (await Promise.all(candidates.map((c) => pgDumpVersion(c).catch(() => undefined)))).filter((b) => b !== undefined);
  if (found.length === 0) {
    throw new DumptruckError('PG_DUMP_NOT_FOUND', 'version', 'pg_dump not found on PATH or under /usr/lib/postgresql', {
      hint: 'install the PostgreSQL client (Debian/Ubuntu: apt-get install postgresql-client) or set targets.<name>.pgDump',
    });
  }
  return found.reduce((best, b) => (b.major > best.major ? b : best));
}

/** pg_dump compresses custom-format archives with zstd from version 16 on; older ones would refuse the flag. */
export function checkCompressionSupport(dump: PgDumpBinary, format: DumpFormat, compression: Compression, target: string): void {
  if (format !== 'custom' || compression.algorithm !== 'zstd' || dump.major >= 16) return;
  throw new DumptruckError(
    'PG_DUMP_TOO_OLD',
    'version',
    `pg_dump ${dump.version} (${dump.path}) cannot compress a custom-format archive with zstd: that needs pg_dump 16 or newer`,
    {
      hint: `install postgresql-client-16 or newer (it still dumps older servers) or set targets.${target}.pgDump to one; or set targets.${target}.compression.algorithm: gzip`,
    },
  );
}

/** pg_dump refuses servers of a newer major version; say so before starting, with what to install. */
export function checkPgDumpVersion(dump: PgDumpBinary, server: ServerInfo, target: string): void {
  if (dump.major >= server.major) return;
  throw new DumptruckError(
    'PG_DUMP_TOO_OLD',
    'version',
    `pg_dump ${dump.version} (${dump.path}) cannot dump PostgreSQL ${server.version}: pg_dump must be version ${server.major} or newer`,
    {
      hint: `install postgresql-client-${server.major} (Debian/Ubuntu, from apt.postgresql.org) or set targets.${target}.pgDump to a pg_dump ${server.major}+ binary`,
    },
  );
}
