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

/** The scratch PostgreSQL server that restore tests create throwaway databases on. */
export class ScratchServer {
  constructor(
    private readonly url: string,
    private readonly password: string | undefined,
    private readonly appName: string,
  ) {}

  private async client(database?: string): Promise<pg.Client> {
    const u = new URL(database === undefined ? this.url : urlForDatabase(this.url, database));
    // In memory only (pg reads the password from the URL over its own option); never logged.
    if (this.password !== undefined) u.password = encodeURIComponent(this.password);
    const client = new pg.Client({ connectionString: u.toString(), application_name: this.appName, connectionTimeoutMillis: 15_000 });
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new DumptruckError(
        'VERIFY_FAILED',
        'verify',
        `cannot connect to the scratch server ${describeUrl(this.url)}: ${this.scrub(err)}`,
        {
          cause: err,
          hint: 'check verify.restoreUrl and verify.password; the role needs CREATEDB',
        },
      );
    }
    return client;
  }

  private scrub(err: unknown): string {
    return scrubSecrets(err instanceof Error ? err.message : String(err), this.password ? [this.password] : []);
  }

  private async admin<T>(what: string, work: (c: pg.Client) => Promise<T>, database?: string): Promise<T> {
    const client = await this.client(database);
    try {
      return await work(client);
    } catch (err) {
      if (err instanceof DumptruckError) throw err;
      throw new DumptruckError('VERIFY_FAILED', 'verify', `${what} on the scratch server ${describeUrl(this.url)}: ${this.scrub(err)}`, {
        cause: err,
      });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  create(database: string): Promise<void> {
    return this.admin(`cannot create database ${database}`, async (c) => {
      await c.query(`CREATE DATABASE ${c.escapeIdentifier(database)}`);
    });
  }

  /** WITH (FORCE): a restore that failed half-way may still hold a session. No error when it is already gone. */
  drop(database: string): Promise<void> {
    return this.admin(`cannot drop database ${database}`, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(database)} WITH (FORCE)`);
    });
  }

  /** Every user table (ordinary and partitioned) with an exact count(*), largest first. */
  countRows(database: string): Promise<RestoredTable[]> {
    return this.admin(`cannot count rows in ${database}`, countTables, database);
  }

  urlFor(database: string): string {
    return urlForDatabase(this.url, database);
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
