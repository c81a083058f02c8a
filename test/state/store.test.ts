// The state database on the shared real PostgreSQL: a database of its own, roles with and
// without the rights to create dumptruck's schema, and a port where nothing listens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { StateConfig } from '../../src/config/schema.js';
import { userMessage } from '../../src/errors.js';
import { openState, type RunRecord, type StateStore } from '../../src/state/store.js';
import { testServers } from '../helpers/fixtures.js';
import { freePort } from '../helpers/free-port.js';
import { rejection } from '../helpers/rejection.js';

const servers = testServers();
const DB = 'state_store';
const OWNER = 'state_owner';
const PLAIN = 'state_plain';
const OWNER_PW = 'owner-pw-7f3a9c';
const PLAIN_PW = 'plain-pw-2b8d41';

function stateConfig(yaml: string): StateConfig {
  return parseConfig(`storage: { bucket: backups }\ntargets: { a: { url: 'postgres://u@h/d' } }\nstate:\n${yaml}`, {}).state!;
}

const env = { OWNER_PW, PLAIN_PW };
const owned = (schema = 'dumptruck') =>
  stateConfig(`  url: ${servers.pg.url(DB, OWNER)}\n  password: { env: OWNER_PW }\n  schema: ${schema}\n`);

function run(target: string, finishedAt: string, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    jobId: 'j1',
    target,
    key: `p/${target}/k.sql.gz`,
    outcome: 'succeeded',
    storedBytes: 1234,
    durationMs: 65_000,
    finishedAt: new Date(finishedAt),
    trigger: { kind: 'slack', by: 'U0ALICE', detail: 'C0OPS' },
    requester: 'U0ALICE',
    thread: { channel: 'C0OPS', ts: '1700000001.000100', permalink: 'https://slack.test/archives/C0OPS/p1700000001000100' },
    error: undefined,
    replica: 'host:1',
    ...extra,
  };
}

const opened: StateStore[] = [];
async function open(config: StateConfig): Promise<StateStore> {
  const store = await openState(config, { env });
  opened.push(store);
  return store;
}

beforeAll(async () => {
  const admin = await servers.pg.adminClient();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    for (const [role, pw] of [
      [OWNER, OWNER_PW],
      [PLAIN, PLAIN_PW],
    ]) {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${pw}'`);
    }
    await admin.query(`CREATE DATABASE ${DB}`);
    // The owner may create schemas in it; the plain role may only connect.
    await admin.query(`GRANT CREATE ON DATABASE ${DB} TO ${OWNER}`);
  } finally {
    await admin.end();
  }
});

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await servers.pg.dropDatabase(DB);
  const admin = await servers.pg.adminClient();
  try {
    for (const role of [OWNER, PLAIN]) await admin.query(`DROP ROLE IF EXISTS ${role}`);
  } finally {
    await admin.end();
  }
});

