// A fleet: two real bot processes (`node dist/slack/main.js`) sharing one state database, one
// fake Slack workspace, the real PostgreSQL and versitygw. Which replica runs a job is read from
// the state database (fleet_jobs while it runs, the runs history once it has ended).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { botProcesses, type BotProcess } from '../helpers/bot-process.js';
import { configYaml, lockTable, releaseLock, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';
import { startFakeSlack, type FakeSlack } from '../helpers/slack-fake.js';

const servers = testServers();
const prefix = uniquePrefix('fleet');
const STATE_DB = 'fleet_state';
const SOURCE = 'fleet_source';
const bots = botProcesses(servers);
const env = { STATE_PW: servers.pg.superuser.password };
let slack: FakeSlack;

const config = configYaml(
  servers,
  prefix,
  // other-db, third-db: more targets on the same database, to keep replicas busy with held backups.
  { 'app-db': { db: SOURCE }, 'other-db': { db: SOURCE }, 'third-db': { db: SOURCE } },
  `queue:\n  concurrency: 1\nshutdown:\n  graceTimeout: 1s\nstate:\n  url: ${servers.pg.url(STATE_DB, servers.pg.superuser.user)}\n  password: { env: STATE_PW }\n  staleAfter: 2s\n`,
);

beforeAll(async () => {
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.createDatabase(STATE_DB);
  await seedDatabase(servers.pg, SOURCE, 2000);
  slack = await startFakeSlack({ token: TEST_BOT_TOKEN });
});

afterAll(async () => {
  await slack?.close();
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.dropDatabase(SOURCE);
});

async function stateRows<R>(sql: string): Promise<R[]> {
  const client = await servers.pg.adminClient(STATE_DB);
  try {
    return (await client.query(sql)).rows as R[];
  } finally {
    await client.end();
  }
}

async function until<T>(get: () => Promise<T | undefined> | T | undefined, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await get();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function replicas(n: number): Promise<BotProcess[]> {
  const started = await Promise.all(Array.from({ length: n }, () => bots.start({ config, fakeToken: TEST_BOT_TOKEN, env, slack })));
  const list = started.map((s) => s.bot);
  await Promise.all(list.map((b) => b.waitFor('/readyz', (a) => a.status === 200, 60_000)));
  return list;
}

/**
 * The replica (`host:pid`) that has the target's running job, from the state database, once its
 * thread is recorded too (a replica killed before that leaves a job whose thread nobody knows).
 */
async function runner(bots: BotProcess[]): Promise<{ bot: BotProcess; other: BotProcess; replica: string }> {
  const replica = await until(async () => {
    const rows = await stateRows<{ replica: string }>(
      `select f.replica from dumptruck.fleet_jobs f join dumptruck_boss.job j on j.id = f.boss_id where j.state = 'active' and f.replica is not null and f.place is not null`,
    );
    return rows[0]?.replica;
  }, 'a replica to run the job');
  const bot = bots.find((b) => replica.endsWith(`:${b.pid}`));
  const other = bots.find((b) => b !== bot);
  if (!bot || !other) throw new Error(`no bot runs as ${replica}`);
  return { bot, other, replica };
}

/**
 * Two replicas and a backup of app-db held at pg_dump's start (a lock on one of its tables) on one
 * of them: `fn` gets the replica running it; the lock is released when `fn` ends. Resolves with
 * the number of runs recorded before.
 */
async function withHeldBackup(fn: (running: Awaited<ReturnType<typeof runner>>) => Promise<void>): Promise<number> {
  const fleet = await replicas(2);
  const before = (await runsOf()).length;
  const lock = await lockTable(servers.pg, SOURCE);
  try {
    await fleet[0]!.command('run app-db');
    await fn(await runner(fleet));
  } finally {
    await releaseLock(lock);
  }
  return before;
}

/** The next message in a thread whose text matches. */
const posted = (pattern: RegExp, what: string, ms?: number) =>
  until(() => slack.calls.find((c) => c.method === 'chat.postMessage' && pattern.test(text(c))), what, ms);

const runsOf = () =>
  stateRows<{ outcome: string; replica: string; key: string | null }>(
    `select outcome, replica, key from dumptruck.runs where target = 'app-db' order by id`,
  );
const uploadsLeft = async () => (await servers.s3.listMultipartUploads(servers.bucket)).filter((u) => u.Key?.startsWith(`${prefix}/`));
const text = (c: { args: Record<string, unknown> }) => String(c.args.text ?? '');

describe('a fleet of bot processes on one state database', () => {
  it('runs the same /backup run sent to two replicas at once once', async () => {
    const [a, b] = await replicas(2);
    await Promise.all([a!.command('run app-db'), b!.command('run app-db')]);
    await until(async () => (await runsOf()).length === 1, 'the run to be recorded');
    // Long enough for a second run to have started and ended, had there been one.
    await sleep(3000);
    const runs = await runsOf();
    expect(runs).toHaveLength(1);
    expect(runs[0]!.outcome).toMatch(/^(succeeded|flagged)$/);
    await until(
      () => slack.calls.find((c) => c.method === 'chat.postMessage' && /Backup of `app-db` finished/.test(text(c))),
      'the result',
    );
  });

  it('cancels, from one replica, a backup running on another: nothing stored, no upload left', async () => {
    const keysBefore = await servers.s3.listKeys(servers.bucket, `${prefix}/`);
    await withHeldBackup(async ({ other, replica }) => {
      const before = (await runsOf()).length;
      // Each replica's picture of the fleet is at most a refresh old: ask once it shows the job running elsewhere.
      await until(async () => (await other.command('status')).json?.text?.includes(`on \`${replica}\``), 'the other replica to see it');
      const ack = await other.command('cancel app-db');
      expect(ack.status).toBe(200);
      const runs = await until(async () => {
        const rows = await runsOf();
        return rows.length > before ? rows : undefined;
      }, 'the cancelled run to be recorded');
      expect(runs.at(-1)).toEqual({ outcome: 'cancelled', replica, key: null });
      await posted(/cancelled by <@/, 'the thread to say so');
    });
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/`)).toEqual(keysBefore);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('SIGKILL of the replica running a backup: its thread is told, another replica runs it again to the end', async () => {
    let killed = '';
    const before = await withHeldBackup(async ({ bot, replica }) => {
      killed = replica;
      bot.child.kill('SIGKILL');
      await bot.exited;
      await posted(new RegExp(`The worker running this \\(\`${replica}\`\\) stopped`), 'the thread to be told', 30_000);
    });
    const runs = await until(async () => {
      const rows = await runsOf();
      return rows.length > before ? rows : undefined;
    }, 'the retry to be recorded');
    expect(runs).toHaveLength(before + 1);
    expect(runs.at(-1)!.outcome).toMatch(/^(succeeded|flagged)$/);
    expect(runs.at(-1)!.replica).not.toBe(killed);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('SIGTERM of the replica running a backup: past the grace period it goes back in the queue and another replica finishes it', async () => {
    let stopped = '';
    const before = await withHeldBackup(async ({ bot, replica }) => {
      stopped = replica;
      bot.child.kill('SIGTERM');
      expect((await bot.exited).code).toBe(0);
      await posted(/back in the queue for another replica/, 'the thread to say so');
    });
    const runs = await until(async () => {
      const rows = await runsOf();
      return rows.some((r, i) => i >= before && /^(succeeded|flagged)$/.test(r.outcome)) ? rows : undefined;
    }, 'another replica to finish it');
    expect(runs.slice(before).map((r) => [r.outcome.replace('flagged', 'succeeded'), r.replica === stopped])).toEqual([
      ['cancelled', true],
      ['succeeded', false],
    ]);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('refuses /backup verify on one replica as target-busy while another replica backs the target up', async () => {
    await withHeldBackup(async ({ other, replica }) => {
      await until(async () => (await other.command('status')).json?.text?.includes(`on \`${replica}\``), 'the other replica to see it');
      const reply = await other.command('verify app-db');
      expect(reply.json?.text).toMatch(
        /a backup of app-db is under way; one operation per database at a time, so this verification was not started/,
      );
    });
  });

  it('a verification asked of a replica that then stops runs on another, which reports its result in the thread', async () => {
    const fleet = await replicas(2);
    const before = (await runsOf()).length;
    await fleet[0]!.command('run app-db');
    await until(async () => (await runsOf()).length > before, 'a backup of app-db to verify');
    const lock = await lockTable(servers.pg, SOURCE);
    const asked = fleet[0]!;
    try {
      // Both replicas' one slot taken by held backups: the verification waits in the fleet.
      await Promise.all([fleet[0]!.command('run other-db'), fleet[1]!.command('run third-db')]);
      await until(async () => (await stateRows(`select 1 from dumptruck_boss.job where state = 'active'`)).length === 2, 'both to run');
      await asked.command('verify app-db');
      await until(
        async () =>
          (
            await stateRows(
              `select 1 from dumptruck.fleet_jobs f join dumptruck_boss.job j on j.id = f.boss_id where j.data->>'kind' = 'verify' and f.place is not null`,
            )
          ).length === 1,
        'the verification thread to be recorded',
      );
      // The asking replica leaves (its held backup goes back in the queue): only the other one can report from now on.
      asked.child.kill('SIGTERM');
      await asked.exited;
    } finally {
      await releaseLock(lock);
    }
    await until(
      () => slack.calls.find((c) => /Verification of `app-db` requested by .*: `[^`]+` is good/.test(text(c))),
      'the other replica to show the verification good in the thread',
    );
    const ran = await stateRows<{ replica: string }>(
      `select f.replica from dumptruck.fleet_jobs f join dumptruck_boss.job j on j.id = f.boss_id where j.data->>'kind' = 'verify'`,
    );
    expect(ran.map((r) => r.replica.endsWith(`:${fleet[1]!.pid}`))).toEqual([true]);
  });
});
