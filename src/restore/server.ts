import type { ServerRole } from '../verify/scratch.js';

/** Destination names: what a person types back without quoting, within PostgreSQL's 63 bytes. */
export const DATABASE_NAME = /^[a-z_][a-z0-9_-]{0,62}$/;

/** `app_before_restore_20261128T073500Z`, cut to fit 63 bytes: where a replaced database waits until the restore succeeded. */
export function asideName(database: string, stamp: string): string {
  const tail = `_before_restore_${stamp}`;
  return `${database.slice(0, 63 - tail.length)}${tail}`;
}

/** The server a restore creates its database on (restore.url, or the target's own server), in its errors. */
export const RESTORE_DESTINATION: ServerRole = { code: 'RESTORE_FAILED', stage: 'restore', called: '' };
