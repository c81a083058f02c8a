import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { DumptruckError, toDumptruckError } from '../errors.js';
import { collectGarbage } from './streams.js';

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
  /** Called with the multipart upload's id once the store created it (the uploads of running jobs are never swept as orphans). */
  readonly onUploadId?: (uploadId: string) => void;
}

/** One stream's upload: its outcome, and the cleanup of its own multipart upload. */
export interface StreamUpload {
  readonly done: Promise<void>;
  /**
   * Belt and braces after a failure: aborts this upload's own multipart upload if it is still open
   * (lib-storage aborts its own, but not if that request itself failed). Only its own UploadId:
   * another run's upload is never touched, even on the same key. `client` replaces the upload's own
   * (whose job signal has usually fired by then) with one bound to a cleanup deadline.
   */
  abortLeftover(client?: S3Client): Promise<void>;
}

/**
 * Multipart upload of a stream with lib-storage.
 *
 * Two of lib-storage's behaviours shape this wrapper: `upload.abort()` rejects `done()` before the
 * multipart upload is actually aborted, and one failed part does not stop the other uploaders from
 * reading on. So cancellation is done by destroying the body (done() then rejects only after
 * AbortMultipartUpload was sent), and a failed request destroys the body through `onRequestError`.
 *
 * The write that creates the object (PutObject for a one-part dump, CompleteMultipartUpload
 * otherwise) carries `If-None-Match: *`, so a completion never replaces an existing object on the
 * stores that support it (AWS, versitygw); the unique key per run is the guarantee on the others.
 */
export function uploadStream(options: StreamUploadOptions): StreamUpload {
  const { s3 } = options;
  let uploadId: string | undefined;
  // A view of the shared client whose failures reach this job: config and middleware stay shared.
  const client = Object.create(s3) as S3Client;
  client.send = (async (command: Parameters<S3Client['send']>[0], ...rest: unknown[]) => {
    try {
      const out = await (s3.send as (...a: unknown[]) => Promise<unknown>).call(s3, command, ...rest);
      if (command instanceof CreateMultipartUploadCommand) {
        uploadId = (out as { UploadId?: string }).UploadId;
        if (uploadId) options.onUploadId?.(uploadId);
      }
      // lib-storage joins each part into a new buffer of partSize: dead once its request is done.
      if (command instanceof UploadPartCommand) collectGarbage();
      return out;
    } catch (err) {
      const error = isPreconditionFailed(err) ? objectExists(options.bucket, options.key, err) : err;
      options.onRequestError(error);
      throw error;
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
      // Serialized only by the commands that model it: PutObject and CompleteMultipartUpload.
      IfNoneMatch: '*',
    },
    partSize: options.partSize,
    queueSize: options.partsInFlight,
    leavePartsOnError: false,
  });
  return {
    done: upload.done().then(() => undefined),
    async abortLeftover(client = s3) {
      if (!uploadId) return;
      try {
        await client.send(new AbortMultipartUploadCommand({ Bucket: options.bucket, Key: options.key, UploadId: uploadId }));
      } catch (err) {
        // Already gone (lib-storage aborted it, or the store dropped it with a refused completion): the goal is met.
        if ((err as { name?: string }).name !== 'NoSuchUpload') throw err;
      }
    },
  };
}

function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e.$metadata?.httpStatusCode === 412 || e.name === 'PreconditionFailed' || e.Code === 'PreconditionFailed';
}

function objectExists(bucket: string, key: string, cause: unknown): DumptruckError {
  return new DumptruckError('UPLOAD_FAILED', 'upload', `s3://${bucket}/${key} already exists; a backup never replaces a stored object`, {
    cause,
    hint: 'another run wrote this key: run the backup again for a new key',
  });
}

/** An in-progress multipart upload as the store lists it. */
export interface ListedUpload {
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: Date | undefined;
}

/** Aborts the multipart uploads under `prefix` that `pick` chooses; returns their keys. */
export async function abortUploadsWhere(
  s3: S3Client,
  bucket: string,
  prefix: string,
  pick: (u: ListedUpload) => boolean,
): Promise<string[]> {
  const aborted: string[] = [];
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  do {
    const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker, UploadIdMarker }));
    for (const u of page.Uploads ?? []) {
      if (!u.Key || !u.UploadId || !pick({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated })) continue;
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
      status === 403
        ? 'access denied (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy)'
        : status === 404
          ? 'no such bucket'
          : undefined;
    throw toDumptruckError(err, 'UPLOAD_FAILED', 'upload', `bucket ${bucket}${why ? `: ${why}` : ''}`);
  }
}
