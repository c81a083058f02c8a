import type { ServerRole } from '../verify/scratch.js';

/** Destination names: what a person types back without quoting, within PostgreSQL's 63 bytes. */
export const DATABASE_NAME = /^[a-z_][a-z0-9_-]{0,62}$/;

/** `<tail>` after as much of `database` as fits PostgreSQL's 63 bytes (names are ASCII, see DATABASE_NAME). */
function fitted(database: string, tail: string): string {
  return `${database.slice(0, 63 - tail.length)}${tail}`;
}

/**
 * `app_restoring_1f2e3d4c`: the private database a restore fills; it gets the requested name only
 * once the restore succeeded. Random, so two restores (or two replicas) never share one.
 */
export function restoringName(database: string, random: string): string {
  return fitted(database, `_restoring_${random}`);
}

/** The part every restoringName(database, random) starts with, the random part being 8 hex digits. */
export function restoringPrefix(database: string): string {
  return restoringName(database, '00000000').slice(0, -8);
}

/** Whether `name` is a restoringName of `database` (with the 8 hex digits restores use). */
export function isRestoringName(database: string, name: string): boolean {
  const prefix = restoringPrefix(database);
  return name.startsWith(prefix) && /^[0-9a-f]{8}$/.test(name.slice(prefix.length));
}

/**
 * `app_before_restore_20261128T073500Z_1f2e3d4c`: where a replaced database is kept. Random as
 * well as dated: two replaces within a second, or a leftover of an earlier one, must not collide.
 */
export function asideName(database: string, stamp: string, random: string): string {
  return fitted(database, `_before_restore_${stamp}_${random}`);
}

/** The server a restore creates its database on (restore.url, or the target's own server), in its errors. */
export const RESTORE_DESTINATION: ServerRole = { code: 'RESTORE_FAILED', stage: 'restore', called: '' };
