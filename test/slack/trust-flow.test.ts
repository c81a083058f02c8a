// /backup verify, /backup prune, flagged results and the schedule, for real: signed requests into
// Bolt's HTTP receiver, the fake Slack Web API, and behind them the real runner, verification
// (with a restore test on the shared PostgreSQL) and retention on versitygw.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { createTrustOps } from '../../src/jobs/maintenance.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import type { Scheduler } from '../../src/jobs/scheduler.js';
import { startSchedules } from '../../src/slack/schedule.js';
import { createCatalog } from '../../src/storage/catalog.js';
import { objectKey } from '../../src/storage/keys.js';
import { lockTable, releaseLock, seedDatabase, testConfig, testServers, uniquePrefix, type TargetSpec } from '../helpers/fixtures.js';
import { eventually } from '../helpers/bot-process.js';
import {
  databasesLike,
  getBytes,
  getManifest,
  honestMetadata,
  hostileDump,
  legacyMetadata,
  putBackup,
  putBytes,
  sha256,
} from '../helpers/objects.js';
import { startTestBot, type TestBot } from '../helpers/slack-bot.js';
import type { ApiCall } from '../helpers/slack-fake.js';

const servers = testServers();
const s3 = servers.s3.client();
const SRC = 'slacktrust_src';
const EMPTY = 'slacktrust_empty';
const BIG = 'slacktrust_big';
const prefix = uniquePrefix('slacktrust');
const DAY = 86_400_000;
const env = { ...servers.env, SCRATCH_PW: servers.pg.superuser.password };

const targets: Record<string, TargetSpec> = {
  'app-db': { db: SRC, extra: 'channels: [C0OPS]' },
  damaged: { db: SRC },
  hostile: { db: SRC },
  pruned: { db: SRC, extra: 'retention: { keepLast: 1, keepDays: 30 }' },
  empty: { db: EMPTY },
  big: { db: BIG },
  nightly: { db: SRC, extra: 'schedule: "0 2 * * *"\nreportChannel: C0REPORTS' },
  missed: { db: SRC, extra: 'schedule: "0 2 * * *"\nchannels: [C0DBA]' },
};

const config: Config = testConfig(
  servers,
  prefix,
  targets,
  `verify:\n  restoreUrl: ${servers.pg.url('postgres', servers.pg.superuser.user)}\n  password: { env: SCRATCH_PW }\n`,
);
const catalog = createCatalog({ s3, storage: config.storage, env: servers.env });

let t: TestBot | undefined;
let scheduler: Scheduler | undefined;

async function start(): Promise<TestBot> {
  t = await startTestBot({
    config,
    runBackup: createBackupRunner({ config, s3, env, progressIntervalMs: 50 }),
    catalog,
    app: { trust: createTrustOps({ config, s3, env, catalog }) },
  });
  return t;
}

afterEach(async () => {
  scheduler?.stop();
  scheduler = undefined;
  await t?.stop();
  t = undefined;
});

beforeAll(async () => {
  await Promise.all([seedDatabase(servers.pg, SRC, 2000), seedDatabase(servers.pg, BIG, 300_000)]);
  await servers.pg.dropDatabase(EMPTY);
  await servers.pg.createDatabase(EMPTY);
}, 120_000);

afterAll(async () => {
  await servers.pg.dropDatabase(EMPTY);
  await servers.pg.dropDatabase(BIG);
});

const posted = (pattern: RegExp, channel?: string) => (c: ApiCall) =>
  c.method === 'chat.postMessage' &&
  c.outcome === 'ok' &&
  (channel === undefined || c.args.channel === channel) &&
  pattern.test(String(c.args.text));
const backupResult = (target: string) =>
  posted(new RegExp(`^:(white_check_mark|warning|x|no_entry_sign): Backup of \`${target}\` (finished|stored|failed)`));

