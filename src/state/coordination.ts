import type { FireClaims } from '../jobs/scheduler.js';
import type { ApprovalStore, Decision, RestoreRequest } from '../restore/approvals.js';
import type { AlertRef, EndedRunState, LedgerRun, LedgerVerdict, PendingRetry, RerunLedger } from '../types.js';

// What replicas of one fleet agree on through the state database, beside the history: which
// replica enqueues a schedule's fire time, which one runs an alert's rerun (and its retries),
// and who decided a restore request. Every claim is one statement on a unique key (INSERT ... ON
// CONFLICT, or an UPDATE guarded by the row's current state), so it is exact under races without
// locks held across round trips.

/** The state store's query: errors come back as STATE_UNAVAILABLE naming the database, never the password. */
export type StateQuery = <R extends Record<string, unknown>>(text: string, values: unknown[], failed: string) => Promise<{ rows: R[] }>;

/** Tables of this module and their columns, created by the state store's migration when missing. */
const TABLES: Readonly<Record<string, string>> = {
  schedule_fires: `target text not null, fire_at timestamptz not null, replica text not null,
    claimed_at timestamptz not null default now(), primary key (target, fire_at)`,
  // One row per alert message: a re-delivery (to any replica, after any restart) finds it.
  alert_seen: 'channel text not null, ts text not null, seen_at timestamptz not null default now(), primary key (channel, ts)',
  // One row per target: its newest alert rerun. A new run may replace it only once it has ended
  // longer ago than the join window (or its replica is long gone).
  alert_runs: `target text primary key, run_id text not null, channel text not null, ts text not null, posted_by text not null,
    state text not null, attempt integer not null, attempts integer not null, started_at timestamptz not null,
    next_attempt_at timestamptz, ended_at timestamptz, updated_at timestamptz not null default now()`,
  restore_requests: 'id text primary key, request jsonb not null, decision jsonb, expires_at timestamptz not null',
};

export function coordinationTables(schema: string): { readonly name: string; readonly sql: string }[] {
  return Object.entries(TABLES).map(([name, columns]) => ({ name, sql: `create table if not exists ${schema}.${name} (${columns})` }));
}

/** How long claimed fire times and seen alerts are kept: far beyond any re-delivery or restart. */
const KEEP = "interval '7 days'";

export class PgCoordination implements FireClaims, RerunLedger, ApprovalStore {
  constructor(
    private readonly query: StateQuery,
    /** The schema, quoted. */
    private readonly schema: string,
    /** This process, as the history names it. */
    private readonly replica: string,
  ) {}

  async claim(target: string, scheduledFor: Date): Promise<boolean> {
    const { rows } = await this.query(
      `insert into ${this.schema}.schedule_fires (target, fire_at, replica) values ($1, $2, $3) on conflict do nothing returning 1 as won`,
      [target, scheduledFor, this.replica],
      'could not claim a scheduled run in',
    );
    // Old fire times are never claimed again: the catch-up only looks at the newest missed one.
    if (rows.length > 0)
      await this.query(
        `delete from ${this.schema}.schedule_fires where target = $1 and claimed_at < now() - ${KEEP}`,
        [target],
        'could not tidy',
      );
    return rows.length > 0;
  }

  async begin(run: LedgerRun, windowMs: number, staleMs: number): Promise<LedgerVerdict> {
    const { rows } = await this.query<{ fresh: boolean; claimed: boolean }>(
      `with seen as (
         insert into ${this.schema}.alert_seen (channel, ts) values ($2, $3) on conflict do nothing returning 1
       ), run as (
         insert into ${this.schema}.alert_runs as r (target, run_id, channel, ts, posted_by, state, attempt, attempts, started_at)
         select $1, $5, $2, $3, $4, 'active', 0, $6, $7 where exists (select 1 from seen)
         on conflict (target) do update set
           run_id = excluded.run_id, channel = excluded.channel, ts = excluded.ts, posted_by = excluded.posted_by,
           state = 'active', attempt = 0, attempts = excluded.attempts, started_at = excluded.started_at,
           next_attempt_at = null, ended_at = null, updated_at = now()
         where (r.state <> 'active' and r.ended_at <= now() - make_interval(secs => $8::double precision / 1000))
            -- A run whose attempt has been going longer than any job may: its replica died with it.
            or (r.state = 'active' and r.next_attempt_at is null and r.updated_at <= now() - make_interval(secs => $9::double precision / 1000))
         returning 1
       )
       select exists (select 1 from seen) as fresh, exists (select 1 from run) as claimed`,
      [run.target, run.alert.channel, run.alert.ts, run.alert.by, run.id, run.attempts, run.startedAt, windowMs, staleMs],
      'could not claim an alert in',
    );
    const [row] = rows;
    if (!row?.fresh) return { kind: 'duplicate' };
    if (row.claimed) return { kind: 'claimed' };
    // A statement of its own: the run that won a race may have committed after the one above began.
    const held = await this.query<{ channel: string; ts: string; posted_by: string }>(
      `select channel, ts, posted_by from ${this.schema}.alert_runs where target = $1`,
      [run.target],
      'could not read an alert run from',
    );
    const [other] = held.rows;
    return { kind: 'joined', alert: other ? { channel: other.channel, ts: other.ts, by: other.posted_by } : run.alert };
  }

