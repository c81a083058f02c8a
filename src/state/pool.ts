import type pg from 'pg';

/** Connect and query deadlines: a state database that hangs must not hold a command, a record, a claim or /readyz. */
export const CONNECT_TIMEOUT_MS = 10_000;
export const QUERY_TIMEOUT_MS = 15_000;
/**
 * How long the server keeps a transaction whose client went quiet. A replica cut off mid-claim (a
 * network partition, a frozen VM) would otherwise hold the fleet's claim lock until TCP gives up,
 * and every other replica's claim would wait behind it.
 */
export const IDLE_IN_TRANSACTION_MS = 60_000;

/**
 * One pool's settings for the state database (the store's and the fleet's). The same limit twice:
 * `query_timeout` is the client giving up on a server that went quiet; `statement_timeout` makes
 * the server stop the statement too, so a query the client abandoned (a lock wait, say) does not
 * go on holding or queueing for locks behind its back.
 */
export function statePoolOptions(connectionString: string, applicationName: string, max: number): pg.PoolConfig {
  return {
    connectionString,
    application_name: applicationName,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    statement_timeout: QUERY_TIMEOUT_MS,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    idleTimeoutMillis: 30_000,
  };
}
