// Jobs against stores that stall (accept the connection, then go quiet), on the real runner and
// queue with the real PostgreSQL: the job timeout and cancel end a job whatever request it waits
// on, cleanup has a deadline of its own, and a stall of one connection mid-stream is survived
// (idle timeout, then a retry) or cleaned up after completely (job timeout).
import { AbortMultipartUploadCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import type { JobQueue, JobQueueOptions } from '../../src/jobs/queue.js';
import { createBackupRunner, type RunnerDeps } from '../../src/jobs/runner.js';
import { createS3Client } from '../../src/storage/client.js';
import { seedDatabase, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { startStallingProxy, startStallServer, type StallServer } from '../helpers/stall.js';
import { accepted, backupQueue } from '../helpers/queue.js';

const servers = testServers();
const SRC = 'stall_src';
const BIG = 'stall_big';
const prefix = uniquePrefix('stall');
const MIB = 1024 * 1024;
const stores: StallServer[] = [];
const clients: S3Client[] = [];

function configWith(extraYaml = ''): Config {
  return testConfig(
    servers,
    prefix,
    { small: { db: SRC }, big: { db: BIG }, 'big-timeout': { db: BIG }, 'big-gone': { db: BIG } },
    extraYaml,
  );
}

/** The client dumptruck makes for this config (its timeouts included), pointed at `endpoint`. */
function clientAt(config: Config, endpoint: string): S3Client {
  const client = createS3Client(
    { ...config.storage, endpoint },
    { credentials: { accessKeyId: servers.s3.accessKeyId, secretAccessKey: servers.s3.secretAccessKey } },
  );
  clients.push(client);
  return client;
}

function queueFor(config: Config, s3: S3Client, extra: Partial<RunnerDeps> = {}, queue: Partial<JobQueueOptions> = {}): JobQueue {
  return backupQueue(createBackupRunner({ config, s3, env: servers.env, progressIntervalMs: 50, ...extra }), { ...config.queue, ...queue });
}

async function stallServer(): Promise<StallServer> {
  const s = await startStallServer();
  stores.push(s);
  return s;
}

async function uploadsOf(target: string) {
  return (await servers.s3.listMultipartUploads(servers.bucket)).filter((u) => u.Key?.startsWith(`${prefix}/${target}/`));
}

async function expectNothingLeft(target: string): Promise<void> {
  expect(await servers.s3.listKeys(servers.bucket, `${prefix}/${target}/`)).toEqual([]);
  expect(await uploadsOf(target)).toEqual([]);
}

const trigger = { kind: 'cli', by: 'tester' } as const;

async function waitUntil(done: () => boolean, timeoutMs = 60_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !done(); ) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  await Promise.all([seedDatabase(servers.pg, SRC, 1000), seedDatabase(servers.pg, BIG, 300_000)]);
}, 180_000);

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of stores.splice(0)) await s.stop();
});

afterAll(async () => {
  await Promise.all([servers.pg.dropDatabase(SRC), servers.pg.dropDatabase(BIG)]);
});

describe('a store that accepts connections and never answers', () => {
  it('the job timeout ends the job within its deadline and frees the target', async () => {
    const config = configWith('queue:\n  jobTimeout: 1s\n');
    const stall = await stallServer();
    const queue = queueFor(config, clientAt(config, stall.endpoint));
    const startedAt = Date.now();
    const { job } = accepted(queue.enqueue({ kind: 'backup', target: 'small', trigger }));
    const outcome = await job.settled;
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.error).toMatchObject({ code: 'TIMED_OUT', message: 'timed out after 1s (queue.jobTimeout)' });
    expect(queue.get('small')).toBeUndefined();
  });

  it('cancel ends a job waiting on the store at once', async () => {
    const config = configWith();
    const stall = await stallServer();
    const queue = queueFor(config, clientAt(config, stall.endpoint));
    const { job } = accepted(queue.enqueue({ kind: 'backup', target: 'small', trigger }));
    await stall.connected();
    const cancelledAt = Date.now();
    queue.cancel('small', 'cancelled by tester');
    const outcome = await job.settled;
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
    expect(!outcome.ok && outcome.error).toMatchObject({ code: 'CANCELLED', message: 'cancelled by tester' });
    expect(queue.get('small')).toBeUndefined();
  });
});

