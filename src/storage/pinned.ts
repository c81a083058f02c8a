import { createHash } from 'node:crypto';
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { DumptruckError, toDumptruckError } from '../errors.js';

// The SHA-256 recorded at backup time is the only thing the HMAC vouches for; the bytes behind a
// key can be overwritten by anyone who can write to the bucket. psql and pg_restore execute what
// they read as they read it, so a hash compared at the end of the restoring pass comes too late.
// Hence two reads: a first pass hashes the whole object (streamed, bounded memory, no temp file)
// and notes its ETag and VersionId; the pass that feeds a tool then GETs that exact version
// (If-Match), so an object replaced in between is refused by the store instead of restored.

/** One stored version of an object, as a first pass found it. */
export interface PinnedObject {
  readonly key: string;
  readonly sha256: string;
  readonly etag: string | undefined;
  readonly versionId: string | undefined;
}

/** Reads the whole object once, hashing it; nothing is kept but the hash. */
export async function hashObject(s3: S3Client, bucket: string, key: string, signal: AbortSignal | undefined): Promise<PinnedObject> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    const hash = createHash('sha256');
    for await (const chunk of object.Body as Readable) hash.update(chunk as Buffer);
    return { key, sha256: hash.digest('hex'), etag: object.ETag, versionId: usableVersion(object.VersionId) };
  } catch (err) {
    throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${key}`);
  }
}

/** GETs the version `pin` names; a store that holds another one by now answers 412, reported as CORRUPTED. */
export async function getPinned(
  s3: S3Client,
  bucket: string,
  pin: PinnedObject,
  stage: 'verify' | 'restore',
  signal: AbortSignal | undefined,
): Promise<GetObjectCommandOutput> {
  try {
    return await s3.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: pin.key,
        ...(pin.etag ? { IfMatch: pin.etag } : {}),
        ...(pin.versionId ? { VersionId: pin.versionId } : {}),
      }),
      { abortSignal: signal },
    );
  } catch (err) {
    if (!isPreconditionFailed(err)) throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${pin.key}`);
    throw new DumptruckError(
      'CORRUPTED',
      stage,
      `${pin.key}: the object changed while it was being checked (its ETag is no longer ${pin.etag})`,
      {
        cause: err,
      },
    );
  }
}

/** An unversioned bucket reports no version, or the literal "null"; neither names one to ask for. */
function usableVersion(versionId: string | undefined): string | undefined {
  return versionId && versionId !== 'null' ? versionId : undefined;
}

function isPreconditionFailed(err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: number }; name?: string };
  return e.$metadata?.httpStatusCode === 412 || e.name === 'PreconditionFailed';
}
