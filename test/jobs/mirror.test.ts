import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DumptruckError } from '../../src/errors.js';
import type { BackupResult } from '../../src/jobs/events.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { createMirrorClient } from '../../src/storage/client.js';
import { seedDatabase, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { holdDumpOutput, uploadInProgress } from '../helpers/held-dump.js';
import { getManifest } from '../helpers/objects.js';
import { withS3Faults, type S3Requests } from '../helpers/s3-faults.js';
import { startVersitygw, type S3Server } from '../helpers/versitygw.js';

// A second destination: the same stream written to another S3 server (a second versitygw with
// its own keys) in one pass, same key and checksum.
const servers = testServers();
const SRC = 'mirror_src';
const MIRROR_BUCKET = 'dumptruck-mirror';
let second: S3Server;

beforeAll(async () => {
  [second] = await Promise.all([
    startVersitygw({ buckets: [MIRROR_BUCKET], allowExternal: false }),
    seedDatabase(servers.pg, SRC, 400_000),
  ]);
}, 180_000);

afterAll(async () => {
  await second?.stop();
});

function mirrorYaml(endpoint: string, required: boolean): string {
  return `mirror:
  bucket: ${MIRROR_BUCKET}
  endpoint: ${endpoint}
  accessKeyIdEnv: MIRROR_KEY_ID
  secretAccessKeyEnv: MIRROR_SECRET
  required: ${required}
`;
}

function runner(prefix: string, mirrorEndpoint: string, required: boolean) {
  const config = testConfig(servers, prefix, { db: { db: SRC } }, mirrorYaml(mirrorEndpoint, required));
  const env = { ...servers.env, MIRROR_KEY_ID: second.accessKeyId, MIRROR_SECRET: second.secretAccessKey };
  return createBackupRunner({ config, s3: servers.s3.client(), env, progressIntervalMs: 50 });
}

async function download(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ bytes: Buffer; metadata: Record<string, string> | undefined }> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return { bytes: Buffer.from(await got.Body!.transformToByteArray()), metadata: head.Metadata };
}

async function nothingLeft(prefix: string): Promise<void> {
  expect(await servers.s3.listKeys(servers.bucket, `${prefix}/`)).toEqual([]);
  expect((await servers.s3.listMultipartUploads(servers.bucket)).filter((u) => u.Key?.startsWith(`${prefix}/`))).toEqual([]);
  expect(await second.listKeys(MIRROR_BUCKET, `${prefix}/`)).toEqual([]);
  expect((await second.listMultipartUploads(MIRROR_BUCKET)).filter((u) => u.Key?.startsWith(`${prefix}/`))).toEqual([]);
}

