import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { MIN_PART_BYTES } from './limits.js';

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

export interface FinalizeOptions {
  /** Largest object a single CopyObject may copy (S3: 5 GiB). Lowered in tests to reach the multipart path. */
  readonly maxSingleCopyBytes?: number;
  /** The store's part limit, as for uploads. */
  readonly maxParts?: number;
}

/**
 * Sets the object's final metadata by copying it onto itself.
 *
 * The SHA-256 and byte counts are only known once the last byte has streamed, but S3 takes
 * metadata when a multipart upload is created, not when it completes. A server-side copy with
 * MetadataDirective=REPLACE is the only way to attach them without a second pass over the data
 * from here; objects above 5 GiB need a multipart copy (UploadPartCopy).
 */
export async function replaceMetadata(
  client: S3Client,
  bucket: string,
  key: string,
  size: number,
  metadata: Record<string, string>,
  contentType: string,
  options: FinalizeOptions = {},
): Promise<void> {
  const maxSingle = options.maxSingleCopyBytes ?? 5 * GIB;
  const copySource = `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  if (size <= maxSingle) {
    await client.send(
      new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource, MetadataDirective: 'REPLACE', Metadata: metadata, ContentType: contentType }),
    );
    return;
  }
  const ranges = copyRanges(size, options.maxParts ?? 10_000, maxSingle);
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: metadata, ContentType: contentType }));
  try {
    const parts = [];
    for (const [i, [start, end]] of ranges.entries()) {
      const out = await client.send(
        new UploadPartCopyCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, CopySource: copySource, CopySourceRange: `bytes=${start}-${end}` }),
      );
      parts.push({ PartNumber: i + 1, ETag: out.CopyPartResult?.ETag });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
  } catch (err) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => undefined);
    throw err;
  }
}

/**
 * Inclusive byte ranges for a multipart copy: parts of about 512 MiB (fewer requests than the
 * 5 MiB minimum would need), more when the store's part limit demands it, never above
 * `maxPartBytes` (S3's 5 GiB ceiling) nor, but for the last, below S3's 5 MiB minimum.
 */
export function copyRanges(size: number, maxParts: number, maxPartBytes: number): Array<[number, number]> {
  const preferred = Math.min(512 * MIB, maxPartBytes);
  const partBytes = Math.max(MIN_PART_BYTES, Math.min(maxPartBytes, Math.max(Math.ceil(size / maxParts), preferred)));
  const ranges: Array<[number, number]> = [];
  for (let start = 0; start < size; start += partBytes) ranges.push([start, Math.min(size, start + partBytes) - 1]);
  return ranges;
}

/** Best-effort removal of an object that must not survive a failed run. */
export async function deleteQuietly(client: S3Client, bucket: string, key: string): Promise<void> {
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
}
