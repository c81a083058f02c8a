import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DumptruckError } from '../../src/errors.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { keyTime } from '../../src/storage/keys.js';
import { runCli } from '../helpers/cli.js';
import { configYaml, seedDatabase, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { getBytes, getManifest, sha256 } from '../helpers/objects.js';

// Two runs of one target at once (cron and a Slack command, two cron hosts): each must end with
// its own complete object, and one run's failure or cancel must not touch the other's upload.
const servers = testServers();
const prefix = uniquePrefix('concurrent');
const s3 = servers.s3.client();
const bucket = servers.bucket;
const targets = { large: { db: 'concurrent_large' }, small: { db: 'concurrent_small' } };
const config = testConfig(servers, prefix, targets);
const trigger = { kind: 'cli', by: 't' } as const;
const MIB = 1024 * 1024;
let dir: string;

/**
 * Runners that would write the very same key: a frozen clock and a fixed run token stand for
 * two runs in the same millisecond whose tokens collide (or a store that ignores If-None-Match).
 */
function sameKeyRunner(at: string) {
  return createBackupRunner({ config, s3, env: servers.env, progressIntervalMs: 50, now: () => new Date(at), newRunToken: () => 'c0ffee' });
}

async function uploadsUnder(target: string) {
  return (await servers.s3.listMultipartUploads(bucket)).filter((u) => u.Key?.startsWith(`${prefix}/${target}/`));
}

async function expectStoredAsReported(key: string, reportedSha256: string): Promise<void> {
  expect((await getManifest(s3, bucket, key)).sha256).toBe(reportedSha256);
  expect(sha256(await getBytes(s3, bucket, key))).toBe(reportedSha256);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-concurrent-'));
  await writeFile(join(dir, 'dumptruck.yml'), configYaml(servers, prefix, targets));
  // Large: several 5 MiB parts, so that both runs have a multipart upload open at once.
  await Promise.all([seedDatabase(servers.pg, 'concurrent_large', 400_000), seedDatabase(servers.pg, 'concurrent_small', 2000)]);
}, 180_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('two runs of one target at once', () => {
  it('two CLI backups started in the same second store two objects under two keys, each with its own SHA-256', async () => {
    // Both processes take their key's time a few milliseconds apart; the rare pair that straddles
    // a second boundary proves nothing, so it is run again.
    for (let attempt = 1; ; attempt++) {
      const env = { ...servers.env, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml') };
      const runs = await Promise.all([0, 1].map(() => runCli(['backup', 'small'], { cwd: dir, env })));
      for (const r of runs) expect(r.stderr).toBe('');
      expect(runs.map((r) => r.code)).toEqual([0, 0]);
      const reported = runs.map((r) => ({
        key: /^key: s3:\/\/[^/]+\/(\S+)$/m.exec(r.stdout)![1]!,
        sha256: /^sha256: ([0-9a-f]{64})$/m.exec(r.stdout)![1]!,
      }));
      const [a, b] = reported as [(typeof reported)[0], (typeof reported)[0]];
      const seconds = reported.map((r) => Math.floor(keyTime(r.key)!.getTime() / 1000));
      if (seconds[0] !== seconds[1] && attempt < 5) continue;
      expect(seconds[0]).toBe(seconds[1]);
      expect(a.key).not.toBe(b.key);
      await expectStoredAsReported(a.key, a.sha256);
      await expectStoredAsReported(b.key, b.sha256);
      return;
    }
  });

  it('cancelling one of two runs that write the same key leaves the other to complete: cleanup aborts only its own upload', async () => {
    const at = '2026-11-28T07:28:08.123Z';
    const first = new AbortController();
    const stored = [0, 0];
    const cancelWhenBothUploading = (i: number) => (e: { type: string; progress?: { storedBytes: number } }) => {
      if (e.type !== 'progress') return;
      stored[i] = e.progress!.storedBytes;
      // Past the first part on both sides: two multipart uploads are open on the one key.
      if (stored[0]! > 6 * MIB && stored[1]! > 6 * MIB && !first.signal.aborted) first.abort();
    };
    const [cancelled, completed] = await Promise.allSettled([
      sameKeyRunner(at)({ target: 'large', trigger }, { signal: first.signal, onEvent: cancelWhenBothUploading(0) }),
      sameKeyRunner(at)({ target: 'large', trigger }, { onEvent: cancelWhenBothUploading(1) }),
    ]);
    expect(first.signal.aborted).toBe(true);
    expect(cancelled.status === 'rejected' && (cancelled.reason as DumptruckError).code).toBe('CANCELLED');
    expect(completed.status === 'fulfilled' ? completed.value.parts : (completed.reason as Error).message).toBeGreaterThan(1);
    if (completed.status !== 'fulfilled') return;
    await expectStoredAsReported(completed.value.key, completed.value.sha256);
    expect(await uploadsUnder('large')).toEqual([]);
  });

  for (const [target, how] of [
    ['small', 'a one-part dump (PutObject)'],
    ['large', 'a multipart dump (CompleteMultipartUpload)'],
  ] as const) {
    it(`a completion onto an existing key fails clearly and never replaces the stored backup: ${how}`, async () => {
      const at = target === 'small' ? '2026-11-28T07:30:00.000Z' : '2026-11-28T07:31:00.000Z';
      const first = await sameKeyRunner(at)({ target, trigger });
      const err = await sameKeyRunner(at)({ target, trigger }).then(
        () => undefined,
        (e: unknown) => e as DumptruckError,
      );
      expect(err?.code).toBe('UPLOAD_FAILED');
      expect(err?.message).toBe(`s3://${bucket}/${first.key} already exists; a backup never replaces a stored object`);
      await expectStoredAsReported(first.key, first.sha256);
      expect(await uploadsUnder(target)).toEqual([]);
    });
  }
});
