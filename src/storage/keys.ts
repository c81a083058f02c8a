// Object keys are part of the external contract:
//   {prefix}/{target}/YYYY/MM/DD/{target}_{YYYYMMDDTHHmmssZ}-{mmm}-{run}.sql.gz
//   (.sql.zst for plain dumps compressed with zstd, .dump for custom format whatever pg_dump compressed it with)
// The second-resolution timestamp is the contract; `-{mmm}-{run}` (milliseconds and a random run
// token) makes the key unique per run, so two runs in the same second never write one key. Keys
// written before the suffix existed (`..._{YYYYMMDDTHHmmssZ}.sql.gz`) are still backups.
// then `.age` when the backup is encrypted (.sql.gz.age, .sql.zst.age, .dump.age).
// Keys sort by time within a target, so "newest first" is a reverse key sort.

import { randomBytes } from 'node:crypto';
import { DumptruckError } from '../errors.js';
import type { CompressionAlgorithm, DumpFormat } from '../types.js';

export type { CompressionAlgorithm, DumpFormat } from '../types.js';

export type BackupExtension = '.sql.gz' | '.sql.zst' | '.dump';

export function extensionFor(format: DumpFormat, algorithm: CompressionAlgorithm = 'gzip'): BackupExtension {
  if (format === 'custom') return '.dump';
  return algorithm === 'zstd' ? '.sql.zst' : '.sql.gz';
}

/** Encryption is the last stage of the pipeline, so its suffix comes last. */
export const ENCRYPTED_SUFFIX = '.age';

/** Every suffix a backup key may end with (before `.age`), as a regular expression group. */
const BACKUP_SUFFIX = '(?:\\.sql\\.gz|\\.sql\\.zst|\\.dump)';

export interface BackupKind {
  readonly format: DumpFormat;
  /** How dumptruck compressed a plain dump; absent for custom format (pg_dump compressed inside). */
  readonly algorithm?: CompressionAlgorithm;
  readonly encrypted: boolean;
}

/** Pure: what a backup key says about its object (by its suffix); undefined for another key. */
export function backupKind(key: string): BackupKind | undefined {
  const encrypted = key.endsWith(ENCRYPTED_SUFFIX);
  const inner = encrypted ? key.slice(0, -ENCRYPTED_SUFFIX.length) : key;
  if (inner.endsWith('.dump')) return { format: 'custom', encrypted };
  if (inner.endsWith('.sql.gz')) return { format: 'plain', algorithm: 'gzip', encrypted };
  if (inner.endsWith('.sql.zst')) return { format: 'plain', algorithm: 'zstd', encrypted };
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

/** The run token in a key: six lowercase hex digits (randomBytes(3)). */
export const RUN_TOKEN = /^[0-9a-f]{6}$/;

/** A new run token (RUN_TOKEN). */
export const newRunToken = (): string => randomBytes(3).toString('hex');

/**
 * `-{mmm}-{run}`: what makes a name unique to one run when two start in the same second (backup
 * keys, snapshot identifiers). A name the parsers would not recognise would be one nobody can
 * list or prune, so a malformed token is refused.
 */
export function runSuffix(date: Date, runToken: string): string {
  if (!RUN_TOKEN.test(runToken))
    throw new DumptruckError('INTERNAL', 'internal', `run token must be 6 hex digits, got ${JSON.stringify(runToken)}`);
  return `-${pad(date.getUTCMilliseconds(), 3)}-${runToken}`;
}

export interface KeyOptions {
  readonly algorithm?: CompressionAlgorithm;
  /** RUN_TOKEN; makes the key unique. Without it the key has the old second-resolution form, which tests use to plant backups from the past. */
  readonly runToken?: string;
  readonly encrypted?: boolean;
}

/** The key of one run's backup. */
export function objectKey(prefix: string, target: string, date: Date, format: DumpFormat, options: KeyOptions = {}): string {
  const { algorithm = 'gzip', runToken, encrypted = false } = options;
  const day = `${date.getUTCFullYear()}/${pad(date.getUTCMonth() + 1)}/${pad(date.getUTCDate())}`;
  const unique = runToken === undefined ? '' : runSuffix(date, runToken);
  return `${targetPrefix(prefix, target)}${day}/${target}_${compactTimestamp(date)}${unique}${extensionFor(format, algorithm)}${encrypted ? ENCRYPTED_SUFFIX : ''}`;
}

export function isEncryptedKey(key: string): boolean {
  return key.endsWith(ENCRYPTED_SUFFIX);
}

/** The key's own format, whatever encryption wraps it. */
export function formatOfKey(key: string): DumpFormat {
  return backupKind(key)?.format ?? 'plain';
}

/** Everything after the timestamp and run token (".sql.gz", ".dump.age"): backups are comparable only with the same suffix. */
export function keySuffix(key: string): string {
  return /Z(?:-\d{3}-[0-9a-f]{6})?(\.[a-z.]+)$/.exec(key)?.[1] ?? '';
}

/** The file name part of a key, used for Content-Disposition. */
export function fileName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

// `_{YYYYMMDDTHHmmssZ}`, then the optional `-{mmm}-{run}`, then the extension.
const STAMP = String.raw`_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-(\d{3})-[0-9a-f]{6})?${BACKUP_SUFFIX}(?:\.age)?$`;

/** True when `key` is a backup object of `target` as written by objectKey (with or without a run token). */
export function isBackupKeyOf(prefix: string, target: string, key: string): boolean {
  const head = targetPrefix(prefix, target);
  if (!key.startsWith(head)) return false;
  const rest = key.slice(head.length);
  const escaped = target.replace(/[-_]/g, '\\$&');
  return new RegExp(`^\\d{4}/\\d{2}/\\d{2}/${escaped}${STAMP}`).test(rest);
}

/** The UTC time embedded in a backup key (`..._20261122T030405Z-678-3f9a1c.sql.gz`), or undefined for another key. */
export function keyTime(key: string): Date | undefined {
  const m = new RegExp(STAMP).exec(key);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s, ms] = m.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
}

/** True for a key written with a run token (`..._20261122T030405Z-678-3f9a1c.sql.gz`); keys from before run tokens have none. */
export function hasRunToken(key: string): boolean {
  return /_\d{8}T\d{6}Z-\d{3}-[0-9a-f]{6}\.[a-z.]+$/.test(key);
}