/** A backup of `target` through /backup run, and its key and SHA-256 from the result message. */
async function backUp(bot: TestBot, target: string, channel = 'C0OPS'): Promise<{ key: string; sha: string; result: ApiCall }> {
  await bot.command(`run ${target}`, { channel_id: channel });
  const result = await bot.slack.waitForCall(backupResult(target), 60_000);
  const text = String(result.args.text);
  return { key: /^Key: (\S+)$/m.exec(text)![1]!, sha: /^SHA-256: ([0-9a-f]{64})$/m.exec(text)![1]!, result };
}

describe('/backup verify', () => {
  it('verifies a fresh backup with a restore test: SHA-256, size, tables and row counts, in a thread', async () => {
    const bot = await start();
    const { key, sha } = await backUp(bot, 'app-db');

    const ack = await bot.command('verify app-db');
    expect(ack.status).toBe(200);
    expect(ack.text).toBe('');
    const result = await bot.slack.waitForCall(posted(/^:white_check_mark: `.+` of `app-db` is verified\./), 60_000);
    await bot.bot.reporters.idle();

    const parent = bot.slack.ok('chat.postMessage').find((c) => /^:mag: Verification/.test(String(c.args.text)))!;
    expect(parent.args).toMatchObject({
      channel: 'C0OPS',
      text: ':mag: Verification of `app-db` (its latest backup) requested by <@U0ALICE>. Result in the thread.',
    });
    expect(result.args).toMatchObject({ channel: 'C0OPS', thread_ts: parent.ts });
    const lines = String(result.args.text).split('\n');
    expect(lines[0]).toBe(`:white_check_mark: \`${key}\` of \`app-db\` is verified.`);
    expect(lines).toContain(`SHA-256: ${sha} (matches the metadata)`);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^Restore test: 3 tables, 2505 rows restored in .+; the scratch database dumptruck_verify_app_db_[0-9a-f]{8} was dropped$/,
      ),
    );
    expect(lines).toContain('  public.events: 2000 rows');
    expect(lines).toContain('  public.customers: 5 rows');
    expect(lines.at(-1)).toMatch(
      /^Checks: manifest names target app-db; .*sha256 matches manifest; gunzip \| psql -v ON_ERROR_STOP=1 restored it/,
    );
    // The parent got the verdict, and the scratch database is gone.
    expect(bot.slack.ok('chat.update').at(-1)!.args).toMatchObject({
      ts: parent.ts,
      text: `:white_check_mark: Verification of \`app-db\` requested by <@U0ALICE>: \`${key}\` is good and restores (3 tables, 2505 rows).`,
    });
    expect(await databasesLike(servers.pg, 'dumptruck_verify_app_db_')).toEqual([]);
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/app-db/`)).toEqual([key, `${key}.manifest.json`, `${key}.verified`]);
  });

  it('reports a damaged object as corrupted, with the reason, and takes no backup slot', async () => {
    const bot = await start();
    const { key } = await backUp(bot, 'damaged');
    // The same bytes with one flipped, under an older key, keeping the metadata (and so the recorded SHA-256).
    const bytes = await getBytes(s3, servers.bucket, key);
    bytes[100]! ^= 0xff;
    const bad = objectKey(prefix, 'damaged', new Date('2020-01-01T00:00:00Z'), 'plain');
    await putBackup(s3, servers.bucket, bad, bytes, await getManifest(s3, servers.bucket, key));

    await bot.command(`verify damaged \`${bad}\``);
    const result = await bot.slack.waitForCall(posted(/^:x: `.+` of `damaged` failed verification/), 60_000);
    await bot.bot.reporters.idle();
    const [head, ...reason] = String(result.args.text).split('\n');
    expect(head).toBe(`:x: \`${bad}\` of \`damaged\` failed verification: corrupted.`);
    expect(reason.join('\n')).toMatch(
      new RegExp(
        `^verify failed: ${bad}: SHA-256 of the stored bytes is [0-9a-f]{64}, manifest says [0-9a-f]{64}: the object changed after it was written`,
      ),
    );
    expect(JSON.stringify(result.args.blocks)).toContain('Its `.verified` marker was removed');
    expect(bot.slack.ok('chat.update').at(-1)!.args.text).toBe(':x: Verification of `damaged` requested by <@U0ALICE> failed: corrupted.');
    expect(await databasesLike(servers.pg, 'dumptruck_verify_damaged_')).toEqual([]);
    // Nothing of it went through the backup queue.
    expect(bot.bot.queue.status()).toEqual({ running: [], queued: [] });
  });

  it('a planted future-dated dump with \\! is not latest: verify latest restores the real backup, naming it is refused, and nothing runs', async () => {
    const bot = await start();
    const { key } = await backUp(bot, 'hostile');
    const ran = join(tmpdir(), `dt-planted-${process.pid}-${Date.now()}`);
    onTestFinished(() => rm(ran, { force: true }));
    const planted = objectKey(prefix, 'hostile', new Date(Date.UTC(new Date().getUTCFullYear() + 1, 0, 1)), 'plain');
    const bytes = hostileDump(`env > ${ran}`);
    await putBytes(s3, servers.bucket, planted, bytes, honestMetadata({ target: 'hostile', format: 'plain' }, bytes));

    await bot.command('verify hostile latest');
    const good = await bot.slack.waitForCall(posted(/^:white_check_mark: `.+` of `hostile` is verified\./), 60_000);
    expect(String(good.args.text).split('\n')[0]).toBe(`:white_check_mark: \`${key}\` of \`hostile\` is verified.`);

    await bot.command(`verify hostile \`${planted}\``);
    const refused = await bot.slack.waitForCall(posted(/^:x: `.+` of `hostile` failed verification/), 60_000);
    await bot.bot.reporters.idle();
    const [head, ...reason] = String(refused.args.text).split('\n');
    expect(head).toBe(`:x: \`${planted}\` of \`hostile\` failed verification: not a backup dumptruck wrote.`);
    expect(reason.join('\n')).toContain(
      `verify failed: ${planted} carries no dumptruck HMAC (x-amz-meta-dumptruck-hmac), so it was not restored`,
    );
    expect(existsSync(ran)).toBe(false);
    expect(await databasesLike(servers.pg, 'dumptruck_verify_hostile_')).toEqual([]);
  });

  it('link: a signed backup gets a plain link, an unsigned one a warning, one whose signature does not match no link', async () => {
    const bot = await start();
    const { key } = await backUp(bot, 'hostile');
    const good = await bot.command(`link hostile ${key}`);
    const goodReply = String((await bot.slack.waitForResponse(good.responseUrl, 30_000)).body.text);
    expect(goodReply).toMatch(/X-Amz-Signature=/);
    expect(goodReply).not.toMatch(/Not signed/);

    const manifest = await getManifest(s3, servers.bucket, key);
    const bytes = await getBytes(s3, servers.bucket, key);
    // Unsigned: a backup written before signing (metadata on the object, no manifest).
    const unsigned = objectKey(prefix, 'hostile', new Date(Date.now() - DAY), 'plain');
    await putBytes(s3, servers.bucket, unsigned, bytes, legacyMetadata(manifest));
    const legacy = await bot.command(`link hostile ${unsigned}`);
    const legacyReply = String((await bot.slack.waitForResponse(legacy.responseUrl, 30_000)).body.text).split('\n');
    expect(legacyReply[1]).toMatch(/X-Amz-Signature=/);
    expect(legacyReply[2]).toBe(
      ':warning: Not signed by this dumptruck: written before backups were signed, or by someone else who can write to the bucket. Check it (verify) before you restore it.',
    );

    // Forged: the real backup's signed manifest copied beside other bytes under another key.
    const forged = objectKey(prefix, 'hostile', new Date(Date.now() - 2 * DAY), 'plain');
    const planted = hostileDump('true');
    await putBytes(s3, servers.bucket, forged, planted);
    await putBytes(
      s3,
      servers.bucket,
      `${forged}.manifest.json`,
      JSON.stringify({ ...manifest, key: forged, sha256: sha256(planted), storedBytes: planted.length }),
    );
    const refused = await bot.command(`link hostile ${forged}`);
    const refusedReply = (await bot.slack.waitForResponse(refused.responseUrl, 30_000)).body;
    expect(refusedReply.response_type).toBe('ephemeral');
    expect(String(refusedReply.text)).not.toMatch(/X-Amz-Signature=/);
    expect(String(refusedReply.text)).toContain(
      `the signature recorded for ${forged} does not match it: the object or its manifest was changed after dumptruck wrote it, or someone else wrote them; no link was made`,
    );
  });

  it('a restore test under way when the bot stops: cancelled, said so in its thread, scratch database dropped', async () => {
    const bot = await start();
    await backUp(bot, 'big');
    await bot.command('verify big');
    // The scratch database exists once the restore has begun.
    await eventually(
      async () => ((await databasesLike(servers.pg, 'dumptruck_verify_big_')).length > 0 ? true : undefined),
      'the scratch database',
      30_000,
      20,
    );
    // /backup status lists it beside the backups, with its thread.
    const job = bot.bot.maintenance!.queue.get('big')!;
    const thread = await eventually(() => bot.bot.threads.get(job.id), 'its thread');
    expect((await bot.command('status')).json?.text).toMatch(
      new RegExp(
        `^\\*Running\\* \\(1\\)\\n• \`big\` \\(verification\\), for \\d+(\\.\\d)?s, by <@U0ALICE> \\(<${thread.permalink}\\|thread>\\)$`,
      ),
    );
    await bot.stop();
    t = undefined;
    const result = bot.slack.calls.find(posted(/Verification of `big`.*cancelled|of `big` is verified/));
    expect(result?.args.text).toBe(':no_entry_sign: Verification of `big` cancelled: the bot is shutting down. Nothing was changed.');
    expect(bot.slack.ok('chat.update').at(-1)!.args.text).toBe(
      ':no_entry_sign: Verification of `big` requested by <@U0ALICE> was cancelled.',
    );
    expect(await databasesLike(servers.pg, 'dumptruck_verify_big_')).toEqual([]);
  }, 120_000);

  it('refuses a channel or person the target does not allow, and queues nothing', async () => {
    const bot = await start();
    const verify = await bot.command('verify app-db', { channel_id: 'C0RANDOM' });
    expect(verify.json?.text).toBe("you can't verify backups of `app-db` from this channel\n`app-db` is allowed in <#C0OPS>; ask there.");
    const prune = await bot.command('prune app-db confirm', { channel_id: 'C0RANDOM' });
    expect(prune.json?.text).toBe("you can't prune backups of `app-db` from this channel\n`app-db` is allowed in <#C0OPS>; ask there.");
    const noRules = await bot.command('prune app-db');
    expect(noRules.json?.text).toBe(
      '`app-db` has no retention rules, so there is nothing to prune\nAn admin sets `targets.app-db.retention: { keepLast: N, keepDays: D }`.',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(bot.slack.ok('chat.postMessage')).toEqual([]);
    expect(bot.bot.maintenance!.queue.status()).toEqual({ running: [], queued: [] });
  });
});

