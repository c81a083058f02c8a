// SIGTERM to the real bot process (`node dist/slack/main.js`, HTTP mode) while a backup streams:
// the graceful path (stop intake, let the backup finish within shutdown.graceTimeout, else cancel
// it cleanly, update its thread, exit 0) and the impatient one (a second signal).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTARTING } from '../../src/jobs/shutdown.js';
import { botProcesses, childProcesses, eventually, type BotProcess } from '../helpers/bot-process.js';
import { configYaml, lockTable, releaseLock, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';
import type { ApiCall, FakeSlack } from '../helpers/slack-fake.js';

const servers = testServers();
const BIG = 'dt_shutdown_big';
const bots = botProcesses(servers);

beforeAll(async () => {
  // Large enough that its dump streams for several seconds, past the first 5 MiB part.
  await seedDatabase(servers.pg, BIG, 1_000_000);
});

afterAll(async () => {
  await servers.pg.dropDatabase(BIG);
});

/** A bot whose config has targets `big` (the large database) and `small`, and this grace period. */
async function start(graceTimeout: string): Promise<{ bot: BotProcess; slack: FakeSlack; prefix: string }> {
  const prefix = uniquePrefix('shutdown');
  const config = configYaml(
    servers,
    prefix,
    { big: { db: BIG }, small: { db: 'postgres' } },
    `shutdown:\n  graceTimeout: ${graceTimeout}\n`,
  );
  const { bot, slack } = await bots.start({ config, fakeToken: TEST_BOT_TOKEN });
  await bot.waitFor('/readyz', (a) => a.status === 200);
  return { bot, slack, prefix };
}

const isResult = (target: string) => (c: ApiCall) =>
  c.method === 'chat.postMessage' &&
  c.args.thread_ts !== undefined &&
  new RegExp(`Backup of \`${target}\` (finished|failed|cancelled|.*Nothing was stored)`).test(String(c.args.text));

/** The multipart upload of `target`'s backup, once one is in progress. */
async function uploadInProgress(prefix: string, target: string): Promise<void> {
  await eventually(
    async () => ((await uploadsUnder(`${prefix}/${target}/`)).length > 0 ? true : undefined),
    `a multipart upload under ${prefix}/${target}/`,
    90_000,
    200,
  );
}

async function uploadsUnder(keyPrefix: string): Promise<string[]> {
  return (await servers.s3.listMultipartUploads(servers.bucket)).map((u) => u.Key ?? '').filter((k) => k.startsWith(keyPrefix));
}

async function expectNothingLeft(prefix: string, target: string): Promise<void> {
  expect(await servers.s3.listKeys(servers.bucket, `${prefix}/${target}/`)).toEqual([]);
  expect(await uploadsUnder(`${prefix}/${target}/`)).toEqual([]);
}

/** Draining: /readyz says so (and the process has its `draining` flag set). */
function waitForDraining(b: BotProcess) {
  return b.waitFor('/readyz', (a) => a.status === 503 && a.json?.checks?.slack?.detail === 'shutting down', 15_000);
}

describe('SIGTERM to the running bot', () => {
  it('grace period over: the running backup is cancelled cleanly, its thread says why, nothing is left, exit 0', async () => {
    const graceMs = 1000;
    const { bot: b, slack: s, prefix } = await start('1s');
    expect((await b.command('run big')).status).toBe(200);
    // Mid-stream: a part has been uploaded, so there is a real multipart upload to abort.
    await uploadInProgress(prefix, 'big');
    const signalledAt = Date.now();
    b.child.kill('SIGTERM');
    const exit = await b.exited;
    expect(exit.code, b.stderr()).toBe(0);
    // Grace period, then the cancel's cleanup and the last thread updates: far below any
    // orchestrator's kill timeout (Kubernetes: 30 s by default), generous for a loaded machine.
    expect(exit.at - signalledAt).toBeLessThan(graceMs + 20_000);

    const result = s.calls.find(isResult('big'));
    expect(result?.args.text).toBe(
      ':no_entry_sign: Backup of `big` cancelled: the bot is restarting and the backup did not finish within the grace period; run it again once it is back. Nothing was stored.',
    );
    // The status message lost its Cancel button, and the parent says how it ended.
    const parentTs = String(result!.args.thread_ts);
    const parentEdits = s.ok('chat.update').filter((c) => c.args.ts === parentTs);
    expect(parentEdits.at(-1)?.args.text).toMatch(/cancelled/);
    await expectNothingLeft(prefix, 'big');
    // pg_dump was killed, not orphaned: its session on the server goes away.
    await eventually(async () => ((await dumpSessions(BIG)) === 0 ? true : undefined), 'no dumptruck session left on the database', 15_000);
    const log = b.stdout();
    expect(log).toContain('grace period over: cancelling running backups');
    expect(log).toContain('shut down cleanly');
  });

  it('within the grace period: takes no new runs (restarting reply), lets the running backup finish, then exits 0', async () => {
    const { bot: b, slack: s, prefix } = await start('2m');
    // Hold the dump at its start (pg_dump waits for a lock) until the draining checks are done,
    // so the backup is certainly still running while they happen.
    const lock = await lockTable(servers.pg, BIG);
    try {
      expect((await b.command('run big')).status).toBe(200);
      await eventually(async () => ((await childProcesses(b.pid, 'pg_dump')).length > 0 ? true : undefined), 'pg_dump running', 60_000);
      b.child.kill('SIGTERM');
      await waitForDraining(b);

      // New runs are refused with the restarting reply, and nothing is queued for them.
      const refused = await b.command('run small');
      expect(refused.status).toBe(200);
      expect(refused.json?.text).toContain(RESTARTING);
      expect(refused.json?.text).toBe(
        `Not started: ${RESTARTING}, and takes no new backups until it is back. Run \`/backup run small\` again in a minute.`,
      );
      // So is the Retry button of an earlier failure.
      const retry = await b.button({
        actionId: 'dumptruck_retry',
        value: JSON.stringify({ target: 'small', ownParent: true }),
        messageTs: '1700000001.000100',
      });
      expect(retry.status).toBe(200);
      expect((await s.waitForResponse(retry.responseUrl)).body.text).toBe(refused.json?.text);
      // Other commands still answer.
      const status = await b.command('status');
      expect(status.json?.text).toContain('big');
      expect(b.child.exitCode).toBeNull();
    } finally {
      await releaseLock(lock);
    }
    const exit = await b.exited;
    expect(exit.code, b.stderr()).toBe(0);

    const result = s.calls.find(isResult('big'));
    expect(result?.args.text).toMatch(/^:white_check_mark: Backup of `big` finished\./);
    const keys = await servers.s3.listKeys(servers.bucket, `${prefix}/big/`);
    // The dump and its manifest: the backup is complete.
    expect(keys).toEqual([keys[0], `${keys[0]}.manifest.json`]);
    expect(result!.args.text).toContain(`Key: ${keys[0]}`);
    expect(result!.args.text).toMatch(/Download \(link expires .*\): http/);
    expect(await uploadsUnder(`${prefix}/big/`)).toEqual([]);
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/small/`)).toEqual([]);
    expect(s.calls.some((c) => c.method === 'chat.postMessage' && String(c.args.text).includes('`small`'))).toBe(false);
    expect(b.stdout()).toContain('shut down cleanly');
    expect(b.stdout()).not.toContain('grace period over');
  });

  it('a second signal: cancels at once, still aborts the upload, exits 1 without waiting for the grace period', async () => {
    const { bot: b, prefix } = await start('2m');
    expect((await b.command('run big')).status).toBe(200);
    await uploadInProgress(prefix, 'big');
    const signalledAt = Date.now();
    b.child.kill('SIGTERM');
    await waitForDraining(b);
    b.child.kill('SIGTERM');
    const exit = await b.exited;
    expect(exit.code, b.stderr()).toBe(1);
    expect(exit.at - signalledAt).toBeLessThan(20_000);
    await expectNothingLeft(prefix, 'big');
    expect(b.stdout()).toContain('second signal: cancelling every backup now and exiting');
  });
});

async function dumpSessions(db: string): Promise<number> {
  const client = await servers.pg.adminClient();
  try {
    const { rows } = await client.query<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where datname = $1 and application_name like 'dumptruck-%'",
      [db],
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}
