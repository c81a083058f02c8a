// The real bot process (`node dist/slack/main.js`) with a state database: a database of its own
// on the shared PostgreSQL. It migrates at start, records runs, serves /backup history, and
// /readyz follows the state database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { botProcesses } from '../helpers/bot-process.js';
import { configYaml, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';

const servers = testServers();
const prefix = uniquePrefix('main-state');
const STATE_DB = 'main_state';
const LIMITED = 'main_state_limited';
const LIMITED_PW = 'limited-pw-5c1f0e';
const bots = botProcesses(servers);
const stateYaml = (user: string, env: string) => `state:\n  url: ${servers.pg.url(STATE_DB, user)}\n  password: { env: ${env} }\n`;
const env = { STATE_PW: servers.pg.superuser.password, LIMITED_PW };

async function admin(sql: string): Promise<void> {
  const client = await servers.pg.adminClient();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.createDatabase(STATE_DB);
  await admin(`DROP ROLE IF EXISTS ${LIMITED}`);
  await admin(`CREATE ROLE ${LIMITED} LOGIN PASSWORD '${LIMITED_PW}'`);
});

afterAll(async () => {
  await admin(`ALTER DATABASE ${STATE_DB} ALLOW_CONNECTIONS true`);
  await servers.pg.dropDatabase(STATE_DB);
  await admin(`DROP ROLE IF EXISTS ${LIMITED}`);
});

describe('the bot with a state database', () => {
  it('records a run and lists it in /backup history; /readyz fails while the state database is unreachable and recovers', async () => {
    const config = configYaml(servers, prefix, { 'app-db': { db: 'postgres' } }, stateYaml(servers.pg.superuser.user, 'STATE_PW'));
    const { bot: b, slack } = await bots.start({ config, fakeToken: TEST_BOT_TOKEN, env });
    const ready = await b.waitFor('/readyz', (a) => a.status === 200);
    expect(ready.json).toEqual({
      status: 'ready',
      checks: { config: { ok: true }, slack: { ok: true }, bucket: { ok: true }, state: { ok: true } },
    });

    await b.command('run app-db');
    await slack.waitForCall(
      (c) => c.method === 'chat.postMessage' && /Backup of `app-db` (stored|failed)/.test(String(c.args.text)),
      60_000,
    );
    const ack = await b.command('history app-db');
    const reply = await slack.waitForResponse(ack.responseUrl, 20_000);
    expect(String(reply.body.text)).toMatch(
      /^\*Last run of `app-db`\* \(newest first\)\n• .* :warning: stored, flagged · .* · by <@U[A-Z0-9]+> · <https:\/\/fake\.slack\.com\/archives\/C[A-Z0-9]+\/p\d+\|thread>\n   `[^`]+`$/,
    );

    try {
      await admin(`ALTER DATABASE ${STATE_DB} ALLOW_CONNECTIONS false`);
      await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${STATE_DB}'`);
      const down = await b.waitFor('/readyz', (a) => a.status === 503);
      expect(down.json).toMatchObject({ status: 'not ready', failing: ['state'], checks: { state: { ok: false } } });
      expect(down.json!.checks.state.detail).toContain(`the state database 127.0.0.1:${servers.pg.port}/${STATE_DB}`);
      expect(down.text).not.toContain(servers.pg.superuser.password);
    } finally {
      await admin(`ALTER DATABASE ${STATE_DB} ALLOW_CONNECTIONS true`);
    }
    await b.waitFor('/readyz', (a) => a.status === 200);
  });

  it("a state role that may not create dumptruck's schema stops the bot at start, naming the right", async () => {
    const config = configYaml(servers, prefix, { 'app-db': { db: 'postgres' } }, `${stateYaml(LIMITED, 'LIMITED_PW')}  schema: limited\n`);
    const { bot: b } = await bots.start({ config, fakeToken: TEST_BOT_TOKEN, env });
    const { code } = await b.exited;
    expect(code).toBe(1);
    expect(b.stderr()).toBe(
      `dumptruck: state failed: the state database 127.0.0.1:${servers.pg.port}/${STATE_DB}: role ${LIMITED} lacks the right CREATE ON DATABASE ${STATE_DB}, so dumptruck cannot create its tables there\n` +
        `GRANT CREATE ON DATABASE ${STATE_DB} TO ${LIMITED}; or an admin creates schema limited and its tables once, and dumptruck only uses them.\n`,
    );
  });
});
