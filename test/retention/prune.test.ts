import { beforeAll, describe, expect, it } from 'vitest';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { MARKER_NOT_SIGNED, pruneTarget } from '../../src/retention/prune.js';
import { objectKey } from '../../src/storage/keys.js';
import { seedDatabase, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { getBytes, getManifest, putBytes, putVerifiedMarker } from '../helpers/objects.js';
import { keyTime } from '../../src/storage/keys.js';
import { median } from '../../src/verify/anomaly.js';

const servers = testServers();
const prefix = uniquePrefix('prune');
const s3 = servers.s3.client();
const bucket = servers.bucket;
const config = testConfig(servers, prefix, {
  ret: { db: 'unused', extra: 'retention: { keepLast: 2, keepDays: 4 }' },
  rolling: { db: 'prune_src', extra: 'retention: { keepLast: 2 }' },
  shrink: { db: 'prune_shrink', extra: 'retention: { keepLast: 1 }' },
  empty: { db: 'prune_empty' },
  recover: { db: 'prune_recover', extra: 'retention: { keepLast: 3 }' },
  planted: { db: 'prune_src', extra: 'retention: { keepLast: 2 }' },
  forged: { db: 'prune_src', extra: 'retention: { keepLast: 3 }' },
  history: { db: 'prune_src', extra: 'anomaly: { window: 2 }' },
  overwritten: { db: 'unused', extra: 'retention: { keepLast: 1 }' },
});

const now = new Date('2026-11-22T03:00:00Z');
const DAY = 86_400_000;
const ago = (days: number) => objectKey(prefix, 'ret', new Date(now.getTime() - days * DAY), 'plain');
const list = (target: string) => servers.s3.listKeys(bucket, `${prefix}/${target}/`);
/** The keys of complete backups as stored: each dump beside its manifest. */
const withManifests = (keys: readonly string[]) => keys.flatMap((k) => [k, `${k}.manifest.json`]);

/** A runner whose clock moves a minute per reading, so quick successive backups get distinct keys. */
function runner(client = s3) {
  let t = Date.parse('2026-11-22T01:00:00Z');
  return createBackupRunner({ config, s3: client, env: servers.env, now: () => new Date((t += 60_000)) });
}

beforeAll(async () => {
  await Promise.all([
    seedDatabase(servers.pg, 'prune_src', 1_000),
    seedDatabase(servers.pg, 'prune_shrink', 30_000),
    seedDatabase(servers.pg, 'prune_recover', 30_000),
  ]);
  await servers.pg.dropDatabase('prune_empty');
  await servers.pg.createDatabase('prune_empty');
}, 120_000);

describe('retention against versitygw', () => {
  it('keeps and deletes exactly what keepLast/keepDays and the newest verified backup say, markers with their backups', async () => {
    const days = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5];
    const sha = '0'.repeat(64);
    for (const d of days) await putBytes(s3, bucket, ago(d), `backup ${d}`, { target: 'ret', sha256: sha });
    // Verified: 6.5 (the newest verified one) and 8.5.
    await putVerifiedMarker(s3, bucket, ago(6.5), sha);
    await putVerifiedMarker(s3, bucket, ago(8.5), sha);
    // Planted by someone who can write to the bucket, on newer backups: were any of these believed,
    // 6.5 would lose its protection and be deleted. Unsigned; signed for other bytes; another key's.
    await putBytes(s3, bucket, `${ago(1.5)}.verified`, JSON.stringify({ key: ago(1.5), sha256: sha }));
    await putVerifiedMarker(s3, bucket, ago(2.5), '1'.repeat(64));
    const copied = JSON.parse((await getBytes(s3, bucket, `${ago(6.5)}.verified`)).toString()) as object;
    await putBytes(s3, bucket, `${ago(3.5)}.verified`, JSON.stringify({ ...copied, key: ago(3.5) }));
    const planted = [1.5, 2.5, 3.5].map((d) => `${ago(d)}.verified`);
    const before = await list('ret');

    const dry = await pruneTarget({ config, s3, env: servers.env, now: () => now }, 'ret', { dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.deleted.map((i) => i.key)).toEqual([4.5, 5.5, 7.5, 8.5, 9.5].map(ago));
    expect(await list('ret')).toEqual(before);

    const report = await pruneTarget({ config, s3, env: servers.env, now: () => now }, 'ret');
    expect(report.newestVerified).toBe(ago(6.5));
    expect(report.deleted.map((i) => i.key)).toEqual([4.5, 5.5, 7.5, 8.5, 9.5].map(ago));
    expect(report.kept.map((i) => [i.key, i.reasons])).toEqual([
      [ago(0.5), ['newest', 'last', 'days']],
      [ago(1.5), ['last', 'days', 'unproven verified marker']],
      [ago(2.5), ['days', 'unproven verified marker']],
      [ago(3.5), ['days', 'unproven verified marker']],
      [ago(6.5), ['verified']],
    ]);
    expect(report.failed).toEqual([]);
    // Newest first, as they were tried.
    expect(report.ignored).toEqual(planted.map((key) => ({ key, why: MARKER_NOT_SIGNED })));
    expect(await list('ret')).toEqual([ago(0.5), ago(1.5), ago(2.5), ago(3.5), ago(6.5), `${ago(6.5)}.verified`, ...planted].sort());

    // Nothing more to do the second time.
    expect((await pruneTarget({ config, s3, env: servers.env, now: () => now }, 'ret')).deleted).toEqual([]);
  });

  it('prunes after each successful backup', async () => {
    const run = runner();
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) keys.push((await run({ target: 'rolling', trigger: { kind: 'cli', by: 't' } })).key);
    const third = await run({ target: 'rolling', trigger: { kind: 'cli', by: 't' } });
    expect(third.warnings).toBeUndefined();
    expect(third.pruned?.deleted.map((i) => i.key)).toEqual([keys[1]]);
    expect(await list('rolling')).toEqual(withManifests([keys[2]!, third.key]));
  });

  it('flags a backup of a database that shrank, and then keeps the older backups', async () => {
    const run = runner();
    await run({ target: 'shrink', trigger: { kind: 'cli', by: 't' } });
    const second = await run({ target: 'shrink', trigger: { kind: 'cli', by: 't' } });
    expect(second.warnings).toBeUndefined();
    expect(await list('shrink')).toEqual(withManifests([second.key]));
    const third = await run({ target: 'shrink', trigger: { kind: 'cli', by: 't' } });
    expect(await list('shrink')).toEqual(withManifests([third.key]));

    const client = await servers.pg.adminClient('prune_shrink');
    try {
      await client.query('delete from events where id > 100');
    } finally {
      await client.end();
    }
    const shrunk = await run({ target: 'shrink', trigger: { kind: 'cli', by: 't' } });
    expect(shrunk.warnings?.[0]).toMatchObject({
      kind: 'shrunk',
      compared: 1,
      threshold: 0.5,
      medianBytes: third.storedBytes,
      storedBytes: shrunk.storedBytes,
    });
    expect(shrunk.warnings?.[0]?.message).toMatch(
      /^much smaller than usual: .* stored, \d+% of the median .* of the previous 1 backup \(threshold 50%\)$/,
    );
    expect(shrunk.warnings?.[1]).toEqual({
      kind: 'check-skipped',
      message: 'retention not applied: this backup is flagged, so no older backup was deleted',
    });
    expect(shrunk.pruned).toBeUndefined();
    // The flag is remembered beside the backup.
    expect(await list('shrink')).toEqual([...withManifests([third.key, shrunk.key]), `${shrunk.key}.flagged`].sort());
    expect(JSON.parse((await getBytes(s3, bucket, `${shrunk.key}.flagged`)).toString())).toMatchObject({
      key: shrunk.key,
      reasons: [shrunk.warnings?.[0]?.message],
    });
  });

  it('flags an empty dump', async () => {
    const result = await runner()({ target: 'empty', trigger: { kind: 'cli', by: 't' } });
    expect(result.warnings).toEqual([
      {
        kind: 'empty',
        dumpedBytes: result.dumpedBytes,
        emptyBelow: 1024,
        message: `the dump is empty: ${result.dumpedBytes} bytes (less than 1.0 KiB), a database without tables or data?`,
      },
    ]);
  });

  it('shrink then recover with keepLast 3: flagged backups never move the median nor fill keepLast, and the good backups stay', async () => {
    const run = runner();
    const backup = () => run({ target: 'recover', trigger: { kind: 'cli', by: 't' } });
    const query = async (sql: string) => {
      const client = await servers.pg.adminClient('prune_recover');
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    const good = [await backup(), await backup(), await backup()];
    for (const g of good) expect(g.warnings).toBeUndefined();

    await query('delete from events where id > 100');
    // Four in a row: with the flagged ones in the median, the fourth would pass as normal and
    // keepLast 3 would then keep only small backups.
    const shrunk = [];
    for (let i = 0; i < 4; i++) shrunk.push(await backup());
    for (const b of shrunk) {
      expect(b.warnings?.[0]).toMatchObject({ kind: 'shrunk', compared: 3, medianBytes: median(good.map((g) => g.storedBytes)) });
      expect(b.pruned).toBeUndefined();
    }

    await query(`insert into events
      select g, (array['login','logout','purchase','refund'])[1 + g % 4], jsonb_build_object('n', g, 'h', md5(g::text), 'tag', 'été'), (g % 10000) / 100.0
      from generate_series(101, 30000) g`);
    const recovered = await backup();
    expect(recovered.warnings).toBeUndefined();
    expect(recovered.pruned?.kept.map((i) => [i.key, i.reasons])).toEqual([
      [recovered.key, ['newest', 'last']],
      [good[2]!.key, ['last']],
      [good[1]!.key, ['last']],
    ]);
    expect(recovered.pruned?.deleted.map((i) => [i.key, i.flagged])).toEqual([
      ...[...shrunk].reverse().map((b) => [b.key, true]),
      [good[0]!.key, false],
    ]);
    // Each flagged backup went with its marker.
    expect(await list('recover')).toEqual(withManifests([good[1]!.key, good[2]!.key, recovered.key]).sort());
  });

  it('planted objects dated in the future or without dumptruck metadata are never counted: a fresh backup keeps itself and the real ones', async () => {
    const run = runner();
    const backup = () => run({ target: 'planted', trigger: { kind: 'cli', by: 't' } });
    const first = await backup();
    const second = await backup();
    const future = ['2099-01-01T00:00:00Z', '2099-06-01T00:00:00Z', '2100-01-01T00:00:00Z'].map((at) =>
      objectKey(prefix, 'planted', new Date(at), 'plain'),
    );
    for (const key of future) await putBytes(s3, bucket, key, 'x');
    // In the past and in the right shape, but not written by dumptruck.
    const foreign = objectKey(prefix, 'planted', new Date(keyTime(second.key)!.getTime() + 1000), 'plain');
    await putBytes(s3, bucket, foreign, 'x');

    const fresh = await backup();
    expect(fresh.warnings).toBeUndefined();
    expect(fresh.pruned?.kept.map((i) => [i.key, i.reasons])).toEqual([
      [fresh.key, ['newest', 'last']],
      [second.key, ['last']],
    ]);
    expect(fresh.pruned?.deleted.map((i) => i.key)).toEqual([first.key]);
    expect(fresh.pruned?.ignored).toEqual([
      ...future.map((key) => ({ key, why: 'dated in the future' })),
      { key: foreign, why: 'not written by dumptruck (no dumptruck metadata)' },
    ]);
    expect(await list('planted')).toEqual([...withManifests([second.key, fresh.key]), ...future, foreign].sort());
  });

  it('unsigned .flagged markers and objects without a valid HMAC change nothing: keepLast 3 keeps the real backups', async () => {
    const run = runner();
    const backup = () => run({ target: 'forged', trigger: { kind: 'cli', by: 't' } });
    const first = await backup();
    const second = await backup();
    // Someone with PutObject alone flags the real backups: one marker without an HMAC, one with a made-up one.
    await putBytes(s3, bucket, `${first.key}.flagged`, JSON.stringify({ key: first.key, reasons: ['planted'] }));
    await putBytes(s3, bucket, `${second.key}.flagged`, JSON.stringify({ key: second.key, reasons: ['planted'], hmac: 'ab'.repeat(32) }));
    // ... and plants newer backups that look signed: old-style metadata, and a copied manifest, with a fake sha256 and an HMAC that is not ours.
    const at = (ms: number) => objectKey(prefix, 'forged', new Date(keyTime(second.key)!.getTime() + ms), 'plain');
    const [metaForged, manifestForged] = [at(1000), at(2000)];
    await putBytes(s3, bucket, metaForged, 'x', { target: 'forged', sha256: '0'.repeat(64), 'dumptruck-hmac': 'ab'.repeat(32) });
    await putBytes(s3, bucket, manifestForged, 'x');
    const manifest = { ...(await getManifest(s3, bucket, second.key)), key: manifestForged, sha256: '0'.repeat(64), hmac: 'ab'.repeat(32) };
    await putBytes(s3, bucket, `${manifestForged}.manifest.json`, JSON.stringify(manifest));

    const fresh = await backup();
    expect(fresh.warnings).toBeUndefined();
    expect(fresh.pruned?.kept.map((i) => [i.key, i.reasons, i.flagged])).toEqual([
      [fresh.key, ['newest', 'last'], false],
      [second.key, ['last'], false],
      [first.key, ['last'], false],
    ]);
    expect(fresh.pruned?.deleted).toEqual([]);
    const why = 'not signed by this dumptruck (no valid HMAC): never counted, never deleted';
    expect(fresh.pruned?.ignored).toEqual([
      { key: metaForged, why },
      { key: manifestForged, why },
    ]);
  });

  it('the size check reads only as many earlier backups as its window needs, newest first', async () => {
    // A client that records the manifests it reads.
    const counting = servers.s3.client();
    const read: string[] = [];
    counting.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key;
        if (context.commandName === 'GetObjectCommand' && key?.endsWith('.manifest.json')) read.push(key);
        return next(args);
      },
      { step: 'initialize' },
    );
    const run = runner(counting);
    const backup = () => run({ target: 'history', trigger: { kind: 'cli', by: 't' } });
    const earlier = [];
    for (let i = 0; i < 7; i++) earlier.push(await backup());
    // A planted, unsigned newer one is judged and passed over, never counted.
    const planted = objectKey(prefix, 'history', new Date(keyTime(earlier[6]!.key)!.getTime() + 1000), 'plain');
    await putBytes(s3, bucket, planted, 'x');
    await putBytes(
      s3,
      bucket,
      `${planted}.manifest.json`,
      JSON.stringify({ ...(await getManifest(s3, bucket, earlier[6]!.key)), key: planted }),
    );

    read.length = 0;
    const fresh = await backup();
    expect(fresh.warnings).toBeUndefined();
    // Judged two at a time: the planted one and the newest real one, then the next two; none older.
    expect(read.sort()).toEqual([planted, ...earlier.slice(4).map((b) => b.key)].map((k) => `${k}.manifest.json`).sort());
  });

  it('a real .verified marker overwritten, or an empty one, never makes its backup deletable', async () => {
    const at = (days: number) => objectKey(prefix, 'overwritten', new Date(now.getTime() - days * DAY), 'plain');
    const sha = '0'.repeat(64);
    for (const d of [0.5, 1.5, 2.5, 3.5]) await putBytes(s3, bucket, at(d), `backup ${d}`, { target: 'overwritten', sha256: sha });
    await putVerifiedMarker(s3, bucket, at(1.5), sha);
    const prune = () => pruneTarget({ config, s3, env: servers.env, now: () => now }, 'overwritten', { dryRun: true });
    expect((await prune()).newestVerified).toBe(at(1.5));

    // Someone who can write to the bucket replaces it, and plants an empty one on an older backup.
    await putBytes(s3, bucket, `${at(1.5)}.verified`, '{}');
    await putBytes(s3, bucket, `${at(2.5)}.verified`, '');
    // An empty flag marker is no flag either, and does not stop retention.
    await putBytes(s3, bucket, `${at(0.5)}.flagged`, '');
    const report = await prune();
    expect(report.newestVerified).toBeUndefined();
    expect(report.kept.map((i) => [i.key, i.reasons])).toEqual([
      [at(0.5), ['newest', 'last']],
      [at(1.5), ['unproven verified marker']],
      [at(2.5), ['unproven verified marker']],
    ]);
    expect(report.deleted.map((i) => i.key)).toEqual([at(3.5)]);
    expect(report.ignored).toEqual([1.5, 2.5].map((d) => ({ key: `${at(d)}.verified`, why: MARKER_NOT_SIGNED })));
  });
});
