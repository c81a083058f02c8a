// /backup status through the real receiver: a channel sees only the jobs of targets it may run,
// not the requesters and thread links of targets restricted to other channels.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { createCatalog } from '../../src/storage/catalog.js';
import { lockTable, releaseLock, seedDatabase, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { startTestBot, type TestBot } from '../helpers/slack-bot.js';

const servers = testServers();
const SRC = 'status_src';
const prefix = uniquePrefix('status');
let t: TestBot | undefined;

beforeAll(async () => {
  await seedDatabase(servers.pg, SRC, 1_000);
}, 120_000);

afterEach(async () => {
  await t?.stop();
  t = undefined;
});

afterAll(async () => {
  await servers.pg.dropDatabase(SRC);
});

describe('/backup status', () => {
  it("lists only the jobs of targets the caller's channel may run", async () => {
    const cfg = testConfig(
      servers,
      prefix,
      { 'ops-db': { db: SRC, extra: 'channels: [C0OPS]' }, 'open-db': { db: SRC } },
      'queue:\n  concurrency: 1\n',
    );
    t = await startTestBot({
      config: cfg,
      runBackup: createBackupRunner({ config: cfg, s3: servers.s3.client(), env: servers.env }),
      catalog: createCatalog({ s3: servers.s3.client(), storage: cfg.storage, env: servers.env }),
    });
    const bot = t;
    // pg_dump waits on the lock: ops-db runs, open-db waits behind it, for as long as the test needs.
    const lock = await lockTable(servers.pg, SRC);
    try {
      await bot.command('run ops-db', { user_id: 'U0ALICE', channel_id: 'C0OPS' });
      await bot.command('run open-db', { user_id: 'U0BOB', channel_id: 'C0DEV' });
      await bot.slack.waitForCall(() => bot.slack.ok('chat.getPermalink').length === 2);
      expect(bot.bot.queue.status().running.map((j) => j.target)).toEqual(['ops-db']);

      const dev = await bot.command('status', { user_id: 'U0BOB', channel_id: 'C0DEV' });
      expect(dev.json?.text).toMatch(
        /^\*Queued\* \(1\)\n1\. `open-db`, waiting .+, by <@U0BOB> \(<https:\/\/fake\.slack\.com\/archives\/C0DEV\/p\d+\|thread>\)$/,
      );
      const ops = await bot.command('status', { user_id: 'U0ALICE', channel_id: 'C0OPS' });
      expect(ops.json?.text).toMatch(
        /^\*Running\* \(1\)\n• `ops-db`, for .+, by <@U0ALICE> \(<https:\/\/fake\.slack\.com\/archives\/C0OPS\/p\d+\|thread>\)\n\*Queued\* \(1\)\n1\. `open-db`, waiting .+, by <@U0BOB> /,
      );
    } finally {
      await releaseLock(lock);
    }
    await bot.slack.waitForCall(
      (c) => c.method === 'chat.postMessage' && /^:white_check_mark: Backup of `open-db`/.test(String(c.args.text)),
      60_000,
    );
    await bot.bot.reporters.idle();
  });
});
