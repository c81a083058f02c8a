import {
  AbortMultipartUploadCommand,
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
      return await (s3.send as (...a: unknown[]) => Promise<unknown>).call(s3, command, ...rest);
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
