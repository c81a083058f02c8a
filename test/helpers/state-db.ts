// A state database (config `state:`) of a test file's own on the shared PostgreSQL, opened by
// several stores at once: each store is one replica's connection pool, as in a fleet.
import { afterAll, beforeAll } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { StateConfig } from '../../src/config/schema.js';
import { openState, type StateStore } from '../../src/state/store.js';
import type { TestServers } from './fixtures.js';

/** The `state:` config of database `db`, as the superuser (password from env PW). */
export function stateConfigOf(servers: TestServers, db: string): { readonly config: StateConfig; readonly env: Record<string, string> } {
  const yaml = `storage: { bucket: backups }\ntargets: { a: { url: 'postgres://u@h/d' } }\nstate:\n  url: ${servers.pg.url(db, servers.pg.superuser.user)}\n  password: { env: PW }\n`;
  return { config: parseConfig(yaml, {}).state!, env: { PW: servers.pg.superuser.password } };
}

/** Creates `db` afresh before the file's tests and opens `count` stores on it together; closes and drops them after. */
export function stateStores(servers: TestServers, db: string, count = 2): StateStore[] {
  const stores: StateStore[] = [];
  beforeAll(async () => {
    await servers.pg.dropDatabase(db);
    await servers.pg.createDatabase(db);
    const { config, env } = stateConfigOf(servers, db);
    // Replicas starting together: each migrates.
    stores.push(...(await Promise.all(Array.from({ length: count }, () => openState(config, { env })))));
  });
  afterAll(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await servers.pg.dropDatabase(db);
  });
  return stores;
}
