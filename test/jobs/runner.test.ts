import { spawn as nodeSpawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { DumptruckError } from '../../src/errors.js';
import type { JobEvent } from '../../src/jobs/events.js';
import { createBackupRunner, type RunnerDeps } from '../../src/jobs/runner.js';
import { createCatalog } from '../../src/storage/catalog.js';
import { createS3Client } from '../../src/storage/client.js';
import type { SpawnFn } from '../../src/pipeline/pgdump.js';
import { holdDumpOutput, uploadInProgress } from '../helpers/held-dump.js';
import { TEST_HMAC_KEY, restoreFromUrl, seedDatabase, tableDigests, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { getManifest } from '../helpers/objects.js';
import { backupHmac } from '../../src/storage/hmac.js';

const servers = testServers();
const SRC = 'runner_src';
const BIG = 'runner_big';
const prefix = uniquePrefix('runner');
/** Raw dump bytes after which mid-stream tests hold pg_dump's output: more than one 5 MiB part once gzipped, well short of the end. */
const HOLD_AT = 24 * 1024 * 1024;

function runnerFor(config: Config, extra: Partial<RunnerDeps> = {}, env = servers.env) {
  const s3 = servers.s3.client();
  return {
    s3,
    config,
    run: createBackupRunner({ config, s3, env, progressIntervalMs: 50, ...extra }),
    catalog: createCatalog({ s3, storage: config.storage, env }),
  };
}

const config = testConfig(servers, prefix, {
  plain: { db: SRC },
  custom: { db: SRC, format: 'custom' },
  big: { db: BIG },
  wrongpw: { db: SRC, passwordEnv: 'WRONG_PW' },
  nodb: { db: 'does_not_exist' },
  nopw: { db: SRC, passwordEnv: 'UNSET_PW' },
});

async function expectNothingLeft(target: string): Promise<void> {
  expect(await servers.s3.listKeys(servers.bucket, `${prefix}/${target}/`)).toEqual([]);
  const uploads = await servers.s3.listMultipartUploads(servers.bucket);
  expect(uploads.filter((u) => u.Key?.startsWith(`${prefix}/${target}/`))).toEqual([]);
}

async function failure(p: Promise<unknown>): Promise<DumptruckError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DumptruckError);
  return err as DumptruckError;
}

beforeAll(async () => {
  await Promise.all([seedDatabase(servers.pg, SRC, 300_000), seedDatabase(servers.pg, BIG, 600_000)]);
}, 180_000);

