import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { StorageConfig } from '../config/schema.js';
import { DumptruckError, InputError, toDumptruckError } from '../errors.js';
import { fileName, isBackupKeyOf, targetPrefix } from './keys.js';
import { listAll, newestFirst } from './listing.js';
import type { BackupCatalog, BackupObject, PresignedLink } from './types.js';

export interface CatalogDeps {
  readonly s3: S3Client;
  readonly storage: StorageConfig;
  readonly now?: () => Date;
}

export function createCatalog({ s3, storage, now = () => new Date() }: CatalogDeps): BackupCatalog {
  const bucket = storage.bucket;

  async function list(target: string): Promise<BackupObject[]> {
    const all = await listAll(s3, bucket, targetPrefix(storage.prefix, target));
    return newestFirst(all.filter((o) => isBackupKeyOf(storage.prefix, target, o.key)));
  }

  async function resolve(target: string, keyOrLatest?: string): Promise<BackupObject> {
    if (keyOrLatest === undefined || keyOrLatest === 'latest') {
      const [newest] = await list(target);
      if (!newest) throw new DumptruckError('NOT_FOUND', 'storage', `no backups of ${target} yet`, { hint: `run one with: backup ${target}` });
      return newest;
    }
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
