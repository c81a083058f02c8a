// Proves the shared test servers are real enough for dumptruck's integration tests: password
// auth that can fail, user metadata that round-trips, multipart listing/abort, SigV4 checking.
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { postgresFromInfo } from './postgres.js';
import { s3FromInfo } from './versitygw.js';

const postgres = postgresFromInfo(inject('postgres'));
const s3 = s3FromInfo(inject('s3'));
const bucket = inject('s3Bucket');

describe('postgres', () => {
  const db = `servers_test_${process.pid}`;
  afterAll(() => postgres.dropDatabase(db));

  it('accepts the backup role with its password and reads data as it', async () => {
    await postgres.createDatabase(db);
    const admin = await postgres.adminClient(db);
    try {
      await admin.query(`CREATE TABLE greeting (id int PRIMARY KEY, text text NOT NULL)`);
      await admin.query(`INSERT INTO greeting VALUES (1, 'héllo, 세계')`);
    } finally {
      await admin.end();
    }
    const url = postgres.url(db);
    expect(url).toBe(`postgres://backup@127.0.0.1:${postgres.port}/${db}`);
    // pg ignores a separate `password` when given a connectionString, so connect by fields.
    const client = new pg.Client({ host: postgres.host, port: postgres.port, database: db, ...postgres.backup });
    await client.connect();
    try {
      const { rows } = await client.query<{ text: string }>('SELECT text FROM greeting');
      expect(rows).toEqual([{ text: 'héllo, 세계' }]);
    } finally {
      await client.end();
    }
  });

  it('rejects a wrong password over TCP', async () => {
    const client = new pg.Client({
      host: postgres.host,
      port: postgres.port,
      database: 'postgres',
      user: postgres.backup.user,
      password: 'wrong-password',
    });
    await expect(client.connect()).rejects.toThrow(/password authentication failed for user "backup"/);
  });
});

describe('s3', () => {
  const client = s3.client();
  afterAll(() => client.destroy());

  it('keeps user metadata through put, head and get', async () => {
    const Key = `servers-test/${process.pid}/object.txt`;
    const sha256 = 'a'.repeat(64);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'hello', Metadata: { sha256, 'triggered-by': 'vitest' } }));
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key }));
    expect(head.Metadata).toMatchObject({ sha256, 'triggered-by': 'vitest' });
    expect(head.ContentLength).toBe(5);
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
    expect(await got.Body?.transformToString()).toBe('hello');
    expect(got.Metadata).toMatchObject({ sha256 });
    expect(await s3.listKeys(bucket, `servers-test/${process.pid}/`)).toEqual([Key]);
  });

  it('lists a multipart upload in progress and forgets it once aborted', async () => {
    const Key = `servers-test/${process.pid}/multipart.bin`;
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
    expect(UploadId).toBeTruthy();
    const before = await s3.listMultipartUploads(bucket);
    expect(before.map((u) => [u.Key, u.UploadId])).toContainEqual([Key, UploadId]);
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }));
    const after = await s3.listMultipartUploads(bucket);
    expect(after.map((u) => u.UploadId)).not.toContain(UploadId);
  });

  it('rejects a request signed with the wrong secret key', async () => {
    const wrong = s3.client({ credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: `${s3.secretAccessKey}x` } });
    try {
      const err = await wrong.send(new HeadObjectCommand({ Bucket: bucket, Key: 'anything' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(S3ServiceException);
      expect((err as S3ServiceException).$metadata.httpStatusCode).toBe(403);
    } finally {
      wrong.destroy();
    }
  });
});
