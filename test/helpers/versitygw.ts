// A real S3-compatible server for integration tests: versitygw's posix backend in a temp dir.
// It verifies SigV4 signatures, keeps user metadata and implements multipart listing and abort,
// which is what dumptruck's "nothing left behind" promises are tested against.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type MultipartUpload,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { freePort, waitForPort } from './free-port.js';

/** Plain data, so that vitest's `provide` can hand it from the global setup to test workers. */
export interface S3ServerInfo {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** True when TEST_S3_ENDPOINT points at a store this helper did not start. */
  readonly external: boolean;
}

export interface S3Handle extends S3ServerInfo {
  /** A client configured as dumptruck configures one for a custom endpoint; `overrides` e.g. for wrong credentials. */
  client(overrides?: Partial<S3ClientConfig>): S3Client;
  /** Creates the bucket; one that already exists and is ours is fine. */
  createBucket(name: string): Promise<void>;
  /** Every multipart upload in progress in the bucket (all pages). */
  listMultipartUploads(bucket: string): Promise<MultipartUpload[]>;
  /** Every object key in the bucket under prefix (all pages). */
  listKeys(bucket: string, prefix?: string): Promise<string[]>;
}

export interface S3Server extends S3Handle {
  readonly info: S3ServerInfo;
  /** Stops the server and removes its data; a no-op for an external endpoint. */
  stop(): Promise<void>;
}

export interface StartVersitygwOptions {
  readonly buckets?: readonly string[];
  /** Use TEST_S3_ENDPOINT when it is set (default true); false always starts a local versitygw. */
  readonly allowExternal?: boolean;
  /** Let buckets have versioning (PutBucketVersioning): versitygw keeps old versions in a directory of its own. */
  readonly versioning?: boolean;
}

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 20_000;

/** Wraps connection info (e.g. from `inject('s3')`) with the convenience methods. */
export function s3FromInfo(info: S3ServerInfo): S3Handle {
  const client = (overrides: Partial<S3ClientConfig> = {}) =>
    new S3Client({
      endpoint: info.endpoint,
      region: info.region,
      forcePathStyle: true,
      credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
      // The SDK's default CRC trailers are rejected or mishandled by several S3-compatible stores.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...overrides,
    });
  const withClient = async <T>(fn: (c: S3Client) => Promise<T>): Promise<T> => {
    const c = client();
    try {
      return await fn(c);
    } finally {
      c.destroy();
    }
  };
  return {
    ...info,
    client,
    createBucket: (name) =>
      withClient(async (c) => {
        try {
          await c.send(new CreateBucketCommand({ Bucket: name }));
        } catch (err) {
          if ((err as Error).name !== 'BucketAlreadyOwnedByYou') throw err;
        }
      }),
    listMultipartUploads: (bucket) =>
      withClient(async (c) => {
        const uploads: MultipartUpload[] = [];
        let KeyMarker: string | undefined;
        let UploadIdMarker: string | undefined;
        for (;;) {
          const page = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker, UploadIdMarker }));
          uploads.push(...(page.Uploads ?? []));
          if (!page.IsTruncated) return uploads;
          KeyMarker = page.NextKeyMarker;
          UploadIdMarker = page.NextUploadIdMarker;
        }
      }),
    listKeys: (bucket, prefix) =>
      withClient(async (c) => {
        const keys: string[] = [];
        let ContinuationToken: string | undefined;
        do {
          const page = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }));
          for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
          ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (ContinuationToken);
        return keys;
      }),
  };
}

