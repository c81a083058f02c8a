import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { toDumptruckError } from '../errors.js';
import { newestFirst } from '../storage/listing.js';
import type { VerifyReport } from '../types.js';

// A verified backup gets a small marker object beside it, `<key>.verified` (JSON). Not object
// tags: R2 and several other S3-compatible stores do not implement tagging, and S3 metadata
// cannot change without copying the whole object. The marker is not a backup key (the catalog
// never lists it) and lives under the same prefix, so a lifecycle rule expires both together.

export const VERIFIED_SUFFIX = '.verified';

export function markerKey(backupKey: string): string {
  return `${backupKey}${VERIFIED_SUFFIX}`;
}

export async function writeVerifiedMarker(s3: S3Client, bucket: string, report: VerifyReport): Promise<void> {
  const body = JSON.stringify({
    key: report.key,
    sha256: report.sha256,
    verifiedAt: report.verifiedAt.toISOString(),
    checks: report.checks,
    restored: report.restore
      ? { tables: report.restore.tables.length, rows: report.restore.rows, durationMs: report.restore.durationMs }
      : null,
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

/** Pure: the newest of `backupKeys` that has a marker among `allKeys` (a listing of the target's prefix). */
export function newestVerified(backupKeys: readonly string[], allKeys: readonly string[]): string | undefined {
  const keys = new Set(allKeys);
  return newestFirst(backupKeys.map((key) => ({ key }))).find((o) => keys.has(markerKey(o.key)))?.key;
}
