import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DumptruckError, toDumptruckError } from '../errors.js';
import type { CompressionAlgorithm, DumpFormat } from './keys.js';
import { META } from './metadata.js';

// A backup is complete exactly when its manifest exists: a small JSON object written beside the
// dump (`<key>.manifest.json`) once the dump's upload completed, recording what only the end of
// the stream knows (SHA-256, sizes, duration, mirror outcome) and the HMAC that proves dumptruck
// wrote it. The dump itself is written once and never copied (as WAL-G's sentinel and
// pgBackRest's backup.manifest do), which keeps versioned and object-locked buckets at one version.

export const MANIFEST_SUFFIX = '.manifest.json';
/** Bumped when a field changes meaning; readers refuse versions they do not know. */
export const MANIFEST_VERSION = 1;

export function manifestKey(backupKey: string): string {
  return `${backupKey}${MANIFEST_SUFFIX}`;
}

export interface Manifest {
  readonly version: typeof MANIFEST_VERSION;
  /** The dump's own key: a manifest copied beside another dump does not describe it. */
  readonly key: string;
  readonly target: string;
  readonly format: DumpFormat;
  readonly compression?: { readonly algorithm: CompressionAlgorithm; readonly level: number } | undefined;
  /** Hex SHA-256 of the stored bytes. */
  readonly sha256: string;
  readonly storedBytes: number;
  readonly dumpedBytes: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly pgDumpVersion: string;
  readonly serverVersion: string;
  readonly trigger: { readonly kind: string; readonly by: string; readonly detail?: string | undefined };
  /** An age-encrypted backup: its recipients' fingerprints (never a key). */
  readonly encryption?: { readonly recipients: readonly string[] } | undefined;
  /** The mirror copy's outcome, when a mirror is configured (the mirror's own manifest says the same). */
  readonly mirror?:
    | { readonly bucket: string; readonly endpoint?: string | undefined; readonly stored: boolean; readonly error?: string | undefined }
    | undefined;
  /** backupHmac(storage.hmacKey, key, sha256). */
  readonly hmac: string;
}

/** Pure: the manifest's text; stable field order so two stores get byte-identical manifests. */
export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Pure: a manifest read from the store, checked field by field; the reason when it is not one
 * (anyone who can write to the bucket can write JSON there, so nothing is assumed).
 */
export function parseManifest(text: string): { readonly manifest: Manifest } | { readonly problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { problem: 'is not JSON' };
  }
  if (!isRecord(raw)) return { problem: 'is not a JSON object' };
  if (raw.version !== MANIFEST_VERSION)
    return { problem: `has version ${JSON.stringify(raw.version)}, this dumptruck reads version ${MANIFEST_VERSION}` };
  const bad = (field: string) => ({ problem: `has no valid ${field}` });
  // A manifest copied from another backup keeps that one's key: its HMAC (over the key) says so.
  if (!isString(raw.key)) return bad('key');
  if (!isString(raw.target) || raw.target === '') return bad('target');
  if (raw.format !== 'plain' && raw.format !== 'custom') return bad('format');
  if (!isString(raw.sha256) || !/^[0-9a-f]{64}$/.test(raw.sha256)) return bad('sha256');
  if (!isCount(raw.storedBytes)) return bad('storedBytes');
  if (!isCount(raw.dumpedBytes)) return bad('dumpedBytes');
  if (!isCount(raw.durationMs)) return bad('durationMs');
  for (const field of ['startedAt', 'finishedAt'] as const) {
    const value = raw[field];
    if (!isString(value) || Number.isNaN(Date.parse(value))) return bad(field);
  }
  for (const field of ['pgDumpVersion', 'serverVersion'] as const) if (!isString(raw[field])) return bad(field);
  // Always signed: an unsigned manifest is not one dumptruck wrote, never a "legacy" backup.
  if (!isString(raw.hmac) || !/^[0-9a-f]{64}$/.test(raw.hmac)) return bad('hmac');
  const trigger = raw.trigger;
  if (!isRecord(trigger) || !isString(trigger.kind) || !isString(trigger.by) || (trigger.detail !== undefined && !isString(trigger.detail)))
    return bad('trigger');
  const compression = raw.compression;
  if (
    compression !== undefined &&
    (!isRecord(compression) ||
      (compression.algorithm !== 'gzip' && compression.algorithm !== 'zstd') ||
      typeof compression.level !== 'number')
  ) {
    return bad('compression');
  }
  const encryption = raw.encryption;
  if (
    encryption !== undefined &&
    (!isRecord(encryption) || !Array.isArray(encryption.recipients) || !encryption.recipients.every(isString))
  )
    return bad('encryption');
  const mirror = raw.mirror;
  if (mirror !== undefined && (!isRecord(mirror) || !isString(mirror.bucket) || typeof mirror.stored !== 'boolean')) return bad('mirror');
  return { manifest: raw as unknown as Manifest };
}