export async function startVersitygw(opts: StartVersitygwOptions = {}): Promise<S3Server> {
  const buckets = opts.buckets ?? [];
  const externalEndpoint = process.env.TEST_S3_ENDPOINT;
  if (externalEndpoint && opts.allowExternal !== false) {
    const info: S3ServerInfo = {
      endpoint: externalEndpoint,
      region: process.env.TEST_S3_REGION || 'us-east-1',
      accessKeyId: requireEnv('TEST_S3_ACCESS_KEY_ID'),
      secretAccessKey: requireEnv('TEST_S3_SECRET_ACCESS_KEY'),
      external: true,
    };
    const handle = s3FromInfo(info);
    for (const b of buckets) await handle.createBucket(b);
    return { ...handle, info, stop: async () => undefined };
  }

  const bin = findVersitygw();
  const dir = await mkdtemp(join(tmpdir(), 'dumptruck-s3-'));
  const dataDir = join(dir, 'data');
  await mkdir(dataDir);
  const accessKeyId = `test${randomBytes(8).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  let child: ChildProcess | undefined;
  // If the test process dies without stop(), do not leave the gateway running.
  const onExit = () => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  try {
    // Posix backend metadata lives in xattrs; where the filesystem has none, a sidecar dir keeps
    // it (dumptruck reads the SHA-256 back from user metadata, so --nometa would not do).
    let metaArgs: string[] = [];
    if (opts.versioning) {
      const versions = join(dir, 'versions');
      await mkdir(versions);
      metaArgs.push('--versioning-dir', versions);
    }
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort(HOST);
      const started = await spawnGateway(bin, port, [...metaArgs, dataDir], { accessKeyId, secretAccessKey });
      if (started.ok) {
        child = started.child;
        break;
      }
      if (attempt >= 4) throw started.error;
      if (/xattr/i.test(started.output) && !metaArgs.includes('--sidecar')) {
        const sidecar = join(dir, 'meta');
        await mkdir(sidecar);
        metaArgs = [...metaArgs, '--sidecar', sidecar];
      } else if (!/address already in use/i.test(started.output)) {
        throw started.error;
      }
    }

    const info: S3ServerInfo = { endpoint: `http://${HOST}:${port}`, region: 'us-east-1', accessKeyId, secretAccessKey, external: false };
    const handle = s3FromInfo(info);
    for (const b of buckets) await handle.createBucket(b);
    const running = child;
    let stopped = false;
    return {
      ...handle,
      info,
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', onExit);
        await killAndWait(running);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    process.removeListener('exit', onExit);
    onExit();
    throw err;
  }
}

type Started = { ok: true; child: ChildProcess } | { ok: false; error: Error; output: string };

async function spawnGateway(
  bin: string,
  port: number,
  posixArgs: readonly string[],
  keys: { accessKeyId: string; secretAccessKey: string },
): Promise<Started> {
  // Root keys go through the environment: argv is visible to every user of the machine.
  const child = spawn(bin, ['--port', `${HOST}:${port}`, 'posix', ...posixArgs], {
    env: { ...process.env, ROOT_ACCESS_KEY: keys.accessKeyId, ROOT_SECRET_KEY: keys.secretAccessKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // Keep draining the pipes (a full pipe would block the gateway), but remember only the tail.
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-8000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: string | undefined;
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
  try {
    await waitForPort(HOST, port, {
      timeoutMs: START_TIMEOUT_MS,
      failed: () => spawnError ?? (exited ? new Error(`versitygw ${exited}`) : undefined),
    });
    return { ok: true, child };
  } catch (err) {
    await killAndWait(child);
    const error = new Error(`versitygw (${bin}) did not start on ${HOST}:${port}: ${(err as Error).message}\n--- output ---\n${output}`, {
      cause: err,
    });
    return { ok: false, error, output };
  }
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** VERSITYGW_BIN, PATH, ~/go/bin, then `go env GOPATH`/bin (where `go install` puts it). */
function findVersitygw(): string {
  const candidates: string[] = [];
  if (process.env.VERSITYGW_BIN) candidates.push(process.env.VERSITYGW_BIN);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'versitygw'));
  candidates.push(join(homedir(), 'go', 'bin', 'versitygw'));
  const found = candidates.find((c) => existsSync(c));
  if (found) return found;
  const gopath = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' });
  if (gopath.status === 0) {
    for (const dir of gopath.stdout.trim().split(delimiter)) {
      if (dir && existsSync(join(dir, 'bin', 'versitygw'))) return join(dir, 'bin', 'versitygw');
    }
  }
  throw new Error(
    'versitygw not found (VERSITYGW_BIN, PATH, ~/go/bin, $(go env GOPATH)/bin): go install github.com/versity/versitygw/cmd/versitygw@v1.8.0, or set TEST_S3_ENDPOINT',
  );
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`TEST_S3_ENDPOINT is set, so ${name} must be set too`);
  return value;
}
