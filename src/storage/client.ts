import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { StorageConfig } from '../config/schema.js';

/**
 * The S3 client for the configured store. Credentials come from the SDK's standard chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, instance roles), never from the config file.
 */
export function createS3Client(storage: StorageConfig, overrides: Partial<S3ClientConfig> = {}): S3Client {
  // The SDK's default (WHEN_SUPPORTED) adds CRC32 trailers and aws-chunked bodies that several
  // S3-compatible stores reject or store corrupted; `auto` turns it off for custom endpoints.
  const checksum = storage.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  return new S3Client({
    region: storage.region,
    forcePathStyle: storage.forcePathStyle,
    requestChecksumCalculation: checksum,
    responseChecksumValidation: checksum,
    maxAttempts: 3,
    ...(storage.endpoint ? { endpoint: storage.endpoint } : {}),
    ...overrides,
  });
}
