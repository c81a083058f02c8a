import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { toDumptruckError } from '../errors.js';

export interface StreamUploadOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly body: Readable;
  readonly partSize: number;
  readonly partsInFlight: number;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  /** Called as soon as any request fails, so the caller can stop the stream at once. */
  readonly onRequestError: (err: unknown) => void;
  /** Called with the multipart upload's id once the store created it: cleanup aborts this one upload, and only it. */
  readonly onUploadId?: (uploadId: string) => void;
}

/**
 * Multipart upload of a stream with lib-storage.
 *
 * Two of lib-storage's behaviours shape this wrapper: `upload.abort()` rejects `done()` before the
 * multipart upload is actually aborted, and one failed part does not stop the other uploaders from
 * reading on. So cancellation is done by destroying the body (done() then rejects only after
 * AbortMultipartUpload was sent), and a failed request destroys the body through `onRequestError`.
 */
export function uploadStream(options: StreamUploadOptions): Promise<void> {
  const { s3 } = options;
  // A view of the shared client whose failures reach this job: config and middleware stay shared.
  const client = Object.create(s3) as S3Client;
  client.send = (async (command: Parameters<S3Client['send']>[0], ...rest: unknown[]) => {
    try {
      const out = await (s3.send as (...a: unknown[]) => Promise<unknown>).call(s3, command, ...rest);
      const uploadId = command instanceof CreateMultipartUploadCommand ? (out as { UploadId?: string }).UploadId : undefined;
      if (uploadId) options.onUploadId?.(uploadId);
      return out;
    } catch (err) {
      options.onRequestError(err);
      throw err;
    }
  }) as S3Client['send'];
  const upload = new Upload({
    client,
    params: {
      Bucket: options.bucket,
      Key: options.key,
      Body: options.body,
      ContentType: options.contentType,
      Metadata: options.metadata,
    },
    partSize: options.partSize,
    queueSize: options.partsInFlight,
    leavePartsOnError: false,
  });
  return upload.done().then(() => undefined);
}

/**
 * Belt and braces after a failure: aborts any multipart upload still open for exactly this key
 * (lib-storage aborts its own, but not if that request itself failed).
 */
export async function abortLeftoverUploads(s3: S3Client, bucket: string, key: string): Promise<void> {
  const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  for (const u of listed.Uploads ?? []) {
    if (u.Key === key && u.UploadId) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: u.UploadId }));
    }
  }
}

/**
 * Aborts multipart uploads under `prefix` that a crash left behind (SIGKILL, power loss: no
 * cleanup ran): those initiated before `initiatedBefore` whose id is not in `live` (the uploads of
 * this process's running jobs). The age leaves uploads of other processes on the same prefix
 * alone while they run. Returns the keys it aborted.
 */
export async function abortOrphanedUploads(
  s3: S3Client,
  bucket: string,
  prefix: string,
  initiatedBefore: Date,
  live: ReadonlySet<string>,
): Promise<string[]> {
  const aborted: string[] = [];
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  do {
    const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker, UploadIdMarker }));
    for (const u of page.Uploads ?? []) {
      if (!u.Key || !u.UploadId || live.has(u.UploadId) || !u.Initiated || u.Initiated.getTime() >= initiatedBefore.getTime()) continue;
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
      aborted.push(u.Key);
    }
    [KeyMarker, UploadIdMarker] = page.IsTruncated ? [page.NextKeyMarker, page.NextUploadIdMarker] : [undefined, undefined];
  } while (KeyMarker !== undefined);
  return aborted;
}

/** Fails fast, before pg_dump starts, when the bucket is unreachable or the credentials are wrong. */
export async function checkBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const why =
      status === 403 ? 'access denied (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy)'
      : status === 404 ? 'no such bucket'
      : undefined;
    throw toDumptruckError(err, 'UPLOAD_FAILED', 'upload', `bucket ${bucket}${why ? `: ${why}` : ''}`);
  }
}
