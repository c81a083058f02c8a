import pg from 'pg';
import { DumptruckError } from '../errors.js';
import { scrubSecrets } from '../redact.js';
import { describeUrl } from '../pipeline/probe.js';
import { countTables, urlForDatabase, type RestoredTable } from '../verify/scratch.js';

/** Destination names: what a person types back without quoting, within PostgreSQL's 63 bytes. */
export const DATABASE_NAME = /^[a-z_][a-z0-9_-]{0,62}$/;

/** `app_before_restore_20261128T073500Z`, cut to fit 63 bytes: where a replaced database waits until the restore succeeded. */
export function asideName(database: string, stamp: string): string {
  const tail = `_before_restore_${stamp}`;
  return `${database.slice(0, 63 - tail.length)}${tail}`;
}

/** The server a restore creates its database on: restore.url, or the target's own server. */
export class RestoreServer {
  constructor(
    private readonly url: string,
    private readonly password: string | undefined,
    private readonly appName: string,
  ) {}

  get described(): string {
    const u = new URL(this.url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}`;
  }

  urlFor(database: string): string {
    return urlForDatabase(this.url, database);
  }

  /**
   * Runs `work` on a connection to the URL's database, or to `postgres` when that is one of
   * `busy` (a database cannot be renamed or dropped from a session connected to it).
   */
  private async admin<T>(what: string, busy: readonly string[], work: (c: pg.Client) => Promise<T>, database?: string): Promise<T> {
    const own = decodeURIComponent(new URL(this.url).pathname.slice(1));
    const u = new URL(urlForDatabase(this.url, database ?? (busy.includes(own) ? 'postgres' : own)));
    // In memory only; never logged.
    if (this.password !== undefined) u.password = encodeURIComponent(this.password);
    const client = new pg.Client({
      connectionString: u.toString(),
      application_name: this.appName,
      connectionTimeoutMillis: 15_000,
      query_timeout: 300_000,
    });
    try {
      await client.connect();
      return await work(client);
    } catch (err) {
      if (err instanceof DumptruckError) throw err;
      const detail = scrubSecrets(err instanceof Error ? err.message : String(err), this.password ? [this.password] : []);
      throw new DumptruckError('RESTORE_FAILED', 'restore', `${what} on ${describeUrl(this.url)}: ${detail}`, { cause: err });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  exists(database: string): Promise<boolean> {
    return this.admin(
      `cannot look up database ${database}`,
      [],
      async (c) => (await c.query('select 1 from pg_database where datname = $1', [database])).rowCount === 1,
    );
  }

  create(database: string): Promise<void> {
    return this.admin(`cannot create database ${database}`, [], async (c) => {
      await c.query(`CREATE DATABASE ${c.escapeIdentifier(database)}`);
    });
  }

  /** WITH (FORCE): psql or pg_restore may still hold a session when a restore fails. No error when it is already gone. */
  drop(database: string): Promise<void> {
    return this.admin(`cannot drop database ${database}`, [database], async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(database)} WITH (FORCE)`);
    });
  }

  /** Ends the database's sessions first: PostgreSQL renames only a database nobody is connected to. */
  rename(from: string, to: string): Promise<void> {
    return this.admin(`cannot rename database ${from} to ${to}`, [from, to], async (c) => {
      await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [from]);
      await c.query(`ALTER DATABASE ${c.escapeIdentifier(from)} RENAME TO ${c.escapeIdentifier(to)}`);
    });
  }

  countRows(database: string): Promise<RestoredTable[]> {
    return this.admin(`cannot count rows in ${database}`, [], countTables, database);
  }
}
