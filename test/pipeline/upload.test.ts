// The upload wrapper against versitygw: what it promises the runner (parts, metadata, failures
// heard at once, cancellation that aborts, leftovers cleaned by their own UploadId, bucket checks in words).
import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { DumptruckError } from '../../src/errors.js';
import { checkBucket, uploadStream, type StreamUploadOptions } from '../../src/pipeline/upload.js';
import { eventually } from '../helpers/bot-process.js';
import { withRecordedGc } from '../helpers/gc.js';
import { testServers, uniquePrefix } from '../helpers/fixtures.js';
import { storeGoneError, withS3Faults } from '../helpers/s3-faults.js';

const servers = testServers();
const prefix = uniquePrefix('upload');
const MiB = 1024 * 1024;
const PART = 5 * MiB; // the S3 minimum for all but the last part
const clients: S3Client[] = [];

function client(): S3Client {
  const c = servers.s3.client();
  clients.push(c);
  return c;
}

afterAll(() => {
  for (const c of clients) c.destroy();
});

/** `bytes` in chunks of 64 KiB, as a pipe delivers them. */
function chunked(bytes: Buffer): Readable {
  return Readable.from(
    Array.from({ length: Math.ceil(bytes.length / (64 * 1024)) }, (_, i) => bytes.subarray(i * 64 * 1024, (i + 1) * 64 * 1024)),
  );
}

function options(s3: S3Client, key: string, body: Readable, onRequestError: (err: unknown) => void = () => {}): StreamUploadOptions {
  return {
    s3,
    bucket: servers.bucket,
    key,
    body,
    partSize: PART,
    partsInFlight: 2,
    contentType: 'application/gzip',
    metadata: { target: 'app-db' },
    onRequestError,
  };
}

async function uploadsOf(key: string): Promise<string[]> {
  return (await servers.s3.listMultipartUploads(servers.bucket)).filter((u) => u.Key === key).map((u) => u.UploadId!);
}

