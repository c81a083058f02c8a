import type { CompressionAlgorithm, DumpFormat, Trigger } from '../types.js';

/**
 * User metadata names (x-amz-meta-*). S3 lowercases them; keep them lowercase here too. Backups
 * written before manifests carry all of them (their SHA-256, sizes and HMAC too); newer ones only
 * what is known at start.
 */
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

/**
 * Metadata known when the upload begins, set at CreateMultipartUpload: the dump is written once
 * and never copied to add more (what only the end knows goes into its manifest).
 */
export function startMetadata(
  run: {
    readonly target: string;
    readonly format: DumpFormat;
    readonly compression?: { readonly algorithm: CompressionAlgorithm; readonly level: number } | undefined;
    readonly pgDumpVersion: string;
    readonly serverVersion: string;
    readonly startedAt: Date;
    readonly encryption?: { readonly recipients: readonly string[] } | undefined;
  },
  trigger: Trigger,
): Record<string, string> {
  return {
    [META.target]: run.target,
    [META.trigger]: describeTrigger(trigger),
    [META.format]: run.format,
    ...(run.compression ? { [META.compression]: `${run.compression.algorithm}:${run.compression.level}` } : {}),
    [META.pgDumpVersion]: ascii(run.pgDumpVersion),
    [META.serverVersion]: ascii(run.serverVersion),
    [META.startedAt]: run.startedAt.toISOString(),
    ...(run.encryption ? { [META.encrypted]: 'age', [META.recipients]: run.encryption.recipients.join(' ') } : {}),
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
