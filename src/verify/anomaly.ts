import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { formatBytes } from '../config/units.js';
import { toDumptruckError } from '../errors.js';
import { flagHmac, flagTrusted } from '../storage/hmac.js';
import type { BackupWarning } from '../types.js';
import { readMarker } from './marker.js';

export interface SizeRules {
  /** Flag a backup smaller than threshold x the median of the previous ones (0.5: less than half). */
  readonly threshold: number;
  /** How many previous backups the median is taken over. */
  readonly window: number;
  /** Fewer dumped (uncompressed) bytes than this is an empty dump. */
  readonly emptyBelow: number;
}

/** Pure: the median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Pure: whether a new backup looks wrong by its size. `previousStoredBytes` are the stored sizes
 * of the target's earlier backups of the same format, newest first; the first `window` count.
 * An empty dump wins over a shrunk one (it is the more specific finding). Without earlier
 * backups only the empty check applies.
 */
export function sizeAnomaly(
  current: { readonly storedBytes: number; readonly dumpedBytes: number },
  previousStoredBytes: readonly number[],
  rules: SizeRules,
): BackupWarning | undefined {
  if (current.dumpedBytes < rules.emptyBelow) {
    return {
      kind: 'empty',
      dumpedBytes: current.dumpedBytes,
      emptyBelow: rules.emptyBelow,
      message: `the dump is empty: ${current.dumpedBytes} bytes (less than ${formatBytes(rules.emptyBelow)}), a database without tables or data?`,
    };
  }
  const window = previousStoredBytes.slice(0, rules.window);
  if (window.length === 0) return undefined;
  const medianBytes = median(window);
  if (medianBytes <= 0 || current.storedBytes >= rules.threshold * medianBytes) return undefined;
  const ratio = current.storedBytes / medianBytes;
  return {
    kind: 'shrunk',
    storedBytes: current.storedBytes,
    medianBytes,
    compared: window.length,
    ratio,
    threshold: rules.threshold,
    message: `much smaller than usual: ${formatBytes(current.storedBytes)} stored, ${Math.round(ratio * 100)}% of the median ${formatBytes(medianBytes)} of the previous ${window.length} backup${window.length === 1 ? '' : 's'} (threshold ${Math.round(rules.threshold * 100)}%)`,
  };
}

// A flagged backup (empty, much smaller than usual, or its verification failed) gets a marker
// object beside it, `<key>.flagged` (JSON: why), like `.verified`: the flag is found after the
// object is labelled, S3 metadata cannot change without copying the whole object, and a marker
// is seen in the one listing that retention and the size check already make. Remembered, a flag
// keeps the backup out of later size medians and out of keepLast/keepDays. That is power over
// retention, so a marker is signed (flagHmac) and one without a valid signature counts for nothing.

export const FLAGGED_SUFFIX = '.flagged';

export function flagMarkerKey(backupKey: string): string {
  return `${backupKey}${FLAGGED_SUFFIX}`;
}

export async function writeFlagMarker(
  s3: S3Client,
  bucket: string,
  key: string,
  reasons: readonly string[],
  at: Date,
  hmacKey: string,
): Promise<void> {
  const body = JSON.stringify({ key, flaggedAt: at.toISOString(), reasons, hmac: flagHmac(hmacKey, key, reasons) });
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: flagMarkerKey(key), Body: body, ContentType: 'application/json' }));
  } catch (err) {
    throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `${key} is flagged, but its ${FLAGGED_SUFFIX} marker could not be written`);
  }
}

/**
 * Whether the backup `key` carries a flag marker this dumptruck signed. A marker that is missing,
 * unreadable or unsigned (planted by someone who can only write to the bucket) is no flag.
 */
export async function signedFlag(s3: S3Client, bucket: string, key: string, hmacKey: string): Promise<boolean> {
  const marker = await readMarker(s3, bucket, flagMarkerKey(key));
  const reasons = marker?.reasons;
  if (!Array.isArray(reasons) || !reasons.every((r) => typeof r === 'string')) return false;
  return flagTrusted(hmacKey, key, reasons as string[], marker?.hmac);
}
