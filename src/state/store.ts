import pg from 'pg';
import type { StateConfig } from '../config/schema.js';
import { DumptruckError } from '../errors.js';
import { scrubSecrets } from '../redact.js';
import { resolvePassword, type SecretDeps } from '../secrets/index.js';
import { coordinationTables, PgCoordination } from './coordination.js';
import { fleetTables } from './fleet-tables.js';
import { statePoolOptions } from './pool.js';

// The bot's own PostgreSQL (config `state:`): today the history of backup runs. dumptruck
// creates its schema and tables itself at start, idempotently, so a new replica or a new
// version needs no manual step; a role without the right gets an error naming that right.

export type RunOutcome = 'succeeded' | 'flagged' | 'failed' | 'cancelled' | 'timed-out';

/** One backup run as the history keeps it. */
export interface RunRecord {
  readonly jobId: string | undefined;
  readonly target: string;
  /** The object key; absent when nothing was stored. */
  readonly key: string | undefined;
  readonly outcome: RunOutcome;
  readonly storedBytes: number | undefined;
  readonly durationMs: number;
  readonly finishedAt: Date;
  readonly trigger: { readonly kind: string; readonly by: string; readonly detail: string | undefined };
  /** Who asked for it: a person (Slack, a Retry button, the CLI's user); absent for alerts and schedules. */
  readonly requester: string | undefined;
  /** Its Slack thread, when it had one. */
  readonly thread: { readonly channel: string; readonly ts: string; readonly permalink: string | undefined } | undefined;
  /** Already redacted, as the requester read it. */
  readonly error: string | undefined;
  /** `hostname:pid` of the process that ran it. */
  readonly replica: string;
}

export interface StateStore {
  /** Creates the schema and the runs table when missing. */
  migrate(): Promise<void>;
  record(run: RunRecord): Promise<void>;
  /** The target's newest `limit` runs, newest first. */
  history(target: string, limit: number): Promise<RunRecord[]>;
  /** Schedule claims, alert reruns and restore approvals shared by the fleet's replicas; `replica` names this process. */
  coordination(replica: string): PgCoordination;
  /** For /readyz: whether the state database answers now. */
  check(): Promise<{ readonly ok: boolean; readonly detail?: string }>;
  close(): Promise<void>;
}

