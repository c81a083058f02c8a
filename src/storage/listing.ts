import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { toDumptruckError } from '../errors.js';
import { isBackupKeyOf, targetPrefix } from './keys.js';
import { factsFromMetadata, manifestKey } from './manifest.js';
import { META } from './metadata.js';
import type { BackupObject, StoredObject } from './types.js';

/** Every object under `prefix`, in the store's order (all pages). */
export async function listAll(s3: S3Client, bucket: string, prefix: string): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
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

/** Pure: a target's dumps among `listing` (a listing of its prefix), newest first, each with whether its manifest is there. */
export function dumpsIn(
  prefix: string,
  target: string,
  listing: readonly StoredObject[],
): { readonly object: StoredObject; readonly hasManifest: boolean }[] {
  const keys = new Set(listing.map((o) => o.key));
  return newestFirst(listing.filter((o) => isBackupKeyOf(prefix, target, o.key))).map((object) => ({
    object,
    hasManifest: keys.has(manifestKey(object.key)),
  }));
}

/**
 * A target's backups, newest first, each complete (manifest), legacy (facts in its metadata,
 * written before manifests), incomplete (dumptruck's metadata, no manifest) or foreign. One listing, plus one HEAD per dump without a manifest.
 * `listing`: the target prefix's listing when the caller already has it.
 */
export async function listBackups(
  s3: S3Client,
  bucket: string,
  prefix: string,
  target: string,
  listing?: readonly StoredObject[],
): Promise<BackupObject[]> {
  const all = listing ?? (await listAll(s3, bucket, targetPrefix(prefix, target)));
  const out = await Promise.all(
    dumpsIn(prefix, target, all).map(async ({ object, hasManifest }): Promise<BackupObject | undefined> => {
      if (hasManifest) return { ...object, state: 'complete' };
      try {
        const metadata = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: object.key }))).Metadata ?? {};
        if (metadata[META.target] !== target) return { ...object, state: 'foreign' };
        return { ...object, state: factsFromMetadata(metadata) ? 'legacy' : 'incomplete' };
      } catch (err) {
        // Deleted since it was listed.
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
        throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${object.key}`);
      }
    }),
  );
  return out.filter((o) => o !== undefined);
}