describe('uploadStream against versitygw', () => {
  it('stores a stream of several parts whole, with its content type and metadata, as one multipart upload', async () => {
    const s3 = client();
    const requests = withS3Faults(s3);
    const key = `${prefix}/multi.sql.gz`;
    const bytes = randomBytes(2 * PART + 12_345);
    await uploadStream(options(s3, key, chunked(bytes))).done;

    expect(requests.partsStored.sort()).toEqual([1, 2, 3]);
    expect(requests.sent.filter((c) => c !== 'UploadPartCommand')).toEqual([
      'CreateMultipartUploadCommand',
      'CompleteMultipartUploadCommand',
    ]);
    const got = await s3.send(new GetObjectCommand({ Bucket: servers.bucket, Key: key }));
    expect(got.ContentType).toBe('application/gzip');
    expect(got.Metadata).toEqual({ target: 'app-db' });
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(bytes)).toBe(true);
    expect(await uploadsOf(key)).toEqual([]);
  });

  it('stores a stream smaller than a part with one PutObject', async () => {
    const s3 = client();
    const requests = withS3Faults(s3);
    const key = `${prefix}/small.sql.gz`;
    const bytes = randomBytes(1000);
    await uploadStream(options(s3, key, chunked(bytes))).done;
    expect(requests.sent).toEqual(['PutObjectCommand']);
    const got = await s3.send(new GetObjectCommand({ Bucket: servers.bucket, Key: key }));
    expect(got.Metadata).toEqual({ target: 'app-db' });
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(bytes)).toBe(true);
  });

  it('a part that fails is reported to onRequestError before done() rejects, and no object is stored', async () => {
    const s3 = client();
    const requests = withS3Faults(s3, { failPartsAfter: 1 });
    const key = `${prefix}/failed-part.sql.gz`;
    const body = chunked(randomBytes(3 * PART));
    const heard: unknown[] = [];
    let rejected = false;
    const done = uploadStream(
      options(s3, key, body, (err) => {
        heard.push(err);
        expect(rejected).toBe(false);
        // As the runner does: stop the stream at once.
        body.destroy(err as Error);
      }),
    ).done.finally(() => (rejected = true));

    await expect(done).rejects.toThrow(/injected: the store went away/);
    expect(requests.partsFailed).toBeGreaterThanOrEqual(1);
    expect(heard[0]).toMatchObject({ message: storeGoneError().message });
    expect(await servers.s3.listKeys(servers.bucket, key)).toEqual([]);
    expect(await uploadsOf(key)).toEqual([]);
  });

  it('destroying the body cancels: done() rejects only once the multipart upload is aborted', async () => {
    const s3 = client();
    const requests = withS3Faults(s3);
    const key = `${prefix}/cancelled.sql.gz`;
    const body = new PassThrough();
    const done = uploadStream(options(s3, key, body)).done;
    const rejected = done.then(
      () => undefined,
      (err: unknown) => err,
    );
    body.write(randomBytes(PART + 1000));
    // Mid-stream for certain: the first part is in the store, the stream has not ended.
    await eventually(() => (requests.partsStored.includes(1) ? true : undefined), 'the first part stored');
    expect(await uploadsOf(key)).toHaveLength(1);

    const cancelled = new Error('cancelled by the test');
    body.destroy(cancelled);
    expect(await rejected).toBeInstanceOf(Error);
    expect(requests.sent).toContain('AbortMultipartUploadCommand');
    expect(requests.sent).not.toContain('CompleteMultipartUploadCommand');
    expect(await uploadsOf(key)).toEqual([]);
    expect(await servers.s3.listKeys(servers.bucket, key)).toEqual([]);
  });

  it("on a shared client, one upload's failed request reaches only its own onRequestError", async () => {
    const s3 = client();
    const failing = `${prefix}/shared-failing.sql.gz`;
    const healthy = `${prefix}/shared-healthy.sql.gz`;
    withS3Faults(s3, { failPartsAfter: 0, key: failing });
    const heardFailing: unknown[] = [];
    const heardHealthy: unknown[] = [];
    const failingBody = chunked(randomBytes(2 * PART));
    const [a, b] = await Promise.allSettled([
      uploadStream(
        options(s3, failing, failingBody, (err) => {
          heardFailing.push(err);
          failingBody.destroy(err as Error);
        }),
      ).done,
      uploadStream(options(s3, healthy, chunked(randomBytes(2 * PART)), (err) => heardHealthy.push(err))).done,
    ]);
    expect(a.status).toBe('rejected');
    expect(heardFailing.length).toBeGreaterThanOrEqual(1);
    expect(b.status).toBe('fulfilled');
    expect(heardHealthy).toEqual([]);
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/shared-`)).toEqual([healthy]);
  });
});

describe('abortLeftover', () => {
  it("aborts only this upload's own UploadId, never another run's upload of the same key", async () => {
    const s3 = client();
    const requests = withS3Faults(s3);
    const key = `${prefix}/leftover.sql.gz`;
    const other = await s3.send(new CreateMultipartUploadCommand({ Bucket: servers.bucket, Key: key }));
    const body = new PassThrough();
    const upload = uploadStream(options(s3, key, body));
    body.write(randomBytes(PART + 1000));
    await eventually(() => (requests.partsStored.includes(1) ? true : undefined), 'the first part stored');
    expect(await uploadsOf(key)).toHaveLength(2);

    await upload.abortLeftover();
    expect(await uploadsOf(key)).toEqual([other.UploadId]);
    body.destroy(new Error('stopped by the test'));
    await upload.done.catch(() => undefined);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: servers.bucket, Key: key, UploadId: other.UploadId }));
  });

  it('asks V8 for one full collection per uploaded part, after the part was sent, when --expose-gc gave it one', async () => {
    // What happened, in order: requests as they ended, and collections.
    const seen: string[] = [];
    await withRecordedGc(
      (o) => seen.push(`gc ${JSON.stringify(o)}`),
      async () => {
        const { uploadStream: upload } = await import('../../src/pipeline/upload.js');
        const s3 = client();
        s3.middlewareStack.add(
          (next, context) => async (args) => {
            const out = await next(args);
            seen.push(String(context.commandName));
            return out;
          },
          { step: 'initialize' },
        );
        await upload(options(s3, `${prefix}/collected.sql.gz`, chunked(randomBytes(2 * PART + 1)))).done;
        await new Promise((resolve) => setImmediate(resolve));
      },
    );
    const parts = seen.filter((s) => s === 'UploadPartCommand').length;
    expect(parts).toBe(3);
    expect(seen.filter((s) => s.startsWith('gc'))).toEqual(Array(parts).fill('gc {"type":"major"}'));
    expect(seen.indexOf('UploadPartCommand')).toBeLessThan(seen.indexOf('gc {"type":"major"}'));
    expect(seen.slice(0, 1)).toEqual(['CreateMultipartUploadCommand']);
  });
});

describe('checkBucket', () => {
  it('resolves for a bucket the credentials can reach', async () => {
    await expect(checkBucket(client(), servers.bucket)).resolves.toBeUndefined();
  });

  async function refusal(s3: S3Client, bucket: string): Promise<DumptruckError> {
    const err = await checkBucket(s3, bucket).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DumptruckError);
    expect(err).toMatchObject({ code: 'UPLOAD_FAILED', stage: 'upload' });
    return err as DumptruckError;
  }

  it('names a missing bucket', async () => {
    const err = await refusal(client(), 'dumptruck-no-such-bucket');
    expect(err.message).toMatch(/^bucket dumptruck-no-such-bucket: no such bucket: /);
  });

  it('says what to check when the credentials are refused, without the secret', async () => {
    const s3 = servers.s3.client({ credentials: { accessKeyId: servers.s3.accessKeyId, secretAccessKey: 'wrong-secret-key' } });
    clients.push(s3);
    const err = await refusal(s3, servers.bucket);
    expect(err.message).toMatch(
      new RegExp(`^bucket ${servers.bucket}: access denied \\(check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy\\): `),
    );
    expect(err.message).not.toContain('wrong-secret-key');
  });
});
