// /backup history for real: signed requests into Bolt's HTTP receiver, the real runner on the
// shared PostgreSQL and versitygw, and a separate database on that PostgreSQL as the state DB.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { openState, type StateStore } from '../../src/state/store.js';
import { createCatalog } from '../../src/storage/catalog.js';
import { seedDatabase, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { startTestBot, type TestBot } from '../helpers/slack-bot.js';
import type { ApiCall } from '../helpers/slack-fake.js';
import { eventually } from '../helpers/bot-process.js';

const servers = testServers();
const SRC = 'history_src';
const STATE_DB = 'history_state';
const prefix = uniquePrefix('history');
const STATE_ENV = { STATE_PW: servers.pg.superuser.password };

const stateYaml = `state:\n  url: ${servers.pg.url(STATE_DB, servers.pg.superuser.user)}\n  password: { env: STATE_PW }\n  schema: bot_state\n`;
const targets = { 'app-db': { db: SRC, extra: 'channels: [C0OPS]' }, broken: { db: SRC, passwordEnv: 'WRONG_PW' } };

let t: TestBot | undefined;
let state: StateStore | undefined;

async function start(cfg: Config, withState: boolean): Promise<TestBot> {
  if (withState) state = await openState(cfg.state!, { env: STATE_ENV });
  t = await startTestBot({
    config: cfg,
    runBackup: createBackupRunner({ config: cfg, s3: servers.s3.client(), env: servers.env }),
    catalog: createCatalog({ s3: servers.s3.client(), storage: cfg.storage, env: servers.env }),
    ...(state ? { app: { state } } : {}),
  });
  return t;
}

const resultFor = (target: string) => (c: ApiCall) =>
  c.method === 'chat.postMessage' &&
  c.outcome === 'ok' &&
  new RegExp(`^:(white_check_mark|x|warning): Backup of \`${target}\``).test(String(c.args.text));

async function history(bot: TestBot, text: string, who = { channel_id: 'C0OPS' }): Promise<string> {
  const ack = await bot.command(text, who);
  expect(ack.status).toBe(200);
  // An answer known at once comes with the ack; one read from the database follows on the response URL.
  if (ack.text) return String((JSON.parse(ack.text) as { text: unknown }).text);
  return String((await bot.slack.waitForResponse(ack.responseUrl, 20_000)).body.text);
}

beforeAll(async () => {
  await seedDatabase(servers.pg, SRC, 2_000);
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.createDatabase(STATE_DB);
}, 120_000);

afterEach(async () => {
  await t?.stop();
  await state?.close();
  t = undefined;
  state = undefined;
});

afterAll(async () => {
  await servers.pg.dropDatabase(STATE_DB);
});

describe('/backup history with a state database', () => {
  it('records each run (stored and failed) with its thread, and lists them newest first', async () => {
    const bot = await start(testConfig(servers, prefix, targets, stateYaml), true);
    await bot.command('run app-db', { channel_id: 'C0OPS', user_id: 'U0ALICE' });
    await bot.slack.waitForCall(resultFor('app-db'), 60_000);
    await bot.command('run broken', { channel_id: 'C0OPS', user_id: 'U0BOB' });
    await bot.slack.waitForCall(resultFor('broken'), 60_000);
    await bot.bot.reporters.idle();

    // The run is recorded once its result is in; the reply is read once both are there.
    const runs = await eventually(async () => {
      const rows = [...(await state!.history('app-db', 10)), ...(await state!.history('broken', 10))];
      return rows.length === 2 ? rows : undefined;
    }, 'both runs recorded');
    const [stored, failed] = runs;
    expect(stored).toMatchObject({
      target: 'app-db',
      outcome: 'succeeded',
      trigger: { kind: 'slack', by: 'U0ALICE', detail: 'C0OPS' },
      requester: 'U0ALICE',
      replica: expect.stringMatching(/^.+:\d+$/),
    });
    expect(stored!.key).toMatch(new RegExp(`^${prefix}/app-db/`));
    expect(stored!.storedBytes).toBeGreaterThan(0);
    const parent = bot.slack.ok('chat.postMessage').find((c) => String(c.args.text).includes('Backup of `app-db` requested by'))!;
    expect(stored!.thread).toEqual({
      channel: 'C0OPS',
      ts: parent.ts,
      permalink: `https://fake.slack.com/archives/C0OPS/p${String(parent.ts).replace('.', '')}`,
    });
    expect(failed).toMatchObject({ target: 'broken', outcome: 'failed', key: undefined, storedBytes: undefined, requester: 'U0BOB' });
    expect(failed!.error).toMatch(/password authentication failed/);
    expect(failed!.error).not.toContain(servers.env.WRONG_PW);

    const reply = await history(bot, 'history app-db');
    const lines = reply.split('\n');
    expect(lines[0]).toBe('*Last run of `app-db`* (newest first)');
    expect(lines[1]).toMatch(
      /^• <!date\^\d+\^\{date_short_pretty\} \{time\}\|[^>]+> · :white_check_mark: stored · [\d.]+ (KiB|MiB) · in \d+(\.\d+)?m?s?.* · by <@U0ALICE> · <https:\/\/fake\.slack\.com\/archives\/C0OPS\/p\d+\|thread>$/,
    );
    expect(lines[2]).toBe(`   \`${stored!.key}\``);
    expect(await history(bot, 'history broken 5')).toMatch(
      /^\*Last run of `broken`\* \(newest first\)\n• .* :x: failed · in .* · by <@U0BOB> · <https:\/\/fake\.slack\.com\/[^|]+\|thread>\n   connect failed: /,
    );
  });

  it("the target's channels: apply to its history too", async () => {
    const bot = await start(testConfig(servers, prefix, targets, stateYaml), true);
    expect(await history(bot, 'history app-db', { channel_id: 'C0ELSEWHERE' })).toMatch(
      /^you can't see the history of `app-db` from this channel/,
    );
  });
});

describe('/backup history without a state database', () => {
  it('answers that it needs state:', async () => {
    const bot = await start(testConfig(servers, prefix, targets), false);
    expect(await history(bot, 'history app-db')).toBe(
      'Run history is kept only when the bot has a state database: an admin adds `state: { url: postgres://..., password: { env: ... } }` to the config.',
    );
  });
});
