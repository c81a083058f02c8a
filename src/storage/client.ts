import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { DumptruckError } from '../errors.js';
import type { Env } from '../types.js';

/** What the S3 client needs to know about a store, once the config has resolved its `auto` settings. */
export interface StoreOptions {
  readonly region: string;
  readonly endpoint?: string | undefined;
  readonly forcePathStyle: boolean;
  readonly checksums: 'when_required' | 'when_supported';
  /** How long opening a connection to the store may take. Default 10 s (storage.connectTimeout). */
  readonly connectTimeoutMs?: number;
  /**
   * How long a request's socket may stay silent (nothing sent, nothing received) before the
   * request fails. Default 2 min (storage.idleTimeout). An idle limit rather than a total one: a
   * large part on a slow link may take long, but a store that stalls goes quiet.
   */
  readonly idleTimeoutMs?: number;
}

/** A mirror store (config `mirror:`): a store with, optionally, its own keys. */
export interface MirrorStore extends StoreOptions {
  /** Variables holding this store's keys; default: the SDK's standard chain. */
  readonly accessKeyIdEnv?: string | undefined;
  readonly secretAccessKeyEnv?: string | undefined;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

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
    // Without these the SDK waits forever on a store that accepts the connection and never answers.
    requestHandler: {
      connectionTimeout: store.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      socketTimeout: store.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    },
    ...(store.endpoint ? { endpoint: store.endpoint } : {}),
    ...overrides,
  });
}

/** The client for a mirror store: its own endpoint rules, and its own keys when named. */
export function createMirrorClient(mirror: MirrorStore, env: Env): S3Client {
  if (!mirror.accessKeyIdEnv || !mirror.secretAccessKeyEnv) return createS3Client(mirror);
  const accessKeyId = env[mirror.accessKeyIdEnv];
  const secretAccessKey = env[mirror.secretAccessKeyEnv];
  if (!accessKeyId || !secretAccessKey) {
    throw new DumptruckError(
      'SECRET_UNAVAILABLE',
      'secret',
      `mirror.${accessKeyId ? 'secretAccessKeyEnv' : 'accessKeyIdEnv'}: environment variable ${accessKeyId ? mirror.secretAccessKeyEnv : mirror.accessKeyIdEnv} is not set`,
    );
  }
  return createS3Client(mirror, { credentials: { accessKeyId, secretAccessKey } });
}

/**
 * A view of `s3` whose every request is aborted by `signal` (a job's cancel or timeout, or a
 * cleanup deadline), whatever it is waiting on. Config and middleware stay shared.
 */
export function withAbortSignal(s3: S3Client, signal: AbortSignal): S3Client {
  const view = Object.create(s3) as S3Client;
  view.send = ((command: Parameters<S3Client['send']>[0], options?: { abortSignal?: AbortSignal }) => {
    const given = options?.abortSignal;
    const abortSignal = given ? AbortSignal.any([given as AbortSignal, signal]) : signal;
    return (s3.send as (...a: unknown[]) => Promise<unknown>).call(s3, command, { ...options, abortSignal });
  }) as S3Client['send'];
  return view;
}
