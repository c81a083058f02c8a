import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { toDumptruckError } from '../errors.js';
import type { BackupResult, CompressionAlgorithm, DumpFormat, Trigger } from '../types.js';
import { backupHmac } from './hmac.js';

/** User metadata names (x-amz-meta-*). S3 lowercases them; keep them lowercase here too. */
export const META = {
  sha256: 'sha256',
  dumpedBytes: 'uncompressed-bytes',
  storedBytes: 'stored-bytes',
  pgDumpVersion: 'pg-dump-version',
  serverVersion: 'server-version',
  trigger: 'trigger',
  target: 'target',
  format: 'format',
  compression: 'compression',
  startedAt: 'started-at',
  durationMs: 'duration-ms',
  /** `age` when the stored bytes are age ciphertext; absent otherwise. */
  encrypted: 'encrypted',
  /** Space-separated fingerprints (recipientFingerprint) of the age recipients; never a private key. */
  recipients: 'recipients',
  /** backupHmac(storage.hmacKey, key, sha256): proof that dumptruck wrote this object. */
  hmac: 'dumptruck-hmac',
} as const;

/** S3 metadata must be US-ASCII; trigger details can hold anything a user typed. */
function ascii(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '?').slice(0, 256);
}

export function describeTrigger(trigger: Trigger): string {
  return ascii(`${trigger.kind}:${trigger.by}${trigger.detail ? ` (${trigger.detail})` : ''}`);
}

/** `hmacKey`: the resolved storage.hmacKey, which signs the key and the SHA-256. */
export function backupMetadata(result: Omit<BackupResult, 'finishedAt' | 'bucket' | 'parts' | 'partSize'>, trigger: Trigger, hmacKey: string): Record<string, string> {
  return {
    [META.sha256]: result.sha256,
    [META.dumpedBytes]: String(result.dumpedBytes),
    [META.storedBytes]: String(result.storedBytes),
    [META.pgDumpVersion]: ascii(result.pgDumpVersion),
    [META.serverVersion]: ascii(result.serverVersion),
    [META.trigger]: describeTrigger(trigger),
    [META.target]: result.target,
    [META.format]: result.format,
    ...(result.compression ? { [META.compression]: `${result.compression.algorithm}:${result.compression.level}` } : {}),
    [META.startedAt]: result.startedAt.toISOString(),
    [META.durationMs]: String(result.durationMs),
    ...(result.encryption ? { [META.encrypted]: 'age', [META.recipients]: result.encryption.recipients.join(' ') } : {}),
    [META.hmac]: backupHmac(hmacKey, result.key, result.sha256),
  };
}

/**
 * The stored object's Content-Type. Never a Content-Encoding: a browser would silently
 * decompress a presigned download, and the file saved as .sql.gz would not be gzip.
 */
export function contentTypeFor(format: DumpFormat, algorithm: CompressionAlgorithm, encrypted = false): string {
  if (format === 'custom' || encrypted) return 'application/octet-stream';
  return algorithm === 'zstd' ? 'application/zstd' : 'application/gzip';
}

/**
 * Whether an object reads as a backup dumptruck wrote for `target`: its metadata names the target
 * and carries a SHA-256. A key in the right shape is not enough (anyone who can write to the
 * bucket can plant one), and retention and the size check must count only real backups.
 */
export async function isOwnBackup(s3: S3Client, bucket: string, target: string, key: string): Promise<boolean> {
  try {
    const meta = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).Metadata ?? {};
    return meta[META.target] === target && /^[0-9a-f]{64}$/.test(meta[META.sha256] ?? '');
  } catch (err) {
    // Gone since the listing (another prune): not a backup to count.
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading the metadata of ${key}`);
  }
}
