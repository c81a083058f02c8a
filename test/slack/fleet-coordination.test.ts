// Alerts in a fleet, as `npm start` runs it (node dist/slack/main.js): real bot processes sharing
// one state database (a database of this file's own) and one fake Slack, backing up the shared
// PostgreSQL into versitygw. The same alert delivered to two replicas gives one run and one
// thread; a retry scheduled before a restart is carried out by the restarted bot; a restore asked
// for on one replica is approved on another; a schedule every few seconds runs once per fire time.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { botProcesses, eventually, type BotProcess } from '../helpers/bot-process.js';
import { configYaml, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';
import { startFakeSlack, type ApiCall, type FakeSlack } from '../helpers/slack-fake.js';
import { sendEvent, TEST_SIGNING_SECRET } from '../helpers/slack-sign.js';

const servers = testServers();
const prefix = uniquePrefix('fleet-coord');
const SRC = 'fleet_alerts_src';
const STATE_DB = 'fleet_alerts_state';
const ALERTS = 'C0ALERTS';
const COPY = 'fleet_alerts_restored';
const restoreOn = `url: ${servers.pg.url('postgres', servers.pg.superuser.user)}, password: { env: STATE_PW }, approvers: [U0ALICE, U0BOB]`;
const bots = botProcesses(servers);

const config = configYaml(
  servers,
  prefix,
  {
    'same-db': { db: SRC },
    'retry-db': { db: SRC, passwordEnv: 'RETRY_PW' },
    'restore-db': { db: SRC, extra: `channels: [C0OPS]\nrestore: { ${restoreOn} }` },
  },
  `alerts:
  channels: [${ALERTS}]
  retry: { attempts: 2, backoff: 4s }
state:
  url: ${servers.pg.url(STATE_DB, servers.pg.superuser.user)}
  password: { env: STATE_PW }
`,
);

let slack: FakeSlack;

beforeAll(async () => {
  await seedDatabase(servers.pg, SRC, 200);
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.createDatabase(STATE_DB);
}, 60_000);

afterAll(async () => {
  await servers.pg.dropDatabase(COPY);
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.dropDatabase(SRC);
});

beforeEach(async () => {
  slack = await startFakeSlack({ token: TEST_BOT_TOKEN });
});

afterEach(async () => {
  await slack.close();
});

/** A replica on the shared fake Slack and state database, ready for events. */
async function replica(env: Record<string, string> = {}): Promise<BotProcess> {
  const { bot } = await bots.start({
    config,
    slack,
    env: { STATE_PW: servers.pg.superuser.password, RETRY_PW: servers.env.BACKUP_PW!, ...env },
  });
  await bot.waitFor('/readyz', (a) => a.status === 200);
  return bot;
}

/** A person's failure alert in the alerts channel, as Slack delivers it to `bot`. */
const deliver = (bot: BotProcess, target: string, ts: string, eventId: string) =>
  sendEvent(
    `${bot.base}/slack/events`,
    TEST_SIGNING_SECRET,
    { type: 'message', channel: ALERTS, channel_type: 'channel', user: 'U0ALICE', text: `Backup failure: ${target}`, ts },
    eventId,
  );

const inThread = (ts: string) => slack.ok('chat.postMessage').filter((c) => c.args.thread_ts === ts);
const text = (c: ApiCall) => String(c.args.text).split('\n')[0]!;
const logged = (bot: BotProcess, msg: string) => bot.stdout().includes(`"msg":"${msg}"`) || undefined;

describe('alerts in a fleet', () => {
  it('the same alert delivered to two replicas at once gives one run and one thread', async () => {
    const [a, b] = await Promise.all([replica(), replica()]);
    const ts = '1764300000.000100';
    // Slack re-delivers to whichever replica answers; here both get it at the same moment.
    const answers = await Promise.all([deliver(a, 'same-db', ts, 'EvSame'), deliver(b, 'same-db', ts, 'EvSame')]);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);

    const result = await slack.waitForCall(
      (c) => c.args.thread_ts === ts && /^:white_check_mark: Backup of `same-db`/.test(String(c.args.text)),
      60_000,
    );
    // The other replica has given the alert up by now (its claim came back lost).
    const loser = await eventually(
      () => [a, b].find((r) => logged(r, 'alert left to the run of another replica')),
      'the losing replica',
      30_000,
    );
    expect(String(result.args.text)).toContain(`${prefix}/same-db/`);
    expect(inThread(ts).filter((c) => /^:(white_check_mark|x): Backup of/.test(text(c)))).toHaveLength(1);
    expect(loser.stdout()).not.toContain('"msg":"backup started"');
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/same-db/`)).toHaveLength(2);

    // Another alert for the target, within the window, on the replica that did not run it: it joins, and says where the run is.
    const later = '1764300000.000150';
    await deliver(loser, 'same-db', later, 'EvLater');
    const joined = await slack.waitForCall((c) => c.args.thread_ts === later, 30_000);
    expect(joined.args.text).toBe(
      `:link: Already on it: a backup of \`same-db\` was started for an earlier alert. Follow it in the <https://fake.slack.com/archives/${ALERTS}/p${ts.replace('.', '')}|thread>; this alert does not start another.`,
    );
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/same-db/`)).toHaveLength(2);
  });

  it('an alert that starts no run (an unknown target) delivered to two replicas is answered once', async () => {
    const [a, b] = await Promise.all([replica(), replica()]);
    const ts = '1764300000.000300';
    await Promise.all([deliver(a, 'nosuch-db', ts, 'EvUnknown'), deliver(b, 'nosuch-db', ts, 'EvUnknown')]);
    const answer = await slack.waitForCall((c) => c.args.thread_ts === ts, 30_000);
    expect(String(answer.args.text)).toMatch(/^:grey_question: This reads as a backup failure/);
    await eventually(() => [a, b].find((r) => logged(r, 'alert answered by another replica')), 'the other replica', 30_000);
    expect(inThread(ts)).toHaveLength(1);
  });

  it('a retry scheduled before a restart is carried out by the restarted bot, in the alert thread', async () => {
    // The first process has the wrong password: its attempt fails and a retry is scheduled.
    const first = await replica({ RETRY_PW: servers.env.WRONG_PW! });
    const ts = '1764300000.000200';
    await deliver(first, 'retry-db', ts, 'EvRetry');
    await slack.waitForCall(
      (c) => c.args.thread_ts === ts && /^:repeat: Attempt 1 of 2 failed\. Retrying/.test(String(c.args.text)),
      60_000,
    );
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(
      inThread(ts)
        .map(text)
        .filter((t) => /^:(white_check_mark|octagonal_sign|stop_sign)/.test(t)),
    ).toEqual([]);

    // Restarted with the right password: it takes the retry on when it is due.
    const second = await replica();
    const done = await slack.waitForCall(
      (c) => c.args.thread_ts === ts && /^:white_check_mark: Backup of `retry-db`/.test(String(c.args.text)),
      60_000,
    );
    expect(String(done.args.text)).toContain(`${prefix}/retry-db/`);
    expect(second.stdout()).toContain('"msg":"took on alert reruns waiting for a retry"');
    expect(
      inThread(ts)
        .map(text)
        .filter((t) => /^:(x|white_check_mark|repeat):/.test(t)),
    ).toEqual([
      ':x: Backup of `retry-db` failed (stage `connect`). Nothing was stored.',
      ':repeat: Attempt 1 of 2 failed. Retrying the backup of `retry-db` in 4s (attempt 2 of 2).',
      ':white_check_mark: Backup of `retry-db` finished.',
    ]);
  });
});

describe('restore approvals in a fleet', () => {
  it('a restore asked for on one replica is approved on another, and restores there', async () => {
    const [a, b] = await Promise.all([replica(), replica()]);
    await a.command('run restore-db', { channel_id: 'C0OPS', user_id: 'U0ALICE' });
    await slack.waitForCall((c) => /^:white_check_mark: Backup of `restore-db`/.test(String(c.args.text)), 60_000);

    await a.command(`restore restore-db latest into ${COPY}`, { channel_id: 'C0OPS', user_id: 'U0ALICE' });
    const request = await slack.waitForCall(
      (c) => c.method === 'chat.postMessage' && /^:rotating_light: Restore requested/.test(String(c.args.text)),
      30_000,
    );
    const id = (request.args.blocks as any[]).find((block) => block.type === 'actions').elements[0].value as string;

    // A restore shares the fleet's queue with backups (one job per target): wait until the other
    // replica's picture of the fleet, up to a refresh old, no longer has the backup.
    await eventually(
      async () =>
        (await b.command('status', { channel_id: 'C0OPS', user_id: 'U0ALICE' })).json?.text?.includes('restore-db') ? undefined : true,
      'the other replica to see the backup ended',
    );
    // The click lands on the other replica, which never saw the request.
    const click = await b.button({ actionId: 'dumptruck_restore_approve', value: id, messageTs: request.ts!, user_id: 'U0BOB' });
    expect(click.status).toBe(200);
    const done = await slack.waitForCall(
      (c) => c.args.thread_ts === request.ts && /^:(white_check_mark|x): Restore(d| of) .*`restore-db`/.test(String(c.args.text)),
      60_000,
    );
    expect(String(done.args.text)).toMatch(new RegExp(`^:white_check_mark: Restored \`[^\`]+\` of \`restore-db\` into \`${COPY}\``));
    expect(b.stdout()).toContain('"msg":"restore approved"');
    // Decided once, for both replicas: a second click on the first replica is told so.
    const again = await a.button({ actionId: 'dumptruck_restore_approve', value: id, messageTs: request.ts!, user_id: 'U0BOB' });
    expect(String((await slack.waitForResponse(again.responseUrl, 30_000)).body.text)).toBe(
      'that restore request was already approved by <@U0BOB>',
    );
  });
});