  async answered(alert: Pick<AlertRef, 'channel' | 'ts'>): Promise<boolean> {
    const { rows } = await this.query(
      `insert into ${this.schema}.alert_seen (channel, ts) values ($1, $2) on conflict do nothing returning 1 as won`,
      [alert.channel, alert.ts],
      'could not record an alert in',
    );
    return rows.length > 0;
  }

  async retrying(id: string, attempt: number, at: Date): Promise<void> {
    await this.query(
      `update ${this.schema}.alert_runs set attempt = $2, next_attempt_at = $3, updated_at = now() where run_id = $1 and state = 'active'`,
      [id, attempt, at],
      'could not record a pending retry in',
    );
  }

  async takeAttempt(id: string, failed: number): Promise<boolean> {
    const { rows } = await this.query(
      `update ${this.schema}.alert_runs set attempt = attempt + 1, next_attempt_at = null, updated_at = now()
       where run_id = $1 and state = 'active' and attempt = $2 and next_attempt_at is not null returning 1 as won`,
      [id, failed],
      'could not claim a retry in',
    );
    return rows.length > 0;
  }

  async started(id: string, attempt: number): Promise<void> {
    await this.query(
      `update ${this.schema}.alert_runs set attempt = $2, next_attempt_at = null, updated_at = now() where run_id = $1 and state = 'active'`,
      [id, attempt],
      'could not record an attempt in',
    );
  }

  async end(id: string, state: EndedRunState): Promise<void> {
    await this.query(
      `update ${this.schema}.alert_runs set state = $2, ended_at = now(), next_attempt_at = null, updated_at = now() where run_id = $1`,
      [id, state],
      'could not record the end of an alert run in',
    );
  }

  async pending(): Promise<PendingRetry[]> {
    await this.query(`delete from ${this.schema}.alert_seen where seen_at < now() - ${KEEP}`, [], 'could not tidy');
    const { rows } = await this.query<{
      target: string;
      run_id: string;
      channel: string;
      ts: string;
      posted_by: string;
      attempt: number;
      attempts: number;
      started_at: Date;
      next_attempt_at: Date;
    }>(
      `select * from ${this.schema}.alert_runs where state = 'active' and next_attempt_at is not null`,
      [],
      'could not read pending retries from',
    );
    return rows.map((r) => ({
      id: r.run_id,
      target: r.target,
      alert: { channel: r.channel, ts: r.ts, by: r.posted_by } satisfies AlertRef,
      attempt: r.attempt,
      attempts: r.attempts,
      startedAt: r.started_at,
      nextAttemptAt: r.next_attempt_at,
    }));
  }

  async put(request: RestoreRequest): Promise<void> {
    const { decision, ...rest } = request;
    // put() is called again once the approval message is posted (its ts); a decision is never overwritten.
    await this.query(
      `insert into ${this.schema}.restore_requests (id, request, decision, expires_at) values ($1, $2, $3, $4)
       on conflict (id) do update set request = excluded.request`,
      [request.id, JSON.stringify(rest), decision ? JSON.stringify(decision) : null, request.expiresAt],
      'could not store a restore request in',
    );
    // Requests long expired are of no use to anyone.
    await this.query(`delete from ${this.schema}.restore_requests where expires_at < now() - ${KEEP}`, [], 'could not tidy');
  }

  async get(id: string): Promise<RestoreRequest | undefined> {
    const { rows } = await this.query<{ request: StoredRequest; decision: Decision | null }>(
      `select request, decision from ${this.schema}.restore_requests where id = $1`,
      [id],
      'could not read a restore request from',
    );
    const [row] = rows;
    if (!row) return undefined;
    const { request } = row;
    return {
      ...request,
      plan: { ...request.plan, backupAt: new Date(request.plan.backupAt) },
      requestedAt: new Date(request.requestedAt),
      expiresAt: new Date(request.expiresAt),
      ...(row.decision ? { decision: row.decision } : {}),
    };
  }

  async decide(id: string, decision: Decision): Promise<boolean> {
    // Expiry by the database's clock, the one clock all replicas share.
    const { rows } = await this.query(
      `update ${this.schema}.restore_requests set decision = $2
       where id = $1 and decision is null and (expires_at <= now()) = $3 returning 1 as won`,
      [id, JSON.stringify(decision), decision.kind === 'expired'],
      'could not record a restore decision in',
    );
    return rows.length > 0;
  }

  async reopen(id: string, decision: Decision): Promise<void> {
    await this.query(
      `update ${this.schema}.restore_requests set decision = null where id = $1 and decision = $2::jsonb`,
      [id, JSON.stringify(decision)],
      'could not reopen a restore request in',
    );
  }
}

/** A request as JSON gives it back: dates as strings. */
type StoredRequest = Omit<RestoreRequest, 'plan' | 'requestedAt' | 'expiresAt' | 'decision'> & {
  readonly plan: Omit<RestoreRequest['plan'], 'backupAt'> & { readonly backupAt: string };
  readonly requestedAt: string;
  readonly expiresAt: string;
};