/**
 * Writes the manifest, refusing to replace one (If-None-Match: *): a backup's record is written
 * once. A store that does not implement conditional writes ignores the header (S3 and versitygw
 * honour it), which is no worse than before: keys are unique per run.
 */
export async function writeManifest(s3: S3Client, bucket: string, manifest: Manifest): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: manifestKey(manifest.key),
      Body: serializeManifest(manifest),
      ContentType: 'application/json',
      IfNoneMatch: '*',
    }),
  );
}

/**
 * What a stored backup records about itself, from its manifest or (written before manifests) from
 * the metadata on the object. Verify and `latest` judge a backup by this alone.
 */
export interface BackupFacts {
  readonly recordedIn: 'manifest' | 'metadata';
  readonly target: string | undefined;
  readonly format: string | undefined;
  readonly sha256: string | undefined;
  readonly storedBytes: number | undefined;
  readonly hmac: string | undefined;
}

/** A stored dump: its size, and its facts; `facts` undefined means incomplete (no manifest, no old-style metadata). */
export interface StoredBackup {
  readonly size: number;
  readonly lastModified: Date;
  /** The dump object's own metadata (what was known at start). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly facts: BackupFacts | undefined;
}

/** Pure: facts from an object's metadata, when it is an old-style backup (its SHA-256 in metadata); else undefined. */
export function factsFromMetadata(metadata: Readonly<Record<string, string>>): BackupFacts | undefined {
  if (metadata[META.sha256] === undefined) return undefined;
  const stored = metadata[META.storedBytes];
  return {
    recordedIn: 'metadata',
    target: metadata[META.target],
    format: metadata[META.format],
    sha256: metadata[META.sha256],
    storedBytes: stored === undefined ? undefined : Number(stored),
    hmac: metadata[META.hmac],
  };
}

export function factsFromManifest(m: Manifest): BackupFacts {
  return { recordedIn: 'manifest', target: m.target, format: m.format, sha256: m.sha256, storedBytes: m.storedBytes, hmac: m.hmac };
}

const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** The manifest of `key`; undefined when there is none. A manifest that does not parse is an error (CORRUPTED). */
export async function readManifest(s3: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<Manifest | undefined> {
  let text: string;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKey(key) }), { abortSignal: signal });
    text = await out.Body!.transformToString();
  } catch (err) {
    if (statusOf(err) === 404 || (err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${manifestKey(key)}`);
  }
  const parsed = parseManifest(text);
  if ('problem' in parsed)
    throw new DumptruckError('CORRUPTED', 'verify', `${manifestKey(key)} ${parsed.problem}: the backup's record was damaged or replaced`);
  return parsed.manifest;
}

/**
 * A stored dump and what it records: its manifest when it has one, else old-style metadata.
 * NOT_FOUND when the dump itself is missing. One HEAD, plus one GET when a manifest exists.
 */
export async function readStoredBackup(
  s3: S3Client,
  bucket: string,
  key: string,
  options: { readonly signal?: AbortSignal | undefined; readonly hint?: string } = {},
): Promise<StoredBackup> {
  let head;
  try {
    head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: options.signal });
  } catch (err) {
    if (statusOf(err) === 404)
      throw new DumptruckError('NOT_FOUND', 'storage', `no object ${key}`, options.hint ? { hint: options.hint } : {});
    throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${key}`);
  }
  const manifest = await readManifest(s3, bucket, key, options.signal);
  return {
    size: head.ContentLength ?? 0,
    lastModified: head.LastModified ?? new Date(0),
    metadata: head.Metadata ?? {},
    facts: manifest ? factsFromManifest(manifest) : factsFromMetadata(head.Metadata ?? {}),
  };
}
