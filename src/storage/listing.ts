import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { toDumptruckError } from '../errors.js';
import type { BackupObject } from './types.js';

/** Every object under `prefix`, in the store's order (all pages). */
export async function listAll(s3: S3Client, bucket: string, prefix: string): Promise<BackupObject[]> {
  const out: BackupObject[] = [];
  let token: string | undefined;
  try {
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } catch (err) {
    throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `listing s3://${bucket}/${prefix}`);
  }
  return out;
}

/** Newest first: keys embed the UTC time, so a reverse key sort is newest first even across days. */
export function newestFirst<T extends { readonly key: string }>(objects: readonly T[]): T[] {
  return [...objects].sort((a, b) => (a.key < b.key ? 1 : a.key > b.key ? -1 : 0));
}
