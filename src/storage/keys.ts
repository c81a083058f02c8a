// Object keys are part of the external contract:
//   {prefix}/{target}/YYYY/MM/DD/{target}_{YYYYMMDDTHHmmssZ}.sql.gz   (.dump for custom format)
// then `.age` when the backup is encrypted (.sql.gz.age, .dump.age).
// Keys sort by time within a target, so "newest first" is a reverse key sort.

export type DumpFormat = 'plain' | 'custom';

export function extensionFor(format: DumpFormat): '.sql.gz' | '.dump' {
  return format === 'plain' ? '.sql.gz' : '.dump';
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** 2026-11-22T03:04:05.678Z -> "20261122T030405Z" */
export function compactTimestamp(date: Date): string {
  return (
    `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`
  );
}

/** "{prefix}/{target}/" or "{target}/" without a prefix. */
export function targetPrefix(prefix: string, target: string): string {
  return prefix ? `${prefix}/${target}/` : `${target}/`;
}

/** Encryption is the last stage of the pipeline, so its suffix comes last. */
export const ENCRYPTED_SUFFIX = '.age';

export function objectKey(prefix: string, target: string, date: Date, format: DumpFormat, encrypted = false): string {
  const day = `${date.getUTCFullYear()}/${pad(date.getUTCMonth() + 1)}/${pad(date.getUTCDate())}`;
  return `${targetPrefix(prefix, target)}${day}/${target}_${compactTimestamp(date)}${extensionFor(format)}${encrypted ? ENCRYPTED_SUFFIX : ''}`;
}

export function isEncryptedKey(key: string): boolean {
  return key.endsWith(ENCRYPTED_SUFFIX);
}

/** The key's own format, whatever encryption wraps it. */
export function formatOfKey(key: string): DumpFormat {
  const inner = isEncryptedKey(key) ? key.slice(0, -ENCRYPTED_SUFFIX.length) : key;
  return inner.endsWith('.dump') ? 'custom' : 'plain';
}

/** Everything after the timestamp (".sql.gz", ".dump.age"): backups are comparable only with the same suffix. */
export function keySuffix(key: string): string {
  return /Z(\.[a-z.]+)$/.exec(key)?.[1] ?? '';
}

/** The file name part of a key, used for Content-Disposition. */
export function fileName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** True when `key` is a backup object of `target` as written by objectKey. */
export function isBackupKeyOf(prefix: string, target: string, key: string): boolean {
  const head = targetPrefix(prefix, target);
  if (!key.startsWith(head)) return false;
  const rest = key.slice(head.length);
  const escaped = target.replace(/[-_]/g, '\\$&');
  return new RegExp(`^\\d{4}/\\d{2}/\\d{2}/${escaped}_\\d{8}T\\d{6}Z(\\.sql\\.gz|\\.dump)(\\.age)?$`).test(rest);
}

/** The UTC time embedded in a backup key (`..._20261122T030405Z.sql.gz`), or undefined for another key. */
export function keyTime(key: string): Date | undefined {
  const m = /_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:\.sql\.gz|\.dump)(?:\.age)?$/.exec(key);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}
