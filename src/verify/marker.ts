import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { toDumptruckError } from '../errors.js';
import { verifiedHmac, verifiedTrusted } from '../storage/hmac.js';
import type { VerifyReport } from '../types.js';

// A verified backup gets a small marker object beside it, `<key>.verified` (JSON). Not object
// tags: R2 and several other S3-compatible stores do not implement tagging, and S3 metadata
// cannot change without copying the whole object. The marker is not a backup key (the catalog
// never lists it) and lives under the same prefix, so a lifecycle rule expires both together.
// Retention always keeps the newest verified backup, so the marker is signed (verifiedHmac): one
// planted by someone who can only write to the bucket counts for nothing.

export const VERIFIED_SUFFIX = '.verified';

export function markerKey(backupKey: string): string {
  return `${backupKey}${VERIFIED_SUFFIX}`;
}

/**
 * Markers are a few hundred bytes; only this much of one is read, so that a planted giant cannot
 * exhaust the process's memory (what is cut off does not parse, and counts for nothing).
 */
const MARKER_READ_BYTES = 64 * 1024;

export async function writeVerifiedMarker(s3: S3Client, bucket: string, report: VerifyReport, hmacKey: string): Promise<void> {
  const body = JSON.stringify({
    key: report.key,
    sha256: report.sha256,
    verifiedAt: report.verifiedAt.toISOString(),
    checks: report.checks,
    restored: report.restore
      ? { tables: report.restore.tables.length, rows: report.restore.rows, durationMs: report.restore.durationMs }
      : null,
    hmac: verifiedHmac(hmacKey, report.key, report.sha256),
  });
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: markerKey(report.key), Body: body, ContentType: 'application/json' }));
  } catch (err) {
    throw toDumptruckError(
      err,
      'STORAGE_FAILED',
      'storage',
      `${report.key} verified, but its ${VERIFIED_SUFFIX} marker could not be written`,
    );
  }
}

/**
 * A marker object's JSON fields; undefined when it is missing, or not a JSON object (planted or
 * damaged: a marker that cannot be read says nothing). Other read failures are thrown.
 */
export async function readMarker(s3: S3Client, bucket: string, key: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=0-${MARKER_READ_BYTES - 1}` }));
    text = await object.Body!.transformToString();
  } catch (err) {
    // 404: none; 416: an empty object, which the range cannot fit.
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || status === 416) return undefined;
    throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${key}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A backup as retention knows it: its key and the SHA-256 its signed manifest (or metadata) records. */
export interface RecordedBackup {
  readonly key: string;
  readonly sha256: string;
}

/**
 * The first of `backups` (newest first) whose marker, among `allKeys` (the listing of the
 * target's prefix), this dumptruck signed for the SHA-256 the backup records (`key`), and the
 * newer backups whose marker failed that test (`unproven`: planted, overwritten, unreadable, or
 * written before markers were signed). One GET per marker tried, newest first.
 */
export async function newestVerified(
  s3: S3Client,
  bucket: string,
  backups: readonly RecordedBackup[],
  allKeys: ReadonlySet<string>,
  hmacKey: string,
): Promise<{ readonly key: string | undefined; readonly unproven: readonly string[] }> {
  const unproven: string[] = [];
  for (const { key, sha256 } of backups) {
    if (!allKeys.has(markerKey(key))) continue;
    // Unreadable is unproven: a marker planted so that reading it fails (say, encrypted with a
    // customer key) must not stop retention, and its backup is kept (planRetention).
    const marker = await readMarker(s3, bucket, markerKey(key)).catch(() => undefined);
    if (marker && marker.key === key && verifiedTrusted(hmacKey, key, sha256, marker.hmac)) return { key, unproven };
    unproven.push(key);
  }
  return { key: undefined, unproven };
}
