// The server verify restores into and restores create databases on (DatabaseServer), against the
// real PostgreSQL: a statement something blocks fails with the server's reason after its timeout
// instead of waiting forever, in the words of the server's role.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTORE_DESTINATION } from '../../src/restore/server.js';
import { DatabaseServer, SCRATCH_SERVER } from '../../src/verify/scratch.js';
import { lockTable, releaseLock, seedDatabase, testServers } from '../helpers/fixtures.js';
import { rejection } from '../helpers/rejection.js';

const servers = testServers();
const SRC = 'server_timeouts_src';
const VICTIM = 'server_timeouts_victim';
const { superuser } = servers.pg;
const url = servers.pg.url('postgres', superuser.user);
const quick = { adminMs: 1_000, countMs: 1_000 };

beforeAll(async () => {
  await seedDatabase(servers.pg, SRC, 100);
}, 120_000);

afterAll(async () => {
  await servers.pg.dropDatabase(SRC);
  await servers.pg.dropDatabase(VICTIM);
});

describe('DatabaseServer timeouts', () => {
  it('counting rows of a table another session holds locked fails after its timeout, naming the scratch server', async () => {
    const server = new DatabaseServer(url, superuser.password, 'dumptruck-test-timeouts', SCRATCH_SERVER, quick);
    const lock = await lockTable(servers.pg, SRC);
    try {
      const err = await rejection(server.countRows(SRC));
      expect(err).toMatchObject({ code: 'VERIFY_FAILED', stage: 'verify' });
      expect(err.message).toMatch(
        new RegExp(
          `^cannot count rows in ${SRC} on the scratch server 127\\.0\\.0\\.1:\\d+/postgres: canceling statement due to statement timeout$`,
        ),
      );
    } finally {
      await releaseLock(lock);
    }
    // Unblocked, the same call counts.
    expect((await server.countRows(SRC)).find((t) => t.name === 'customers')).toMatchObject({ rows: 5 });
  }, 30_000);

  it('a DROP DATABASE blocked by an open transaction on its catalog row fails after its timeout, as a restore error', async () => {
    const server = new DatabaseServer(url, superuser.password, 'dumptruck-test-timeouts', RESTORE_DESTINATION, quick);
    await server.create(VICTIM);
    // The GRANT's transaction holds pg_database's row for VICTIM until it ends; its session is not
    // connected to VICTIM, so WITH (FORCE) does not end it.
    const holder = await servers.pg.adminClient();
    try {
      await holder.query('begin');
      await holder.query(`grant connect on database ${holder.escapeIdentifier(VICTIM)} to public`);
      const err = await rejection(server.drop(VICTIM));
      expect(err).toMatchObject({ code: 'RESTORE_FAILED', stage: 'restore' });
      expect(err.message).toMatch(
        new RegExp(`^cannot drop database ${VICTIM} on 127\\.0\\.0\\.1:\\d+/postgres: canceling statement due to statement timeout$`),
      );
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    await server.drop(VICTIM);
    expect(await server.exists(VICTIM)).toBe(false);
  }, 30_000);
});