describe('/backup prune', () => {
  it('shows the plan by default and deletes only with confirm, on backups with controlled dates', async () => {
    const bot = await start();
    const now = Date.now();
    const key = (daysAgo: number) => objectKey(prefix, 'pruned', new Date(now - daysAgo * DAY), 'plain');
    const [k1, k10, k40, k100] = [key(1), key(10), key(40), key(100)];
    for (const k of [k1, k10, k40, k100])
      await putBytes(s3, servers.bucket, k, `not a real dump: ${k}`, { target: 'pruned', sha256: '0'.repeat(64) });

    // The plan and the result list the same keys, under "To delete" and "Deleted".
    const lists = (deleted: string) => [
      `${deleted}:`,
      `• \`${k40}\` (40.0 days old)`,
      `• \`${k100}\` (100.0 days old)`,
      'Kept:',
      `• \`${k1}\` (newest, last, days)`,
      `• \`${k10}\` (days)`,
    ];
    const plan = await bot.command('prune pruned');
    expect(plan.text).toBe('');
    expect((await bot.slack.waitForResponse(plan.responseUrl, 30_000)).body.text).toBe(
      [
        '*Prune plan for `pruned`* (keepLast 1, keepDays 30): 2 to delete, 2 kept. Nothing has been deleted yet.',
        ...lists('To delete'),
        '`/backup prune pruned confirm` deletes them.',
      ].join('\n'),
    );
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/pruned/`)).toHaveLength(4);

    await bot.command('prune pruned confirm');
    const result = await bot.slack.waitForCall(posted(/^:wastebasket: Prune of `pruned` \(.*\): deleted/), 30_000);
    await bot.bot.reporters.idle();
    expect(String(result.args.text).split('\n')).toEqual([
      ':wastebasket: Prune of `pruned` (keepLast 1, keepDays 30): deleted 2, kept 2.',
      ...lists('Deleted'),
    ]);
    const parent = bot.slack.ok('chat.postMessage')[0]!;
    expect(parent.args.text).toBe(
      ':wastebasket: Prune of `pruned` (keepLast 1, keepDays 30) requested by <@U0ALICE>. Result in the thread.',
    );
    expect(result.args.thread_ts).toBe(parent.ts);
    expect(bot.slack.ok('chat.update').at(-1)!.args).toMatchObject({
      ts: parent.ts,
      text: ':wastebasket: Prune of `pruned` requested by <@U0ALICE>: deleted 2, kept 2.',
    });
    expect((await servers.s3.listKeys(servers.bucket, `${prefix}/pruned/`)).sort()).toEqual([k10, k1].sort());
  });
});

describe('flagged results', () => {
  it('an empty database: stored, but flagged, never a plain success', async () => {
    const bot = await start();
    const { result } = await backUp(bot, 'empty');
    await bot.bot.reporters.idle();
    const lines = String(result.args.text).split('\n');
    expect(lines[0]).toMatch(
      /^:warning: Backup of `empty` stored, but flagged: the dump is empty: \d+ bytes \(less than 1\.0 KiB\), a database without tables or data\?$/,
    );
    expect(lines[1]).toMatch(new RegExp(`^Key: ${prefix}/empty/`));
    expect(lines.at(-1)).toMatch(/^Download \(link expires .+\): http/);
    expect(JSON.stringify(result.args.blocks)).not.toContain('white_check_mark');
    expect(bot.slack.ok('chat.update').at(-1)!.args.text).toMatch(
      /^:warning: Backup of `empty` requested by <@U0ALICE> stored, but flagged \(empty\): /,
    );
  });
});

describe('schedules in the bot', () => {
  /** A clock the test sets, and the Scheduler's timers, which the test fires. */
  function manualTime(startAt: string) {
    let now = new Date(startAt);
    const timers: Array<{ callback: () => void; ms: number; cancelled: boolean }> = [];
    return {
      now: () => now,
      set: (iso: string) => void (now = new Date(iso)),
      setTimer: (callback: () => void, ms: number) => {
        const timer = { callback, ms, cancelled: false };
        timers.push(timer);
        return () => void (timer.cancelled = true);
      },
      /** Fires the newest armed timer. */
      fire: () => {
        const timer = timers.filter((x) => !x.cancelled).at(-1);
        if (!timer) throw new Error('no timer armed');
        timer.cancelled = true;
        timer.callback();
      },
    };
  }

  /** The bot's schedules, of `target` only (the other targets' backups would count as missed runs in 2030). */
  function schedule(bot: TestBot, time: ReturnType<typeof manualTime>, target: string): Scheduler {
    const { bot: b } = bot;
    scheduler = startSchedules({
      config: { ...config, targets: { [target]: config.targets[target]! } },
      queue: b.queue,
      catalog,
      reporters: b.reporters,
      chat: b.app.client.chat,
      threads: b.threads,
      logger: pino({ level: 'silent' }),
      now: time.now,
      setTimer: time.setTimer,
    });
    return scheduler;
  }

  it('a fire runs through the queue and threads in the report channel; a fire while it runs is skipped and said so', async () => {
    const bot = await start();
    const time = manualTime('2030-01-01T01:59:00Z');
    const s = schedule(bot, time, 'nightly');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(s.upcoming().find((u) => u.target === 'nightly')?.next).toEqual(new Date('2030-01-01T02:00:00Z'));
    expect(bot.slack.ok('chat.postMessage')).toEqual([]);

    const lock = await lockTable(servers.pg, SRC);
    try {
      time.set('2030-01-01T02:00:00Z');
      time.fire();
      const parent = await bot.slack.waitForCall(posted(/^:package: Backup of `nightly`/, 'C0REPORTS'));
      expect(parent.args.text).toBe(':package: Backup of `nightly` requested by the schedule. Progress in the thread.');
      const job = bot.bot.queue.get('nightly')!;
      expect(job.trigger).toMatchObject({ kind: 'schedule', by: 'scheduler', detail: '0 2 * * * UTC' });
      await eventually(() => bot.bot.threads.get(job.id), 'the thread of the scheduled run');

      // The next night's fire, while that run is still held by the lock.
      time.set('2030-01-02T02:00:00Z');
      time.fire();
      const skipped = await bot.slack.waitForCall(posted(/^:fast_forward:/, 'C0REPORTS'));
      expect(skipped.args.text).toBe(
        `:fast_forward: The scheduled backup of \`nightly\` due 2030-01-02 02:00 UTC was skipped: a backup of it is already running, requested by the schedule (<https://fake.slack.com/archives/C0REPORTS/p${String(parent.ts).replace('.', '')}|thread>).`,
      );
    } finally {
      await releaseLock(lock);
    }
    const result = await bot.slack.waitForCall(backupResult('nightly'), 60_000);
    expect(result.args).toMatchObject({
      channel: 'C0REPORTS',
      text: expect.stringMatching(/^:white_check_mark: Backup of `nightly` finished\.\nKey: /),
    });
    await bot.bot.reporters.idle();
    expect(bot.slack.ok('chat.update').at(-1)!.args.text).toMatch(
      /^:white_check_mark: Backup of `nightly` requested by the schedule finished: /,
    );
  });

  it('a run missed while the bot was down is caught up at start, marked as such, in the first of channels', async () => {
    const bot = await start();
    // The newest backup of `missed` is from 2020: every nightly fire since was missed.
    await putBytes(s3, servers.bucket, objectKey(prefix, 'missed', new Date('2020-01-01T02:00:00Z'), 'plain'), 'an old backup');
    schedule(bot, manualTime('2030-01-05T12:00:00Z'), 'missed');
    const parent = await bot.slack.waitForCall(posted(/^:package: Backup of `missed`/, 'C0DBA'), 30_000);
    expect(parent.args.text).toBe(
      ':package: Backup of `missed` requested by the schedule (catch-up for the missed run due 2030-01-05 02:00 UTC). Progress in the thread.',
    );
    const result = await bot.slack.waitForCall(backupResult('missed'), 60_000);
    expect(result.args).toMatchObject({ channel: 'C0DBA', thread_ts: parent.ts });
    // Only one catch-up, however many fires were missed.
    await bot.bot.reporters.idle();
    expect(bot.slack.ok('chat.postMessage').filter((c) => c.args.channel === 'C0DBA' && c.args.thread_ts === undefined)).toHaveLength(1);
  });
});
