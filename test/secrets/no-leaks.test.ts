// No secret leaves the bot where it should not: not in its logs (at debug level), not in
// pg_dump's argv (read from /proc while it runs), not in any environment but pg_dump's own
// PGPASSWORD, and not in anything sent to Slack. The real process (`node dist/slack/main.js`, HTTP
// mode) on the real PostgreSQL and versitygw, talking to the recording fake Slack.
import { readFile, readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { botProcesses, childProcesses, eventually } from '../helpers/bot-process.js';
import { configYaml, lockTable, releaseLock, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { ageKeygen } from '../helpers/age.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';
import type { ApiCall } from '../helpers/slack-fake.js';
import { TEST_SIGNING_SECRET } from '../helpers/slack-sign.js';

const servers = testServers();
const DB = 'dt_noleak';
const prefix = uniquePrefix('noleak');
const bots = botProcesses(servers);
// The password reaches the bot in a variable whose name the logger does not treat as secret, so
// this proves it is never logged at all, not merely redacted by value.
const DB_PASSWORD = servers.pg.backup.password;
const WRONG_PASSWORD = servers.env.WRONG_PW!;
const AWS_SECRET = servers.s3.secretAccessKey;
const SECRETS: Record<string, string> = {
  'the database password': DB_PASSWORD,
  'a wrong database password': WRONG_PASSWORD,
  'the bot token': TEST_BOT_TOKEN,
  'the signing secret': TEST_SIGNING_SECRET,
  'the AWS secret key': AWS_SECRET,
};

beforeAll(async () => {
  await seedDatabase(servers.pg, DB, 20_000);
});

afterAll(async () => {
  await servers.pg.dropDatabase(DB);
});

function expectNoSecret(where: string, text: string): void {
  for (const [name, value] of Object.entries(SECRETS)) {
    expect(text.includes(value), `${name} appears in ${where}`).toBe(false);
  }
}

/** Whether the process's executable (not an interpreter running a script of that name) is `name`. */
async function runsBinary(pid: number, name: string): Promise<boolean> {
  try {
    return basename(await readlink(`/proc/${pid}/exe`)) === name;
  } catch {
    return false; // exited while we looked
  }
}

/** /proc/<pid>/environ as a map. */
async function environOf(pid: number): Promise<Record<string, string>> {
  const raw = await readFile(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

const resultFor = (target: string) => (c: ApiCall) =>
  c.method === 'chat.postMessage' &&
  c.args.thread_ts !== undefined &&
  new RegExp(`Backup of \`${target}\` (finished|failed)`).test(String(c.args.text));

describe('no secret leaks', () => {
  it('not in logs, pg_dump argv or environment, or Slack messages', async () => {
    const config = configYaml(servers, prefix, {
      'app-db': { db: DB, passwordEnv: 'DB_LOGIN' },
      'wrong-pw': { db: DB, passwordEnv: 'WRONG_PW' },
    });
    const { bot, slack } = await bots.start({ config, fakeToken: TEST_BOT_TOKEN, env: { DB_LOGIN: DB_PASSWORD, LOG_LEVEL: 'debug' } });
    await bot.waitFor('/readyz', (a) => a.status === 200);
    const acks: string[] = [];
    const command = async (text: string) => {
      const response = await bot.command(text);
      acks.push(response.text);
      return response;
    };

    // The bot's own command line holds no secret either.
    expectNoSecret("the bot's argv", await readFile(`/proc/${bot.pid}/cmdline`, 'utf8'));

    // pg_dump waits for the lock, so it can be read from /proc while it runs.
    const lock = await lockTable(servers.pg, DB);
    try {
      await command('run app-db');
      // Read pg_dump only once its own connection waits for the lock. Debian's /usr/bin/pg_dump is
      // a Perl wrapper (pg_wrapper) that execs the real binary in the same pid, and during an exec
      // /proc shows the new executable before the new argv is in place: both were seen to flake
      // this test. A session of pg_dump's waiting on the lock means the real binary is connected
      // and blocked, its argv and environment settled for as long as the lock is held.
      // Polled from its own session: inside the lock's transaction pg_stat_activity is a snapshot
      // taken at its first read, and would never show pg_dump arriving.
      const observer = await servers.pg.adminClient(DB);
      try {
        await eventually(
          async () => {
            const { rows } = await observer.query<{ n: number }>(
              `select count(*)::int as n from pg_locks l join pg_stat_activity a using (pid)
                where not l.granted and l.relation = 'customers'::regclass and a.application_name like 'dumptruck-%'`,
            );
            return rows[0]!.n > 0 ? true : undefined;
          },
          "pg_dump's session waiting on the locked table",
          60_000,
        );
      } finally {
        await observer.end();
      }
      const running = await childProcesses(bot.pid, 'pg_dump');
      expect(running).toHaveLength(1);
      const pid = running[0]!;
      expect(await runsBinary(pid, 'pg_dump'), 'the child is the real pg_dump binary, not the wrapper').toBe(true);
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      expect(argv).toContain('--no-password');
      expect(argv).toContain(servers.pg.url(DB));
      expectNoSecret("pg_dump's argv", argv.join(' '));

      const environ = await environOf(pid);
      // The password is in pg_dump's own environment, and only the password: none of the bot's secrets.
      expect(environ.PGPASSWORD).toBe(DB_PASSWORD);
      const { PGPASSWORD: _password, ...rest } = environ;
      expectNoSecret("pg_dump's environment (besides PGPASSWORD)", JSON.stringify(rest));
      expect(Object.keys(environ).filter((k) => /^(SLACK_|AWS_|DB_LOGIN|WRONG_PW|BACKUP_PW)/.test(k))).toEqual([]);
      // …and never in the bot's own variables under its usual name.
      expect((await environOf(bot.pid)).PGPASSWORD).toBeUndefined();
    } finally {
      await releaseLock(lock);
    }
    const finished = await slack.waitForCall(resultFor('app-db'), 60_000);
    expect(finished.args.text).toMatch(/finished/);

    // A failure with a wrong password: pg's error and stderr tail reach the thread, the password does not.
    await command('run wrong-pw');
    const failed = await slack.waitForCall(resultFor('wrong-pw'), 60_000);
    expect(failed.args.text).toMatch(/password authentication failed/);

    // Replies that carry links and keys.
    const link = await command('link app-db latest');
    const linkReply = await slack.waitForResponse(link.responseUrl, 30_000);
    expect(linkReply.body.text).toMatch(/X-Amz-Signature=[0-9a-f]{64}/);
    const list = await command('list app-db');
    await slack.waitForResponse(list.responseUrl, 30_000);
    await command('status');
    await command('help');

    bot.child.kill('SIGTERM');
    expect((await bot.exited).code, bot.stderr()).toBe(0);

    // Everything Slack received: Web API calls (text, blocks), response_url posts, command acks.
    // The bot token itself goes to Slack as the credential (a bearer header, and auth.test's
    // `token` field): that is authentication, not content, and it goes nowhere else.
    expect(slack.calls.filter((c) => 'token' in c.args).map((c) => c.method)).toEqual(['auth.test']);
    const content = slack.calls.map((c) => {
      const { token: _token, ...args } = c.args;
      return { method: c.method, args };
    });
    const toSlack = JSON.stringify({ calls: content, responses: slack.responses, acks });
    expectNoSecret('what Slack received', toSlack);
    // Presigned URLs carry a signature by design (it is the link); it never appears outside one.
    const signatures = toSlack.match(/X-Amz-Signature=/g) ?? [];
    const inLinks = toSlack.match(/https?:\/\/[^\s"'<>|\\]*X-Amz-Signature=[0-9a-f]{64}/g) ?? [];
    expect(signatures.length).toBeGreaterThanOrEqual(2);
    expect(inLinks.length).toBe(signatures.length);

    // The logs: JSON lines at debug level, with job lines, and no secret or live signature anywhere.
    const logs = `${bot.stdout()}\n${bot.stderr()}`;
    const lines = bot
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.level === 'debug')).toBe(true);
    expect(lines.some((l) => l.msg === 'backup finished' && l.target === 'app-db')).toBe(true);
    expect(lines.some((l) => l.msg === 'backup failed' && l.target === 'wrong-pw')).toBe(true);
    expectNoSecret('the logs', logs);
    expect(logs).not.toMatch(/X-Amz-Signature=(?!\[redacted\])/i);
    expect(logs).not.toMatch(/PGPASSWORD=(?!\[redacted\])/);
  });

  it('an age identity (private key) is not in logs or Slack messages, through backups and verifications that decrypt and fail to', async () => {
    const alice = ageKeygen();
    const mallory = ageKeygen();
    const identities = { "the recipient's identity": alice.identity, 'a wrong identity': mallory.identity };
    const expectNoIdentity = (where: string, text: string) => {
      for (const [name, value] of Object.entries(identities)) expect(text.includes(value), `${name} appears in ${where}`).toBe(false);
      // Not even its body without the prefix.
      for (const value of Object.values(identities))
        expect(text.includes(value.slice('AGE-SECRET-KEY-1'.length)), `a private key appears in ${where}`).toBe(false);
    };
    const config = configYaml(servers, prefix, {
      sealed: { db: DB, passwordEnv: 'DB_LOGIN', extra: `encrypt: { recipients: [${alice.recipient}], identity: { env: SEALED_KEY } }` },
      'sealed-wrong': {
        db: DB,
        passwordEnv: 'DB_LOGIN',
        extra: `encrypt: { recipients: [${alice.recipient}], identity: { env: OTHER_KEY } }`,
      },
    });
    const { bot, slack } = await bots.start({
      config,
      fakeToken: TEST_BOT_TOKEN,
      env: { DB_LOGIN: DB_PASSWORD, SEALED_KEY: alice.identity, OTHER_KEY: mallory.identity, LOG_LEVEL: 'debug' },
    });
    await bot.waitFor('/readyz', (a) => a.status === 200);
    const acks: string[] = [];
    for (const target of ['sealed', 'sealed-wrong']) {
      acks.push((await bot.command(`run ${target}`)).text);
      const finished = await slack.waitForCall(resultFor(target), 60_000);
      expect(finished.args.text).toMatch(/Encrypted with age to 1 recipient .*age -d -i key\.txt .*\.sql\.gz\.age \| gunzip \| psql/);
    }
    acks.push((await bot.command('verify sealed latest')).text);
    const verified = await slack.waitForCall(
      (c) => c.method === 'chat.postMessage' && /of `sealed` is verified/.test(String(c.args.text)),
      60_000,
    );
    expect(verified.args.text).toMatch(/age --decrypt with encrypt\.identity authenticated every chunk/);
    acks.push((await bot.command('verify sealed-wrong latest')).text);
    const refused = await slack.waitForCall(
      (c) => c.method === 'chat.postMessage' && /of `sealed-wrong` could not be verified/.test(String(c.args.text)),
      60_000,
    );
    expect(refused.args.text).toMatch(/the configured identity is not one of the backup's recipients/);

    bot.child.kill('SIGTERM');
    expect((await bot.exited).code, bot.stderr()).toBe(0);
    expectNoIdentity('what Slack received', JSON.stringify({ calls: slack.calls, responses: slack.responses, acks }));
    expectNoIdentity('the logs', `${bot.stdout()}\n${bot.stderr()}`);
  });
});
