import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Env } from '../config/load.js';
import type { StorageConfig } from '../config/schema.js';
import { DumptruckError, InputError, toDumptruckError } from '../errors.js';
import { resolveHmacKey } from '../secrets/index.js';
import { provenance } from './hmac.js';
import { fileName, isBackupKeyOf, keyTime, targetPrefix } from './keys.js';
import { listAll, newestFirst } from './listing.js';
import { META } from './metadata.js';
import type { BackupCatalog, BackupObject, PresignedLink } from './types.js';

export interface CatalogDeps {
  readonly s3: S3Client;
  readonly storage: StorageConfig;
  /** Where storage.hmacKey is read from when its source is `env`. */
  readonly env: Env;
  readonly now?: () => Date;
}

/** A key dated this far ahead of the clock is still a plausible backup (clocks drift); beyond it, never `latest`. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** Pure: whether a backup key's own date is beyond `now` plus the clock-skew allowance. */
export function datedInFuture(key: string, now: Date): boolean {
  const at = keyTime(key);
  return at !== undefined && at.getTime() > now.getTime() + CLOCK_SKEW_MS;
}

export function createCatalog({ s3, storage, env, now = () => new Date() }: CatalogDeps): BackupCatalog {
  const bucket = storage.bucket;

  async function list(target: string): Promise<BackupObject[]> {
    const all = await listAll(s3, bucket, targetPrefix(storage.prefix, target));
    return newestFirst(all.filter((o) => isBackupKeyOf(storage.prefix, target, o.key)));
  }

  async function resolve(target: string, keyOrLatest?: string): Promise<BackupObject> {
    if (keyOrLatest === undefined || keyOrLatest === 'latest') return latest(target);
    if (!isBackupKeyOf(storage.prefix, target, keyOrLatest)) {
      throw new InputError(
        `${JSON.stringify(keyOrLatest)} is not a backup key of ${target}`,
        `keys look like ${targetPrefix(storage.prefix, target)}YYYY/MM/DD/${target}_YYYYMMDDTHHmmssZ.sql.gz; list them with: list ${target}`,
      );
    }
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: keyOrLatest }));
      return { key: keyOrLatest, size: head.ContentLength ?? 0, lastModified: head.LastModified ?? new Date(0) };
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) throw new DumptruckError('NOT_FOUND', 'storage', `no object ${keyOrLatest}`, { hint: `list backups with: list ${target}` });
      throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${keyOrLatest}`);
    }
  }

  /**
   * The newest backup dumptruck provably wrote: anyone who can write to the bucket can plant an
   * object, and a key dated in the future would otherwise stay `latest` for good. Objects are
   * checked newest first with one HEAD each, until a signed one is found.
   */
  async function latest(target: string): Promise<BackupObject> {
    const all = await list(target);
    const candidates = all.filter((o) => !datedInFuture(o.key, now()));
    const hmacKey = candidates.length > 0 ? await resolveHmacKey(storage.hmacKey, { env }) : '';
    for (const o of candidates) {
      const metadata = await metadataOf(o.key);
      if (metadata && provenance(hmacKey, o.key, metadata[META.sha256], metadata[META.hmac]) === 'trusted') return o;
    }
    if (all.length === 0) throw new DumptruckError('NOT_FOUND', 'storage', `no backups of ${target} yet`, { hint: `run one with: backup ${target}` });
    throw new DumptruckError('NOT_FOUND', 'storage', `none of the ${all.length} objects under ${targetPrefix(storage.prefix, target)} is a backup signed by this dumptruck`, {
      hint: `run one with: backup ${target}; a backup written before signing can only be named by its key (list ${target})`,
    });
  }

  /** An object's metadata; undefined when it was deleted since it was listed. */
  async function metadataOf(key: string): Promise<Record<string, string> | undefined> {
    try {
      return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).Metadata ?? {};
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${key}`);
    }
  }

  async function link(key: string): Promise<PresignedLink> {
    const expiresIn = Math.floor(storage.linkExpiryMs / 1000);
    const command = new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      // Browsers save the dump under its own name rather than the last URL segment plus query.
      ResponseContentDisposition: `attachment; filename="${fileName(key)}"`,
    });
    const url = await getSignedUrl(s3, command, { expiresIn });
    return { url, expiresAt: new Date(now().getTime() + expiresIn * 1000) };
  }

  return { list, resolve, link };
}