describe('backup runner against PostgreSQL and versitygw', () => {
  for (const format of ['plain', 'custom'] as const) {
    it(`a ${format} backup restores with identical content and its SHA-256 matches the download`, async () => {
      const { run, catalog, s3 } = runnerFor(config);
      const events: JobEvent[] = [];
      const result = await run({ target: format, trigger: { kind: 'cli', by: 'tester' } }, { onEvent: (e) => events.push(e) });

      expect(result.key).toMatch(
        new RegExp(
          `^${prefix}/${format}/\\d{4}/\\d{2}/\\d{2}/${format}_\\d{8}T\\d{6}Z-\\d{3}-[0-9a-f]{6}\\.${format === 'plain' ? 'sql\\.gz' : 'dump'}$`,
        ),
      );
      expect(events.map((e) => e.type)).toContain('started');
      expect(events.at(-1)?.type).toBe('finished');
      // Multipart for real: the large table makes the stored stream span several 5 MiB parts.
      expect(result.parts).toBeGreaterThan(1);

      // What is known at start travels with the object; what only the end knows, in its manifest.
      const head = await s3.send(new HeadObjectCommand({ Bucket: servers.bucket, Key: result.key }));
      expect(head.Metadata).toEqual({
        'pg-dump-version': result.pgDumpVersion,
        'server-version': result.serverVersion,
        trigger: 'cli:tester',
        target: format,
        format,
        compression: 'gzip:6',
        'started-at': result.startedAt.toISOString(),
      });
      expect(head.ContentLength).toBe(result.storedBytes);
      expect(await getManifest(s3, servers.bucket, result.key)).toEqual({
        version: 1,
        key: result.key,
        target: format,
        format,
        compression: { algorithm: 'gzip', level: 6 },
        sha256: result.sha256,
        storedBytes: result.storedBytes,
        dumpedBytes: result.dumpedBytes,
        startedAt: result.startedAt.toISOString(),
        finishedAt: result.finishedAt.toISOString(),
        durationMs: result.durationMs,
        pgDumpVersion: result.pgDumpVersion,
        serverVersion: result.serverVersion,
        trigger: { kind: 'cli', by: 'tester' },
        hmac: backupHmac(TEST_HMAC_KEY, result.key, result.sha256),
      });

      const link = await catalog.link(result.key);
      const bytes = Buffer.from(await (await fetch(link.url)).arrayBuffer());
      expect(bytes.length).toBe(result.storedBytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(result.sha256);

      const restored = `runner_restore_${format}`;
      await restoreFromUrl(servers.pg, link.url, format, restored);
      expect(await tableDigests(servers.pg, restored)).toEqual(await tableDigests(servers.pg, SRC));
      await servers.pg.dropDatabase(restored);
    });
  }

  it("writes the dump once: no copy request in a backup's life, the manifest written last and only if absent", async () => {
    // A recorder on the real client's middleware stack: every request the run sends, in order.
    const s3 = servers.s3.client();
    const sent: { name: string; input: Record<string, unknown> }[] = [];
    s3.middlewareStack.add(
      (next, context) => (args) => {
        sent.push({ name: String(context.commandName), input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'recorder' },
    );
    const run = createBackupRunner({ config, s3, env: servers.env });
    const result = await run({ target: 'plain', trigger: { kind: 'cli', by: 'tester' } });
    expect(result.parts).toBeGreaterThan(1);
    const names = sent.map((r) => r.name);
    expect(names.filter((n) => /Copy/.test(n))).toEqual([]);
    const create = sent.find((r) => r.name === 'CreateMultipartUploadCommand')!;
    expect(create.input.Metadata).toMatchObject({
      target: 'plain',
      trigger: 'cli:tester',
      format: 'plain',
      compression: 'gzip:6',
      'started-at': result.startedAt.toISOString(),
    });
    const manifestPut = sent.findIndex((r) => r.name === 'PutObjectCommand' && r.input.Key === `${result.key}.manifest.json`);
    expect(manifestPut).toBeGreaterThan(names.lastIndexOf('CompleteMultipartUploadCommand'));
    expect(sent[manifestPut]!.input.IfNoneMatch).toBe('*');
    // The dump is the one object written for it: no second PUT or upload of its key.
    expect(sent.filter((r) => r.input.Key === result.key && /^(PutObject|CreateMultipartUpload)Command$/.test(r.name))).toHaveLength(1);
  });

  it('a wrong password fails at connect, names no secret, and leaves nothing', async () => {
    const { run } = runnerFor(config);
    const events: JobEvent[] = [];
    const err = await failure(run({ target: 'wrongpw', trigger: { kind: 'cli', by: 't' } }, { onEvent: (e) => events.push(e) }));
    expect(err.stage).toBe('connect');
    expect(err.message).toMatch(/password authentication failed/);
    expect(err.message).not.toContain('not-the-password');
    expect(events.map((e) => e.type)).toEqual(['failed']);
    await expectNothingLeft('wrongpw');
  });

  it('a missing database fails at connect', async () => {
    const err = await failure(runnerFor(config).run({ target: 'nodb', trigger: { kind: 'cli', by: 't' } }));
    expect(err.stage).toBe('connect');
    expect(err.message).toMatch(/database "does_not_exist" does not exist/);
    await expectNothingLeft('nodb');
  });

  it('a password variable that is not set fails with the variable name', async () => {
    const err = await failure(runnerFor(config).run({ target: 'nopw', trigger: { kind: 'cli', by: 't' } }));
    expect(err.stage).toBe('secret');
    expect(err.message).toBe('targets.nopw.password: environment variable UNSET_PW is not set');
  });

  it("a dump killed mid-stream fails with pg_dump's stderr and leaves no object or upload", async () => {
    // pg_dump's output is held past the first part: the multipart upload exists, and the dump
    // cannot finish before the server ends its session, however loaded the machine is.
    const dump = holdDumpOutput(HOLD_AT);
    const { run } = runnerFor(config, { spawn: dump.spawn });
    const jobId = `kill${Date.now()}`;
    const admin = await servers.pg.adminClient();
    try {
      const outcome = failure(run({ target: 'big', trigger: { kind: 'cli', by: 't' }, jobId }));
      await dump.held;
      await uploadInProgress(servers.s3, servers.bucket, `${prefix}/big/`);
      const { rows } = await admin.query<{ ok: boolean }>(
        'select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1',
        [`dumptruck-${jobId}`],
      );
      expect(rows).toEqual([{ ok: true }]);
      dump.release();
      const err = await outcome;
      expect(err.stage).toBe('dump');
      expect(err.message).toMatch(/pg_dump exited with code 1/);
      expect(err.stderrTail).toMatch(/terminat|server closed the connection/i);
    } finally {
      dump.release();
      await admin.end();
    }
    await expectNothingLeft('big');
  });

  it('a cancel mid-run kills pg_dump, aborts the multipart upload and rejects with CancelledError', async () => {
    const dump = holdDumpOutput(HOLD_AT);
    const { run } = runnerFor(config, { spawn: dump.spawn });
    const controller = new AbortController();
    const outcome = failure(run({ target: 'big', trigger: { kind: 'cli', by: 't' } }, { signal: controller.signal }));
    await dump.held;
    // Past the first part, so a multipart upload really exists when we cancel.
    await uploadInProgress(servers.s3, servers.bucket, `${prefix}/big/`);
    controller.abort();
    const err = await outcome;
    expect(err.code).toBe('CANCELLED');
    await expectNothingLeft('big');
  });

  it('unreachable storage fails before pg_dump starts', async () => {
    const unreachable = testConfig(servers, prefix, { plain: { db: SRC } }).storage;
    const cfg: Config = { ...config, storage: { ...unreachable, endpoint: 'http://127.0.0.1:9' } };
    const s3 = createS3Client(cfg.storage, {
      credentials: { accessKeyId: servers.s3.accessKeyId, secretAccessKey: servers.s3.secretAccessKey },
      maxAttempts: 1,
    });
    const events: JobEvent[] = [];
    let spawned = false;
    const spawn: SpawnFn = (...args) => {
      spawned = true;
      return (nodeSpawn as unknown as SpawnFn)(...args);
    };
    const run = createBackupRunner({ config: cfg, s3, env: servers.env, spawn });
    const err = await failure(run({ target: 'plain', trigger: { kind: 'cli', by: 't' } }, { onEvent: (e) => events.push(e) }));
    expect(err.stage).toBe('upload');
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(events.map((e) => e.type)).toEqual(['failed']);
    expect(spawned).toBe(false);
  });

  it('bad credentials fail with access denied and leave nothing', async () => {
    const s3 = servers.s3.client({ credentials: { accessKeyId: servers.s3.accessKeyId, secretAccessKey: 'wrong-secret-key' } });
    const run = createBackupRunner({ config, s3, env: servers.env });
    const err = await failure(run({ target: 'plain', trigger: { kind: 'cli', by: 't' } }));
    expect(err.stage).toBe('upload');
    expect(err.message).toMatch(/access denied|403/i);
    expect(err.message).not.toContain('wrong-secret-key');
  });

  it('refuses a pg_dump older than the server before dumping', async () => {
    const fake = { path: '/usr/bin/pg_dump', version: '12.3', major: 12 };
    const err = await failure(
      runnerFor(config, { locatePgDump: async () => fake }).run({ target: 'plain', trigger: { kind: 'cli', by: 't' } }),
    );
    expect(err.code).toBe('PG_DUMP_TOO_OLD');
    expect(err.message).toMatch(/pg_dump 12\.3 .* cannot dump PostgreSQL 15\.\d+/);
    expect(err.hint).toMatch(/postgresql-client-15/);
  });
});
