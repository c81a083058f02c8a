import type { BackupResult, Trigger } from '../jobs/events.js';
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
  startedAt: 'started-at',
  durationMs: 'duration-ms',
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
    [META.startedAt]: result.startedAt.toISOString(),
    [META.durationMs]: String(result.durationMs),
    [META.hmac]: backupHmac(hmacKey, result.key, result.sha256),
  };
}

export function contentTypeFor(format: 'plain' | 'custom'): string {
  return format === 'plain' ? 'application/gzip' : 'application/octet-stream';
}
