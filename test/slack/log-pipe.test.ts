// The real bot process with its stdout and stderr on pipes whose reader goes away at the moment
// SIGTERM arrives (a log collector restarting, a supervisor going down): logging must not keep it
// from shutting down, and must not spin.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { botProcesses } from '../helpers/bot-process.js';
import { configYaml, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';

const servers = testServers();
const DB = 'dt_log_pipe';
const bots = botProcesses(servers);

beforeAll(async () => {
  await seedDatabase(servers.pg, DB, 1000);
});

afterAll(async () => {
  await servers.pg.dropDatabase(DB);
});

describe('the log reader goes away', () => {
  it('stdout and stderr closed as SIGTERM arrives: the bot still shuts down within its grace period', async () => {
    const config = configYaml(servers, uniquePrefix('log-pipe'), { app: { db: DB } }, 'shutdown:\n  graceTimeout: 2s\n');
    // debug: every request and job event is a line to write, so the broken pipe is hit at once and often.
    const { bot } = await bots.start({ config, fakeToken: TEST_BOT_TOKEN, env: { LOG_LEVEL: 'debug' } });
    await bot.waitFor('/readyz', (a) => a.status === 200);
    bot.child.stdout!.destroy();
    bot.child.stderr!.destroy();
    const signalledAt = Date.now();
    bot.child.kill('SIGTERM');
    const exit = await Promise.race([bot.exited, new Promise<undefined>((resolve) => setTimeout(resolve, 20_000))]);
    // Grace period (2 s) plus a generous margin for a loaded machine; the old bot never exited.
    expect(exit, 'the bot did not exit after SIGTERM').toBeDefined();
    expect(exit!.at - signalledAt).toBeLessThan(20_000);
    expect(exit!.code).toBe(0);
  });
});