/** Resolves the password (any secret source), connects and migrates; rejects with what is wrong. */
export async function openState(config: StateConfig, deps: SecretDeps): Promise<StateStore> {
  const password = await resolvePassword('state', config.password, deps, 'state.password');
  const store = new PgStateStore(config, password);
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

interface RunRow {
  job_id: string | null;
  target: string;
  key: string | null;
  outcome: RunOutcome;
  stored_bytes: string | null;
  duration_ms: string;
  finished_at: Date;
  trigger_kind: string;
  trigger_by: string;
  trigger_detail: string | null;
  requester: string | null;
  thread_channel: string | null;
  thread_ts: string | null;
  thread_permalink: string | null;
  error: string | null;
  replica: string;
}

class PgStateStore implements StateStore {
  private readonly pool: pg.Pool;
  private readonly schema: string;
  private readonly where: string;
  private readonly database: string;
  private readonly role: string;

  constructor(
    config: StateConfig,
    private readonly password: string | undefined,
  ) {
    // The schema name is validated by the config (lowercase identifier), so quoting it is enough.
    this.schema = `"${config.schema}"`;
    const url = new URL(config.url);
    this.where = `${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname}`;
    this.database = decodeURIComponent(url.pathname.slice(1));
    this.role = decodeURIComponent(url.username) || 'its role';
    // pg lets the URL's absent password override a `password` option, so it goes into this
    // in-memory URL, which never leaves the process (errors name host and database only).
    if (password !== undefined) url.password = encodeURIComponent(password);
    this.pool = new pg.Pool(statePoolOptions(url.toString(), 'dumptruck-state', 4));
    // An idle connection the server drops (a restart, a failover) is reported here; without a
    // listener it would crash the process. The next query opens a new connection.
    this.pool.on('error', () => undefined);
  }

  async migrate(): Promise<void> {
    const client = await this.connect();
    try {
      await client.query('begin');
      // Replicas starting together migrate one at a time.
      await client.query("select pg_advisory_xact_lock(hashtext('dumptruck state migration'))");
      // Checked first: CREATE ... IF NOT EXISTS still needs the right to create, and a DBA may
      // have created the schema and table for a role that has only the right to use them.
      const schema = await client.query('select 1 from pg_namespace where nspname = $1', [this.schema.slice(1, -1)]);
      if (schema.rowCount === 0)
        await this.create(client, `create schema if not exists ${this.schema}`, `CREATE ON DATABASE ${this.database}`);
      const table = await client.query('select to_regclass($1) as t', [`${this.schema}.runs`]);
      if (!table.rows[0]?.t) {
        await this.create(
          client,
          `create table if not exists ${this.schema}.runs (
            id bigserial primary key,
            job_id text,
            target text not null,
            key text,
            outcome text not null,
            stored_bytes bigint,
            duration_ms bigint not null,
            finished_at timestamptz not null,
            trigger_kind text not null,
            trigger_by text not null,
            trigger_detail text,
            requester text,
            thread_channel text,
            thread_ts text,
            thread_permalink text,
            error text,
            replica text not null
          )`,
          `CREATE ON SCHEMA ${this.schema.slice(1, -1)}`,
        );
        await client.query(`create index if not exists runs_target_finished on ${this.schema}.runs (target, finished_at desc)`);
      }
      for (const { name, sql } of [...coordinationTables(this.schema), ...fleetTables(this.schema)]) {
        const exists = await client.query('select to_regclass($1) as t', [`${this.schema}.${name}`]);
        if (!exists.rows[0]?.t) await this.create(client, sql, `CREATE ON SCHEMA ${this.schema.slice(1, -1)}`);
      }
      await client.query('commit');
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw this.failure(err, 'could not prepare');
    } finally {
      client.release();
    }
  }

  async record(run: RunRecord): Promise<void> {
    await this.query(
      `insert into ${this.schema}.runs (job_id, target, key, outcome, stored_bytes, duration_ms, finished_at, trigger_kind, trigger_by, trigger_detail, requester, thread_channel, thread_ts, thread_permalink, error, replica)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        run.jobId ?? null,
        run.target,
        run.key ?? null,
        run.outcome,
        run.storedBytes ?? null,
        Math.round(run.durationMs),
        run.finishedAt,
        run.trigger.kind,
        run.trigger.by,
        run.trigger.detail ?? null,
        run.requester ?? null,
        run.thread?.channel ?? null,
        run.thread?.ts ?? null,
        run.thread?.permalink ?? null,
        run.error ?? null,
        run.replica,
      ],
      'could not record a run in',
    );
  }

  async history(target: string, limit: number): Promise<RunRecord[]> {
    const { rows } = await this.query<RunRow>(
      `select * from ${this.schema}.runs where target = $1 order by finished_at desc, id desc limit $2`,
      [target, limit],
      'could not read the history from',
    );
    return rows.map(fromRow);
  }

  coordination(replica: string): PgCoordination {
    return new PgCoordination((text, values, failed) => this.query(text, values, failed), this.schema, replica);
  }

  async check(): Promise<{ readonly ok: boolean; readonly detail?: string }> {
    try {
      await this.query('select 1', [], 'cannot reach');
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }

  close(): Promise<void> {
    return this.pool.end().catch(() => undefined);
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.failure(err, 'cannot reach');
    }
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[], failed: string): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw this.failure(err, failed);
    }
  }

  private async create(client: pg.PoolClient, sql: string, right: string): Promise<void> {
    try {
      await client.query(sql);
    } catch (err) {
      if ((err as { code?: string }).code !== '42501') throw err;
      throw new DumptruckError(
        'STATE_NOT_ALLOWED',
        'state',
        `the state database ${this.where}: role ${this.role} lacks the right ${right}, so dumptruck cannot create its tables there`,
        {
          cause: err,
          hint: `GRANT ${right} TO ${this.role}; or an admin creates schema ${this.schema.slice(1, -1)} and its tables once, and dumptruck only uses them.`,
        },
      );
    }
  }

  private failure(err: unknown, what: string): DumptruckError {
    if (err instanceof DumptruckError) return err;
    const message = scrubSecrets(err instanceof Error ? err.message : String(err), this.password ? [this.password] : []);
    return new DumptruckError('STATE_UNAVAILABLE', 'state', `${what} the state database ${this.where}: ${message}`, { cause: err });
  }
}

function fromRow(row: RunRow): RunRecord {
  return {
    jobId: row.job_id ?? undefined,
    target: row.target,
    key: row.key ?? undefined,
    outcome: row.outcome,
    storedBytes: row.stored_bytes === null ? undefined : Number(row.stored_bytes),
    durationMs: Number(row.duration_ms),
    finishedAt: row.finished_at,
    trigger: { kind: row.trigger_kind, by: row.trigger_by, detail: row.trigger_detail ?? undefined },
    requester: row.requester ?? undefined,
    thread:
      row.thread_channel && row.thread_ts
        ? { channel: row.thread_channel, ts: row.thread_ts, permalink: row.thread_permalink ?? undefined }
        : undefined,
    error: row.error ?? undefined,
    replica: row.replica,
  };
}