describe('a store that stalls mid-stream', () => {
  it('one connection goes quiet: storage.idleTimeout fails that request, the retry completes a good backup', async () => {
    const base = configWith();
    // As `storage: { idleTimeout: 2s }` in the file gives it.
    const config: Config = { ...base, storage: { ...base.storage, idleTimeoutMs: 2000 } };
    const proxy = await startStallingProxy(servers.s3.endpoint, 1 * MIB, 'connection');
    stores.push(proxy);
    const run = createBackupRunner({ config, s3: clientAt(config, proxy.endpoint), env: servers.env });
    const result = await run({ target: 'big', trigger });
    expect(proxy.stalled()).toBe(true);
    const body = await servers.s3.client().send(new GetObjectCommand({ Bucket: servers.bucket, Key: result.key }));
    const bytes = Buffer.from(await body.Body!.transformToByteArray());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(result.sha256);
    expect(bytes.length).toBeGreaterThan(1 * MIB);
  }, 120_000);

  it('one connection goes quiet: the job timeout ends the run, and nothing is left on the store', async () => {
    const config = configWith('queue:\n  jobTimeout: 5m\n');
    const proxy = await startStallingProxy(servers.s3.endpoint, 1 * MIB, 'connection');
    stores.push(proxy);
    // The queue's own timer, fired once the upload has stalled: the same abort as a real timeout, at a moment that does not depend on the machine's speed.
    let timeout: (() => void) | undefined;
    const queue = queueFor(
      config,
      clientAt(config, proxy.endpoint),
      {},
      {
        setTimer: (fire) => {
          timeout = fire;
          return () => undefined;
        },
      },
    );
    const { job } = accepted(queue.enqueue({ kind: 'backup', target: 'big-timeout', trigger }));
    await waitUntil(() => proxy.stalled());
    const firedAt = Date.now();
    timeout!();
    const outcome = await job.settled;
    expect(Date.now() - firedAt).toBeLessThan(15_000);
    expect(!outcome.ok && outcome.error).toMatchObject({ code: 'TIMED_OUT', message: 'timed out after 5m 0s (queue.jobTimeout)' });
    await expectNothingLeft('big-timeout');
  }, 120_000);

  it('the store goes quiet altogether: cancel still ends the run within the cleanup deadline, and says the abort was not confirmed', async () => {
    const config = configWith();
    const proxy = await startStallingProxy(servers.s3.endpoint, 1 * MIB, 'all');
    stores.push(proxy);
    const queue = queueFor(config, clientAt(config, proxy.endpoint), { cleanupTimeoutMs: 1000 });
    const { job } = accepted(queue.enqueue({ kind: 'backup', target: 'big-gone', trigger }));
    await waitUntil(() => proxy.stalled());
    const cancelledAt = Date.now();
    queue.cancel('big-gone', 'cancelled by tester');
    const outcome = await job.settled;
    expect(Date.now() - cancelledAt).toBeLessThan(15_000);
    expect(!outcome.ok && outcome.error).toMatchObject({
      code: 'CANCELLED',
      message: 'cancelled by tester; the store did not confirm that the partial upload was aborted (no answer within 1s)',
    });
    expect(queue.get('big-gone')).toBeUndefined();
    // What the stalled store kept: the test's own cleanup, on the real store.
    const left = await uploadsOf('big-gone');
    expect(left).toHaveLength(1);
    for (const u of left)
      await servers.s3.client().send(new AbortMultipartUploadCommand({ Bucket: servers.bucket, Key: u.Key, UploadId: u.UploadId }));
  }, 120_000);
});
