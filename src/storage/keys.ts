// Object keys are part of the external contract:
//   {prefix}/{target}/YYYY/MM/DD/{target}_{YYYYMMDDTHHmmssZ}.sql.gz
//   (.sql.zst for plain dumps compressed with zstd, .dump for custom format whatever pg_dump compressed it with)
// Keys sort by time within a target, so "newest first" is a reverse key sort.

import type { CompressionAlgorithm, DumpFormat } from '../types.js';

export type { CompressionAlgorithm, DumpFormat } from '../types.js';

export type BackupExtension = '.sql.gz' | '.sql.zst' | '.dump';

export function extensionFor(format: DumpFormat, algorithm: CompressionAlgorithm = 'gzip'): BackupExtension {
  if (format === 'custom') return '.dump';
  return algorithm === 'zstd' ? '.sql.zst' : '.sql.gz';
}

/** Every suffix a backup key may end with, as a regular expression group. */
const BACKUP_SUFFIX = '(?:\\.sql\\.gz|\\.sql\\.zst|\\.dump)';

/** Pure: what a backup key says about its object (by its suffix); undefined for another key. */
export function backupKind(key: string): { readonly format: DumpFormat; readonly algorithm?: CompressionAlgorithm } | undefined {
  if (key.endsWith('.dump')) return { format: 'custom' };
  if (key.endsWith('.sql.gz')) return { format: 'plain', algorithm: 'gzip' };
  if (key.endsWith('.sql.zst')) return { format: 'plain', algorithm: 'zstd' };
  return undefined;
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

export function objectKey(prefix: string, target: string, date: Date, format: DumpFormat, algorithm: CompressionAlgorithm = 'gzip'): string {
  const day = `${date.getUTCFullYear()}/${pad(date.getUTCMonth() + 1)}/${pad(date.getUTCDate())}`;
  return `${targetPrefix(prefix, target)}${day}/${target}_${compactTimestamp(date)}${extensionFor(format, algorithm)}`;
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
  return new RegExp(`^\\d{4}/\\d{2}/\\d{2}/${escaped}_\\d{8}T\\d{6}Z${BACKUP_SUFFIX}$`).test(rest);
}

/** The UTC time embedded in a backup key (`..._20261122T030405Z.sql.gz`), or undefined for another key. */
export function keyTime(key: string): Date | undefined {
  const m = new RegExp(`_(\\d{4})(\\d{2})(\\d{2})T(\\d{2})(\\d{2})(\\d{2})Z${BACKUP_SUFFIX}$`).exec(key);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}
