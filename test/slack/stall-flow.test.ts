// The bot on Bolt's real HTTP receiver, its runner's store a server that accepts connections and
// never answers: `/backup cancel` and the job timeout still end the run, the thread says how, and
// the target is free for the next run.
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { createCatalog } from '../../src/storage/catalog.js';
import { createS3Client } from '../../src/storage/client.js';
import { seedDatabase, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { startTestBot, type TestBot } from '../helpers/slack-bot.js';
import type { ApiCall } from '../helpers/slack-fake.js';
import { startStallServer, type StallServer } from '../helpers/stall.js';

const servers = testServers();
const SRC = 'slack_stall_src';
const prefix = uniquePrefix('slack-stall');
let stall: StallServer;
let t: TestBot | undefined;
let s3: S3Client | undefined;

async function start(extraYaml = ''): Promise<TestBot> {
  const config: Config = testConfig(servers, prefix, { 'app-db': { db: SRC } }, extraYaml);
  s3 = createS3Client(
    { ...config.storage, endpoint: stall.endpoint },
    { credentials: { accessKeyId: servers.s3.accessKeyId, secretAccessKey: servers.s3.secretAccessKey } },
  );
  t = await startTestBot({
    config,
    runBackup: createBackupRunner({ config, s3, env: servers.env }),
    catalog: createCatalog({ s3, storage: config.storage, env: servers.env }),
  });
  return t;
}

const results = (bot: TestBot) =>
  bot.slack.calls.filter(
    (c: ApiCall) =>
      c.method === 'chat.postMessage' &&
      c.outcome === 'ok' &&
      /^:(white_check_mark|x|no_entry_sign): Backup of `app-db`/.test(String(c.args.text)),
  );

beforeAll(async () => {
  stall = await startStallServer();
  await seedDatabase(servers.pg, SRC, 1000);
});

afterEach(async () => {
  await t?.stop();
  t = undefined;
  s3?.destroy();
});

afterAll(async () => {
  await stall?.stop();
  await servers.pg.dropDatabase(SRC);
});

describe('a stalled store behind the bot', () => {
  it('/backup cancel ends the run waiting on the store: the thread says so and the next run is accepted', async () => {
    const bot = await start();
    const before = stall.connections();
    await bot.command('run app-db');
    await stall.connected(before + 1);
    const first = bot.bot.queue.get('app-db')!;
    const cancel = await bot.command('cancel app-db');
    expect(cancel.json?.text).toMatch(/^Stopping the running backup of `app-db`/);
    await bot.slack.waitForCall(() => results(bot).length === 1, 15_000);
    expect(results(bot)[0]!.args.text).toBe(':no_entry_sign: Backup of `app-db` cancelled by <@U0ALICE>. Nothing was stored.');
    expect(bot.bot.queue.get('app-db')).toBeUndefined();

    // The target's slot is free: a new run starts (and waits on the store in its turn).
    const again = await bot.command('run app-db');
    expect(again.status).toBe(200);
    expect(again.text).toBe('');
    const second = bot.bot.queue.get('app-db');
    expect(second?.id).toBeDefined();
    expect(second?.id).not.toBe(first.id);
  });

  it('the job timeout ends the run waiting on the store, and the thread says it timed out', async () => {
    const bot = await start('queue:\n  jobTimeout: 1s\n');
    await bot.command('run app-db');
    await bot.slack.waitForCall(() => results(bot).length === 1, 15_000);
    expect(results(bot)[0]!.args.text).toBe(
      ':x: Backup of `app-db` failed (stage `timeout`). Nothing was stored.\ntimed out after 1s (queue.jobTimeout)',
    );
    expect(bot.bot.queue.get('app-db')).toBeUndefined();
  });
});
