import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Provenance } from '../types.js';

// Proof that dumptruck wrote a backup: HMAC-SHA256, under a key from the bot's secrets
// (storage.hmacKey), over the object's key and the SHA-256 of its stored bytes. Anyone who can
// write to the bucket can copy metadata, but cannot make this value for a key or content of
// their own; and a valid object copied to another key (say, one dated in the future) no longer
// matches. Kept pure and apart from where it is stored, so the manifest can carry the same value.

/** Bumped if what is signed ever changes, so an old signature cannot be read as a new one. */
const VERSION = 'dumptruck-backup-v1';

/** Hex HMAC-SHA256 of (object key, SHA-256 hex); JSON keeps the two fields unambiguous. */
export function backupHmac(secret: string, objectKey: string, sha256: string): string {
  return createHmac('sha256', secret)
    .update(JSON.stringify([VERSION, objectKey, sha256.toLowerCase()]))
    .digest('hex');
}

export type { Provenance } from '../types.js';

/** What `recorded` says about the object (see Provenance); compared in constant time. */
export function provenance(secret: string, objectKey: string, sha256: string | undefined, recorded: string | undefined): Provenance {
  if (recorded === undefined || recorded === '') return 'unsigned';
  if (sha256 === undefined || !/^[0-9a-f]{64}$/i.test(recorded)) return 'forged';
  const expected = Buffer.from(backupHmac(secret, objectKey, sha256), 'hex');
  return timingSafeEqual(expected, Buffer.from(recorded, 'hex')) ? 'trusted' : 'forged';
}

/** Signs flag markers: another purpose than backups, so one value can never pass for the other. */
const FLAG_VERSION = 'dumptruck-flag-v1';
/** Signs `.verified` markers, a third purpose. */
const VERIFIED_VERSION = 'dumptruck-verified-v1';

function signed(secret: string, fields: readonly unknown[]): string {
  return createHmac('sha256', secret).update(JSON.stringify(fields)).digest('hex');
}

/** Whether `recorded` is the hex value `expected`, in constant time. */
function sameHex(expected: string, recorded: unknown): boolean {
  if (typeof recorded !== 'string' || !/^[0-9a-f]{64}$/.test(recorded)) return false;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(recorded, 'hex'));
}

/**
 * Hex HMAC-SHA256 of a `.flagged` marker ('flagged', backup key, reasons). A flag keeps a backup
 * out of keepLast and the size median, so it can make retention delete good backups: only a
 * dumptruck holding the key may set one.
 */
export function flagHmac(secret: string, objectKey: string, reasons: readonly string[]): string {
  return signed(secret, [FLAG_VERSION, 'flagged', objectKey, reasons]);
}

/** Whether `recorded` is flagHmac of these fields, in constant time. */
export function flagTrusted(secret: string, objectKey: string, reasons: readonly string[], recorded: unknown): boolean {
  return sameHex(flagHmac(secret, objectKey, reasons), recorded);
}

/**
 * Hex HMAC-SHA256 of a `.verified` marker ('verified', backup key, the SHA-256 that was verified).
 * Retention always keeps the newest verified backup, so a marker planted on a newer backup would
 * take that protection from the real one: only a dumptruck holding the key may write one, and
 * only for the bytes it checked.
 */
export function verifiedHmac(secret: string, objectKey: string, sha256: string): string {
  return signed(secret, [VERIFIED_VERSION, 'verified', objectKey, sha256.toLowerCase()]);
}

/** Whether `recorded` is verifiedHmac of these fields, in constant time. */
export function verifiedTrusted(secret: string, objectKey: string, sha256: string, recorded: unknown): boolean {
  return sameHex(verifiedHmac(secret, objectKey, sha256), recorded);
}