describe('schedules in a fleet', () => {
  /** What each replica logged about each fire time: `took` (queued, or skipped for a job under way) or `left`. */
  const fires = (bot: BotProcess) =>
    bot
      .stdout()
      .split('\n')
      // The last piece may be a line still being written.
      .slice(0, -1)
      .map((line) => JSON.parse(line) as { msg: string; target?: string; scheduledFor?: string })
      .filter((l) => l.target === 'tick-db' && l.scheduledFor)
      .flatMap((l): Array<[string, 'took' | 'left']> => {
        if (l.msg === 'scheduled backup left to the replica that claimed this fire time') return [[l.scheduledFor!, 'left']];
        if (/^scheduled backup (queued|skipped)/.test(l.msg)) return [[l.scheduledFor!, 'took']];
        return [];
      });

  it('two replicas with a schedule every 3 seconds: each fire time is taken by exactly one of them', async () => {
    const ticking = configYaml(
      servers,
      uniquePrefix('fleet-tick'),
      { 'tick-db': { db: SRC, extra: 'schedule: "*/3 * * * * *"' } },
      `state:\n  url: ${servers.pg.url(STATE_DB, servers.pg.superuser.user)}\n  password: { env: STATE_PW }\n`,
    );
    const env = { STATE_PW: servers.pg.superuser.password, LOG_LEVEL: 'debug' };
    const [a, b] = await Promise.all([bots.start({ config: ticking, slack, env }), bots.start({ config: ticking, slack, env })]);
    // Fire times both replicas have reached, three of them.
    const settled = await eventually(
      () => {
        const [fromA, fromB] = [fires(a.bot), fires(b.bot)];
        const both = [...new Set(fromA.map(([at]) => at))].filter((at) => fromB.some(([t]) => t === at));
        return both.length >= 3 ? { both, all: [...fromA, ...fromB] } : undefined;
      },
      'three fire times seen by both replicas',
      60_000,
    );
    for (const at of settled.both)
      expect(
        settled.all
          .filter(([t]) => t === at)
          .map(([, what]) => what)
          .sort(),
      ).toEqual(['left', 'took']);
  });
});