describe('the state database', () => {
  it('creates its schema and tables at start, idempotently, also when replicas start together', async () => {
    const [a, b] = await Promise.all([open(owned()), open(owned())]);
    await a.migrate();
    const admin = await servers.pg.adminClient(DB);
    try {
      const { rows } = await admin.query(
        "select table_name from information_schema.tables where table_schema = 'dumptruck' order by table_name",
      );
      // Every dumptruck table, the fleet queue's included: one migration (pg-boss keeps its own schema).
      expect(rows.map((r) => r.table_name)).toEqual([
        'alert_runs',
        'alert_seen',
        'fleet_jobs',
        'fleet_replicas',
        'fleet_uploads',
        'restore_requests',
        'runs',
        'schedule_fires',
      ]);
      const index = await admin.query("select 1 from pg_indexes where schemaname = 'dumptruck' and indexname = 'fleet_jobs_replica'");
      expect(index.rowCount).toBe(1);
    } finally {
      await admin.end();
    }
    expect(await b.check()).toEqual({ ok: true });
  });

  it("records runs and reads a target's newest first, at most n", async () => {
    const store = await open(owned('history_order'));
    await store.record(run('app-db', '2026-01-01T10:00:00Z'));
    await store.record(
      run('app-db', '2026-01-03T10:00:00Z', {
        outcome: 'failed',
        key: undefined,
        storedBytes: undefined,
        error: 'dump failed: pg_dump exited with code 1',
        thread: undefined,
        requester: undefined,
        trigger: { kind: 'schedule', by: 'scheduler', detail: undefined },
      }),
    );
    await store.record(run('app-db', '2026-01-02T10:00:00Z'));
    await store.record(run('other', '2026-01-04T10:00:00Z'));
    const two = await store.history('app-db', 2);
    expect(two).toEqual([
      run('app-db', '2026-01-03T10:00:00Z', {
        outcome: 'failed',
        key: undefined,
        storedBytes: undefined,
        error: 'dump failed: pg_dump exited with code 1',
        thread: undefined,
        requester: undefined,
        trigger: { kind: 'schedule', by: 'scheduler', detail: undefined },
      }),
      run('app-db', '2026-01-02T10:00:00Z'),
    ]);
    expect(await store.history('app-db', 10)).toHaveLength(3);
    expect(await store.history('nothing', 10)).toEqual([]);
  });

  it('a role that may not create the schema gets an error naming the missing right, without its password', async () => {
    const err = await rejection(
      openState(stateConfig(`  url: ${servers.pg.url(DB, PLAIN)}\n  password: { env: PLAIN_PW }\n  schema: plain_state\n`), { env }),
    );
    expect(err.code).toBe('STATE_NOT_ALLOWED');
    expect(err.message).toBe(
      `the state database 127.0.0.1:${servers.pg.port}/${DB}: role ${PLAIN} lacks the right CREATE ON DATABASE ${DB}, so dumptruck cannot create its tables there`,
    );
    expect(err.hint).toBe(
      `GRANT CREATE ON DATABASE ${DB} TO ${PLAIN}; or an admin creates schema plain_state and its tables once, and dumptruck only uses them.`,
    );
    expect(userMessage(err)).not.toContain(PLAIN_PW);
  });

  it('uses a schema and table an admin created, with only the rights to use them', async () => {
    const admin = await servers.pg.adminClient(DB);
    try {
      await admin.query(`CREATE SCHEMA given AUTHORIZATION ${OWNER}`);
    } finally {
      await admin.end();
    }
    // The owner creates the table in its schema; the plain role, granted use, then opens it without CREATE rights.
    await open(owned('given'));
    const grant = await servers.pg.adminClient(DB);
    try {
      await grant.query(
        `GRANT USAGE ON SCHEMA given TO ${PLAIN}; GRANT SELECT, INSERT ON given.runs TO ${PLAIN}; GRANT USAGE ON ALL SEQUENCES IN SCHEMA given TO ${PLAIN}`,
      );
    } finally {
      await grant.end();
    }
    const plain = await open(stateConfig(`  url: ${servers.pg.url(DB, PLAIN)}\n  password: { env: PLAIN_PW }\n  schema: given\n`));
    await plain.record(run('app-db', '2026-02-01T00:00:00Z'));
    expect(await plain.history('app-db', 1)).toHaveLength(1);
  });

  it('readiness fails while the state database refuses connections, and recovers once it takes them again', async () => {
    const store = await open(owned('outage'));
    const admin = await servers.pg.adminClient();
    try {
      await admin.query(`ALTER DATABASE ${DB} ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${DB}' AND pid <> pg_backend_pid()`);
      const down = await store.check();
      expect(down.ok).toBe(false);
      expect(down.detail).toMatch(new RegExp(`^cannot reach the state database 127\\.0\\.0\\.1:${servers.pg.port}/${DB}: `));
      expect(down.detail).not.toContain(OWNER_PW);
    } finally {
      await admin.query(`ALTER DATABASE ${DB} ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    expect(await store.check()).toEqual({ ok: true });
  });

  it('an unreachable state database fails the start with where, never the password', async () => {
    const port = await freePort();
    const config = stateConfig(`  url: postgres://${OWNER}@127.0.0.1:${port}/${DB}\n  password: { env: OWNER_PW }\n`);
    const err = await rejection(openState(config, { env }));
    expect(err.code).toBe('STATE_UNAVAILABLE');
    expect(err.message).toMatch(new RegExp(`^cannot reach the state database 127\\.0\\.0\\.1:${port}/${DB}: .*ECONNREFUSED`));
    expect(userMessage(err)).not.toContain(OWNER_PW);
  });
});
