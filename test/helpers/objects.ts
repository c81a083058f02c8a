// Writing and reading backup objects directly, for tests that need objects with chosen keys,
// dates, bytes and metadata (damaged copies, backups from the past).
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { backupHmac, verifiedHmac } from '../../src/storage/hmac.js';
import { TEST_HMAC_KEY } from './fixtures.js';
import type { PgHandle } from './postgres.js';

export async function getBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

export async function getMetadata(s3: S3Client, bucket: string, key: string): Promise<Record<string, string>> {
  return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).Metadata ?? {};
}

export async function putBytes(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer | string,
  metadata: Record<string, string> = {},
): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, Metadata: metadata }));
}

/** A `.verified` marker as verify writes it (signed with the tests' storage.hmacKey), for a backup recording `sha`. */
export async function putVerifiedMarker(s3: S3Client, bucket: string, key: string, sha: string): Promise<void> {
  await putBytes(s3, bucket, `${key}.verified`, JSON.stringify({ key, sha256: sha, hmac: verifiedHmac(TEST_HMAC_KEY, key, sha) }));
}

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Metadata as dumptruck writes it, describing `bytes` honestly (so only content checks can fail). */
export function honestMetadata(base: Record<string, string>, bytes: Buffer): Record<string, string> {
  return { ...base, sha256: sha256(bytes), 'stored-bytes': String(bytes.length) };
}

/** `metadata` signed for `key` with the tests' HMAC key, as dumptruck signs what it writes (its sha256 as given). */
export function signedFor(key: string, metadata: Record<string, string>): Record<string, string> {
  return { ...metadata, 'dumptruck-hmac': backupHmac(TEST_HMAC_KEY, key, metadata.sha256 ?? '') };
}

/**
 * A gzipped plain dump, well formed (pg_dump's header and trailer, so only psql can object),
 * that runs `shellCommand` through psql's `\\!` meta-command when psql obeys it.
 */
export function hostileDump(shellCommand: string): Buffer {
  return gzippedDump([`\\! ${shellCommand}`, 'SELECT 1;']);
}

/** `body` between pg_dump's header and trailer, gzipped (`level` 0: stored, its size set byte for byte). */
function gzippedDump(body: readonly string[], level?: number): Buffer {
  const text = ['--', '-- PostgreSQL database dump', '--', '', ...body, '', '--', '-- PostgreSQL database dump complete', '--', ''].join(
    '\n',
  );
  return gzipSync(text, level === undefined ? {} : { level });
}

/** Names of databases on the server that start with `prefix`. */
export async function databasesLike(pg: PgHandle, prefix: string): Promise<string[]> {
  const client = await pg.adminClient();
  try {
    const { rows } = await client.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1) order by 1', [
      prefix,
    ]);
    return rows.map((r) => r.datname);
  } finally {
    await client.end();
  }
}

/** The parsed manifest of the backup `key` (`<key>.manifest.json`). */
export async function getManifest(s3: S3Client, bucket: string, key: string): Promise<Record<string, unknown>> {
  return JSON.parse((await getBytes(s3, bucket, `${key}.manifest.json`)).toString()) as Record<string, unknown>;
}

/** A manifest describing `bytes` honestly (so only content checks can fail). */
export function honestManifest(base: Record<string, unknown>, bytes: Buffer): Record<string, unknown> {
  return { ...base, sha256: sha256(bytes), storedBytes: bytes.length };
}

/** Writes `bytes` under `key` and `manifest` beside it, rewritten for that key and signed with the tests' HMAC key, as dumptruck writes a backup. */
export async function putBackup(
  s3: S3Client,
  bucket: string,
  key: string,
  bytes: Buffer,
  manifest: Record<string, unknown>,
): Promise<void> {
  await putBytes(s3, bucket, key, bytes);
  const signed = { ...manifest, key, hmac: backupHmac(TEST_HMAC_KEY, key, String(manifest.sha256)) };
  await putBytes(s3, bucket, `${key}.manifest.json`, JSON.stringify(signed));
}

/** Metadata as dumptruck wrote it on the object before manifests (unsigned), from a backup's manifest. */
export function legacyMetadata(manifest: Record<string, unknown>): Record<string, string> {
  return {
    target: String(manifest.target),
    format: String(manifest.format),
    sha256: String(manifest.sha256),
    'stored-bytes': String(manifest.storedBytes),
  };
}

/**
 * A gzipped plain dump, well formed, that runs `sql`, padded to exactly `size` bytes: what a
 * bucket writer puts in place of a signed backup so that its size still matches the manifest.
 * Stored uncompressed (gzip level 0), so a comment's length sets the size byte for byte.
 */
export function sizedHostileDump(sql: string, size: number): Buffer {
  const dump = (pad: number) => gzippedDump([sql, `-- ${'x'.repeat(pad)}`], 0);
  let pad = 0;
  for (let tries = 0; tries < 10; tries++) {
    const bytes = dump(pad);
    if (bytes.length === size) return bytes;
    pad += size - bytes.length;
    if (pad < 0) break;
  }
  throw new Error(`cannot make a hostile dump of exactly ${size} bytes`);
}
