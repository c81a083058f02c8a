import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Env } from '../config/load.js';
import type { MirrorConfig } from '../config/schema.js';
import { DumptruckError } from '../errors.js';

/** What the S3 client needs to know about a store, once `auto` settings are resolved. */
export interface StoreOptions {
  readonly region: string;
  readonly endpoint?: string | undefined;
  readonly forcePathStyle: boolean;
  readonly checksums: 'when_required' | 'when_supported';
}

const AWS_HOST = /(^|\.)amazonaws\.com(\.cn)?$/;

/**
 * Defaults for a store: a custom (non-AWS) endpoint gets path-style addressing and
 * WHEN_REQUIRED checksums, because the SDK's default CRC trailers and aws-chunked bodies are
 * rejected or stored corrupted by several S3-compatible stores.
 */
export function resolveStore(
  endpoint: string | undefined,
  forcePathStyle: boolean | undefined,
  checksums: 'auto' | 'when_required' | 'when_supported',
): Pick<StoreOptions, 'forcePathStyle' | 'checksums'> {
  const custom = endpoint !== undefined && !AWS_HOST.test(new URL(endpoint).hostname);
  return {
    forcePathStyle: forcePathStyle ?? custom,
    checksums: checksums === 'auto' ? (custom ? 'when_required' : 'when_supported') : checksums,
  };
}

/**
 * The S3 client for a store. Credentials come from the SDK's standard chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, instance roles), never from the config file.
 */
export function createS3Client(store: StoreOptions, overrides: Partial<S3ClientConfig> = {}): S3Client {
  const checksum = store.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  return new S3Client({
    region: store.region,
    forcePathStyle: store.forcePathStyle,
    requestChecksumCalculation: checksum,
    responseChecksumValidation: checksum,
    maxAttempts: 3,
    ...(store.endpoint ? { endpoint: store.endpoint } : {}),
    ...overrides,
  });
}

/** The client for a mirror store: its own endpoint rules, and its own keys when named. */
export function createMirrorClient(mirror: MirrorConfig, env: Env): S3Client {
  const store = { region: mirror.region, endpoint: mirror.endpoint, ...resolveStore(mirror.endpoint, mirror.forcePathStyle, mirror.checksums) };
  if (!mirror.accessKeyIdEnv || !mirror.secretAccessKeyEnv) return createS3Client(store);
  const accessKeyId = env[mirror.accessKeyIdEnv];
  const secretAccessKey = env[mirror.secretAccessKeyEnv];
  if (!accessKeyId || !secretAccessKey) {
    throw new DumptruckError('SECRET_UNAVAILABLE', 'secret', `mirror.${accessKeyId ? 'secretAccessKeyEnv' : 'accessKeyIdEnv'}: environment variable ${accessKeyId ? mirror.secretAccessKeyEnv : mirror.accessKeyIdEnv} is not set`);
  }
  return createS3Client(store, { credentials: { accessKeyId, secretAccessKey } });
}
