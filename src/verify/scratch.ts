import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DumptruckError } from '../errors.js';
import { describeUrl } from '../pipeline/probe.js';
import type { RestoredTable } from '../types.js';
import { scrubSecrets } from '../redact.js';

export type { RestoredTable } from '../types.js';

/** `dumptruck_verify_<target>_<random>`, within PostgreSQL's 63-byte identifier limit. */
export function scratchDatabaseName(target: string, random = randomBytes(4).toString('hex')): string {
  const head = 'dumptruck_verify_';
  const tail = `_${random}`;
  return `${head}${target.replace(/-/g, '_').slice(0, 63 - head.length - tail.length)}${tail}`;
}

/** The scratch server's URL with another database in its path (for psql and pg_restore --dbname). */
export function urlForDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** How one server's admin errors read: the scratch server of restore tests, or a restore's destination. */
export interface ServerRole {
  readonly code: 'VERIFY_FAILED' | 'RESTORE_FAILED';
  readonly stage: 'verify' | 'restore';
  /** Put before the server's host:port/db in messages, e.g. "the scratch server ". */
  readonly called: string;
  /** What to check when no connection can be made. */
  readonly connectHint?: string;
}

export const SCRATCH_SERVER: ServerRole = {
  code: 'VERIFY_FAILED',
  stage: 'verify',
  called: 'the scratch server ',
  connectHint: 'check verify.restoreUrl and verify.password; the role needs CREATEDB',
};

/**
 * How long one admin statement may run, on the server (statement_timeout, which also bounds lock
 * waits) and, a little later, on the client (query_timeout: a server that went quiet). CREATE,
 * DROP and RENAME DATABASE take seconds unless something blocks them; counting a restored table's
 * rows reads it whole.
 */
export interface AdminTimeouts {
  /** Default 60 s. */
  readonly adminMs: number;
  /** Each table's count(*); default 300 s. */
  readonly countMs: number;
}

export const ADMIN_TIMEOUTS: AdminTimeouts = { adminMs: 60_000, countMs: 300_000 };

/** The client gives up this much after the server should have cancelled the statement itself, so the server's reason is what is reported. */
const CLIENT_GRACE_MS = 5_000;

/** A PostgreSQL server dumptruck creates, renames, counts and drops databases on: verify's scratch server, a restore's destination. */
export class DatabaseServer {
  constructor(
    private readonly url: string,
    private readonly password: string | undefined,
    private readonly appName: string,
    private readonly role: ServerRole,
    private readonly timeouts: AdminTimeouts = ADMIN_TIMEOUTS,
  ) {}

  /** host:port, for messages. */
  get described(): string {
    const u = new URL(this.url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}`;
  }

  urlFor(database: string): string {
    return urlForDatabase(this.url, database);
  }

  /**
   * Runs `work` on a connection to `database`, else to the server's `postgres` maintenance
   * database: never to one that is being created, renamed or dropped (a session connected to it
   * blocks the statement, and a renamed one is gone from under the URL).
   */
  private async admin<T>(
    what: string,
    work: (c: pg.Client) => Promise<T>,
    options: { readonly database?: string; readonly timeoutMs?: number } = {},
  ): Promise<T> {
    const u = new URL(urlForDatabase(this.url, options.database ?? 'postgres'));
    // In memory only (pg reads the password from the URL over its own option); never logged.
    if (this.password !== undefined) u.password = encodeURIComponent(this.password);
    const timeoutMs = options.timeoutMs ?? this.timeouts.adminMs;
    const client = new pg.Client({
      connectionString: u.toString(),
      application_name: this.appName,
      connectionTimeoutMillis: 15_000,
      statement_timeout: timeoutMs,
      query_timeout: timeoutMs + CLIENT_GRACE_MS,
    });
    const { code, stage, called } = this.role;
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new DumptruckError(code, stage, `cannot connect to ${called}${describeUrl(this.url)}: ${this.scrub(err)}`, {
        cause: err,
        ...(this.role.connectHint ? { hint: this.role.connectHint } : {}),
      });
    }
    try {
      return await work(client);
    } catch (err) {
      if (err instanceof DumptruckError) throw err;
      throw new DumptruckError(code, stage, `${what} on ${called}${describeUrl(this.url)}: ${this.scrub(err)}`, { cause: err });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private scrub(err: unknown): string {
    return scrubSecrets(err instanceof Error ? err.message : String(err), this.password ? [this.password] : []);
  }

  exists(database: string): Promise<boolean> {
    return this.admin(
      `cannot look up database ${database}`,
      async (c) => (await c.query('select 1 from pg_database where datname = $1', [database])).rowCount === 1,
    );
  }

  create(database: string): Promise<void> {
    return this.admin(`cannot create database ${database}`, async (c) => {
      await c.query(`CREATE DATABASE ${c.escapeIdentifier(database)}`);
    });
  }

  /** WITH (FORCE): psql or pg_restore may still hold a session when a restore failed half-way. No error when it is already gone. */
  drop(database: string): Promise<void> {
    return this.admin(`cannot drop database ${database}`, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(database)} WITH (FORCE)`);
    });
  }

  /** Ends the database's sessions first: PostgreSQL renames only a database nobody is connected to. */
  rename(from: string, to: string): Promise<void> {
    return this.admin(`cannot rename database ${from} to ${to}`, async (c) => {
      await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [from]);
      await c.query(`ALTER DATABASE ${c.escapeIdentifier(from)} RENAME TO ${c.escapeIdentifier(to)}`);
    });
  }

  /** Databases whose names start with `prefix`, and how many sessions each has now. */
  databasesStartingWith(prefix: string): Promise<{ readonly name: string; readonly sessions: number }[]> {
    return this.admin(`cannot list databases named ${prefix}*`, async (c) => {
      const { rows } = await c.query<{ name: string; sessions: number }>(
        `select d.datname as name, (select count(*)::int from pg_stat_activity a where a.datname = d.datname) as sessions
         from pg_database d where starts_with(d.datname, $1) order by 1`,
        [prefix],
      );
      return rows;
    });
  }

  /** The server's major version (server_version_num 150014: 15): what a restore's script may use. */
  serverMajor(): Promise<number> {
    return this.admin('cannot read the server version', async (c) => {
      const { rows } = await c.query<{ server_version_num: string }>('show server_version_num');
      return Math.floor(Number(rows[0]!.server_version_num) / 10_000);
    });
  }

  /** Every user table (ordinary and partitioned) with an exact count(*), largest first. */
  countRows(database: string): Promise<RestoredTable[]> {
    return this.admin(`cannot count rows in ${database}`, countTables, { database, timeoutMs: this.timeouts.countMs });
  }
}

/** Every user table (ordinary and partitioned) of the connected database with an exact count(*), largest first. */
export async function countTables(c: pg.Client): Promise<RestoredTable[]> {
  const { rows } = await c.query<{ schema: string; name: string }>(
    `select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
     order by 1, 2`,
  );
  const out: RestoredTable[] = [];
  for (const t of rows) {
    const r = await c.query<{ n: string }>(`select count(*)::text as n from ${c.escapeIdentifier(t.schema)}.${c.escapeIdentifier(t.name)}`);
    out.push({ schema: t.schema, name: t.name, rows: Number(r.rows[0]!.n) });
  }
  return out.sort((a, b) => b.rows - a.rows || (a.schema + a.name).localeCompare(b.schema + b.name));
}
