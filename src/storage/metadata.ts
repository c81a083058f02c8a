import type { BackupResult, Trigger } from '../jobs/events.js';

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
  /** `age` when the stored bytes are age ciphertext; absent otherwise. */
  encrypted: 'encrypted',
  /** Space-separated fingerprints (recipientFingerprint) of the age recipients; never a private key. */
  recipients: 'recipients',
} as const;

/** S3 metadata must be US-ASCII; trigger details can hold anything a user typed. */
function ascii(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '?').slice(0, 256);
}

export function describeTrigger(trigger: Trigger): string {
  return ascii(`${trigger.kind}:${trigger.by}${trigger.detail ? ` (${trigger.detail})` : ''}`);
}

export function backupMetadata(result: Omit<BackupResult, 'finishedAt' | 'bucket' | 'parts' | 'partSize'>, trigger: Trigger): Record<string, string> {
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
    ...(result.encryption ? { [META.encrypted]: 'age', [META.recipients]: result.encryption.recipients.join(' ') } : {}),
  };
}

export function contentTypeFor(format: 'plain' | 'custom', encrypted = false): string {
  return format === 'plain' && !encrypted ? 'application/gzip' : 'application/octet-stream';
}