describe('mirror: a second copy in another store', () => {
  it('writes byte-identical copies with the same key, checksum and metadata', async () => {
    const result = await runner(uniquePrefix('mirror'), second.endpoint, true)({ target: 'db', trigger: { kind: 'cli', by: 't' } });
    expect(result.parts).toBeGreaterThan(1);
    expect(result.mirror).toEqual({ bucket: MIRROR_BUCKET, endpoint: second.endpoint, stored: true });
    const primary = await download(servers.s3.client(), servers.bucket, result.key);
    const copy = await download(second.client(), MIRROR_BUCKET, result.key);
    expect(copy.bytes.equals(primary.bytes)).toBe(true);
    expect(createHash('sha256').update(copy.bytes).digest('hex')).toBe(result.sha256);
    expect(copy.metadata).toEqual(primary.metadata);
    // The same manifest in both stores, recording the mirror's copy.
    const manifest = await getManifest(servers.s3.client(), servers.bucket, result.key);
    expect(manifest).toMatchObject({ sha256: result.sha256, mirror: { bucket: MIRROR_BUCKET, endpoint: second.endpoint, stored: true } });
    expect(await getManifest(second.client(), MIRROR_BUCKET, result.key)).toEqual(manifest);
  });

  it('a required mirror that is unreachable fails the run before pg_dump and stores nothing', async () => {
    const prefix = uniquePrefix('mirror');
    const err = await runner(
      prefix,
      'http://127.0.0.1:9',
      true,
    )({ target: 'db', trigger: { kind: 'cli', by: 't' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DumptruckError);
    expect((err as DumptruckError).stage).toBe('upload');
    expect((err as DumptruckError).message).toMatch(/bucket dumptruck-mirror/);
    await nothingLeft(prefix);
  });

  it('an optional mirror that is unreachable leaves a successful run with a warning', async () => {
    const result = await runner(uniquePrefix('mirror'), 'http://127.0.0.1:9', false)({ target: 'db', trigger: { kind: 'cli', by: 't' } });
    expect(result.mirror).toMatchObject({ bucket: MIRROR_BUCKET, stored: false });
    expect(result.mirror?.error).toMatch(/ECONNREFUSED/);
    expect(result.warnings?.map((w) => w.kind)).toContain('mirror-failed');
    expect(await getManifest(servers.s3.client(), servers.bucket, result.key)).toMatchObject({
      sha256: result.sha256,
      mirror: { bucket: MIRROR_BUCKET, stored: false },
    });
  });

  /**
   * Backs up with a mirror whose store goes away after its first part: the mirror client is a real
   * one on the second versitygw, but every UploadPart after part 1 fails before it is sent. The
   * failure point is fixed by the stream, not by when a server happens to die under load, and the
   * store stays up to show what was left in it.
   */
  async function runWithDyingMirror(required: boolean): Promise<{ prefix: string; outcome: unknown; requests: S3Requests }> {
    const prefix = uniquePrefix('mirror');
    const env = { ...servers.env, MIRROR_KEY_ID: second.accessKeyId, MIRROR_SECRET: second.secretAccessKey };
    let requests: S3Requests | undefined;
    const run = createBackupRunner({
      config: testConfig(servers, prefix, { db: { db: SRC } }, mirrorYaml(second.endpoint, required)),
      s3: servers.s3.client(),
      env,
      progressIntervalMs: 50,
      mirrorClient: (mirror) => {
        const client = createMirrorClient(mirror, env);
        requests = withS3Faults(client, { failPartsAfter: 1 });
        return client;
      },
    });
    const outcome = await run({ target: 'db', trigger: { kind: 'cli', by: 't' } }).catch((e: unknown) => e);
    // Mid-stream: the mirror had stored a part and was refused the next.
    expect(requests?.partsStored).toContain(1);
    expect(requests?.partsFailed).toBeGreaterThanOrEqual(1);
    return { prefix, outcome, requests: requests! };
  }

  it('an optional mirror that dies mid-stream is dropped, its upload aborted; the primary copy completes', async () => {
    const { prefix, outcome, requests } = await runWithDyingMirror(false);
    const result = outcome as BackupResult;
    expect(result.mirror).toMatchObject({
      bucket: MIRROR_BUCKET,
      stored: false,
      error: expect.stringMatching(/^upload failed: uploading mirror s3:\/\/dumptruck-mirror\/.*ECONNREFUSED \(injected/),
    });
    expect(result.warnings?.map((w) => w.kind)).toContain('mirror-failed');
    const primary = await download(servers.s3.client(), servers.bucket, result.key);
    expect(createHash('sha256').update(primary.bytes).digest('hex')).toBe(result.sha256);
    // Nothing of the dropped copy stays in the mirror's store.
    expect(requests.sent).toContain('AbortMultipartUploadCommand');
    expect(await second.listKeys(MIRROR_BUCKET, `${prefix}/`)).toEqual([]);
    expect((await second.listMultipartUploads(MIRROR_BUCKET)).filter((u) => u.Key?.startsWith(`${prefix}/`))).toEqual([]);
  });

  it('a required mirror that dies mid-stream fails the run and leaves nothing in either store', async () => {
    const { prefix, outcome: err } = await runWithDyingMirror(true);
    expect(err).toBeInstanceOf(DumptruckError);
    expect((err as DumptruckError).message).toMatch(/^uploading mirror s3:\/\/dumptruck-mirror\/.*ECONNREFUSED \(injected/);
    await nothingLeft(prefix);
  });

  it('a cancel mid-run leaves nothing in either store', async () => {
    const prefix = uniquePrefix('mirror');
    const config = testConfig(servers, prefix, { db: { db: SRC } }, mirrorYaml(second.endpoint, true));
    const env = { ...servers.env, MIRROR_KEY_ID: second.accessKeyId, MIRROR_SECRET: second.secretAccessKey };
    // pg_dump's output is held past the first part, so both multipart uploads exist when it is cancelled.
    const dump = holdDumpOutput(20 * 1024 * 1024);
    const run = createBackupRunner({ config, s3: servers.s3.client(), env, spawn: dump.spawn });
    const controller = new AbortController();
    const outcome = run({ target: 'db', trigger: { kind: 'cli', by: 't' } }, { signal: controller.signal }).catch((e: unknown) => e);
    await dump.held;
    await uploadInProgress(servers.s3, servers.bucket, `${prefix}/`);
    await uploadInProgress(second, MIRROR_BUCKET, `${prefix}/`);
    controller.abort();
    expect(((await outcome) as DumptruckError).code).toBe('CANCELLED');
    await nothingLeft(prefix);
  });
});
