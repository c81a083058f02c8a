import { describe, expect, it } from 'vitest';
import { statePoolOptions } from '../../src/state/pool.js';

describe('statePoolOptions', () => {
  it('gives every state pool the same deadlines, on the client and on the server', () => {
    expect(statePoolOptions('postgres://u@h/db', 'dumptruck-fleet', 6)).toEqual({
      connectionString: 'postgres://u@h/db',
      application_name: 'dumptruck-fleet',
      max: 6,
      connectionTimeoutMillis: 10_000,
      query_timeout: 15_000,
      statement_timeout: 15_000,
      idle_in_transaction_session_timeout: 60_000,
      idleTimeoutMillis: 30_000,
    });
  });
});
