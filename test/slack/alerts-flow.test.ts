// Alerts end to end: signed event callbacks into Bolt's real HTTP receiver, the recording fake of
// the Slack Web API, and behind them the real runner on the shared PostgreSQL and versitygw.
// Retry waits run on a timer the test fires by hand; everything else is real.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import type { RunBackup } from '../../src/jobs/types.js';
import type { AlertDecision } from '../../src/slack/alerts/intake.js';
import { createCatalog } from '../../src/storage/catalog.js';
import { restoreFromUrl, seedDatabase, tableDigests, testConfig, testServers, uniquePrefix, type TargetSpec } from '../helpers/fixtures.js';
import { startTestBot, type TestBot } from '../helpers/slack-bot.js';
import type { ApiCall } from '../helpers/slack-fake.js';

const servers = testServers();
const SRC = 'alert_src';
const prefix = uniquePrefix('alerts');
const ALERTS = 'C0ALERTS';
const PRIVATE = 'G0ALERTS';

const targets: Record<string, TargetSpec> = {
  'app-db': { db: SRC, extra: 'alertNames: [pg-32lqva, app-db-prod]' },
  billing: { db: SRC, extra: 'alertNames: [billing-prod-1]' },
  orders: { db: SRC, format: 'custom', extra: 'alertNames: [orders-prod]' },
  storm: { db: SRC },
  flaky: { db: SRC, passwordEnv: 'FLAKY_PW' },
  nodb: { db: 'alert_does_not_exist' },
  locked: { db: SRC, extra: 'channels: [C0OPS]' },
  secret: { db: SRC, extra: 'users: [U0ADMIN]' },
};

/** `more`: extra lines of the alerts section, e.g. posters. */
function config(more = ''): Config {
  return testConfig(
    servers,
    prefix,
    targets,
    `alerts:
  channels: [${ALERTS}, ${PRIVATE}]
  retry: { attempts: 3, backoff: 1s }
  window: 10m
  escalate: [U0DBA, "<!subteam^S0ONCALL>"]
${more}`,
  );
}

/** Retry waits that pass only when the test says so. */
class ManualTimer {
  private readonly pending: Array<{ readonly ms: number; readonly fire: () => void; live: boolean }> = [];
  private waiter: (() => void) | undefined;
  readonly set = (callback: () => void, ms: number) => {
    const timer = { ms, fire: callback, live: true };
    this.pending.push(timer);
    this.waiter?.();
    return () => {
      timer.live = false;
    };
  };
  /** Resolves once a retry wait has begun, with its length. */
  async waiting(): Promise<number> {
    for (;;) {
      const timer = this.pending.find((t) => t.live);
      if (timer) return timer.ms;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** Waits for the next retry wait to begin, ends it, and returns how long it would have been. */
  async fire(): Promise<number> {
    const ms = await this.waiting();
    const timer = this.pending.find((t) => t.live)!;
    timer.live = false;
    timer.fire();
    return ms;
  }
}

interface Harness {
  readonly bot: TestBot;
  readonly decisions: AlertDecision[];
  readonly timer: ManualTimer;
  readonly env: Record<string, string>;
  /** Runs the real runner was asked for, by target. */
  readonly runs: (target: string) => number;
  /** Posts a message event into a channel; resolves once the bot has decided what it is. */
  alert(event: Record<string, unknown>, eventId?: string): Promise<AlertDecision>;
  /** Every message the bot posted in the thread of `ts`, in order. */
  thread(ts: string): ApiCall[];
  /** Waits for every run, retry and reply to finish. */
  settled(): Promise<void>;
}

let h: Harness | undefined;
let seq = 0;
let eventSeq = 0;
const nextTs = () => `${1_690_000_000 + ++seq}.000200`;

async function start(alertsYaml = ''): Promise<Harness> {
  const cfg = config(alertsYaml);
  const env = { ...servers.env, FLAKY_PW: 'not-the-password' };
  const real = createBackupRunner({ config: cfg, s3: servers.s3.client(), env, progressIntervalMs: 50 });
  const counts = new Map<string, number>();
  const runBackup: RunBackup = (request, options) => {
    counts.set(request.target, (counts.get(request.target) ?? 0) + 1);
    return real(request, options);
  };
  const decisions: AlertDecision[] = [];
  const watchers = new Set<() => void>();
  const timer = new ManualTimer();
  const bot = await startTestBot({
    config: cfg,
    runBackup,
    catalog: createCatalog({ s3: servers.s3.client(), storage: cfg.storage, env: servers.env }),
    app: {
      setTimer: timer.set,
      onAlertDecision: (d) => {
        decisions.push(d);
        for (const w of [...watchers]) w();
      },
    },
  });
  const decisionFor = (ts: string, after: number) =>
    new Promise<AlertDecision>((resolve, reject) => {
      const check = () => {
        const found = decisions.slice(after).find((d) => d.ts === ts);
        if (!found) return;
        watchers.delete(check);
        clearTimeout(timeout);
        resolve(found);
      };
      const timeout = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`no alert decision for ${ts}; decisions: ${JSON.stringify(decisions)}`));
      }, 10_000);
      watchers.add(check);
      check();
    });
  h = {
    bot,
    decisions,
    timer,
    env,
    runs: (target) => counts.get(target) ?? 0,
    async alert(event, eventId = `Ev${++eventSeq}`) {
      const ts = String((event.message as { ts?: string } | undefined)?.ts ?? event.deleted_ts ?? event.ts);
      const after = decisions.length;
      const response = await bot.event({ type: 'message', channel: ALERTS, channel_type: 'channel', ...event }, eventId);
      expect(response.status).toBe(200);
      return decisionFor(ts, after);
    },
    thread: (ts) => bot.slack.ok('chat.postMessage').filter((c) => c.args.thread_ts === ts),
    async settled() {
      await bot.bot.alerts.idle();
      await bot.bot.reporters.idle();
    },
  };
  return h;
}

afterEach(async () => {
  await h?.bot.stop();
  h = undefined;
});

beforeAll(async () => {
  await seedDatabase(servers.pg, SRC, 5_000);
}, 120_000);

afterAll(async () => {
  for (const db of ['alert_restored_text', 'alert_restored_webhook', 'alert_restored_blocks', 'alert_restored_ko', 'alert_restored_flaky'])
    await servers.pg.dropDatabase(db);
});

const isResult = (c: ApiCall) => /^:(white_check_mark|x|no_entry_sign): Backup of `/.test(String(c.args.text));

/** The run's result in the alert's thread (the `attempt`-th result there) is a success whose link restores to the source's exact content. */
async function expectRestorableIn(
  harness: Harness,
  alertTs: string,
  target: string,
  restoredDb: string,
  opts: { readonly format?: 'plain' | 'custom'; readonly attempt?: number } = {},
): Promise<void> {
  const results = () => harness.thread(alertTs).filter(isResult);
  const attempt = opts.attempt ?? 1;
  await harness.bot.slack.waitForCall(() => results().length >= attempt, 60_000);
  const result = results()[attempt - 1]!;
  const text = String(result.args.text);
  expect(text).toMatch(
    new RegExp(
      `^:white_check_mark: Backup of \`${target}\` finished\\.\\nKey: ${prefix}/${target}/\\d{4}/\\d{2}/\\d{2}/${target}_\\d{8}T\\d{6}Z-\\d{3}-[0-9a-f]{6}\\.(sql\\.gz|dump)$`,
      'm',
    ),
  );
  const url = /^Download \(link expires [^)]+\): (\S+)$/m.exec(text)?.[1];
  expect(url).toBeDefined();
  await restoreFromUrl(servers.pg, url!, opts.format ?? 'plain', restoredDb);
  expect(await tableDigests(servers.pg, restoredDb)).toEqual(await tableDigests(servers.pg, SRC));
}

describe("failure alerts rerun the backup, in the alert's thread", () => {
  it('a plain-text alert from a person: status and a restorable result in its thread, the alert itself untouched', async () => {
    const t = await start();
    const ts = nextTs();
    const decision = await t.alert({ user: 'U0ALICE', client_msg_id: 'c-1', text: 'Automated backup of pg-32lqva failed', ts });
    expect(decision).toMatchObject({ outcome: 'started', target: 'app-db', detail: 'backup of pg-32lqva failed' });
    await expectRestorableIn(t, ts, 'app-db', 'alert_restored_text');
    await t.settled();
    const posts = t.thread(ts);
    expect(posts[0]!.args.text).toMatch(/^(:hourglass_flowing_sand: `app-db` is queued|:arrow_forward: (Starting|Dumping))/);
    expect(posts).toHaveLength(2);
    // No parent of its own, and the alert is never edited: every edit is of the bot's status message.
    expect(t.bot.slack.ok('chat.postMessage').filter((c) => c.args.thread_ts === undefined)).toEqual([]);
    expect(t.bot.slack.ok('chat.update').every((c) => c.args.ts === posts[0]!.ts)).toBe(true);
    expect(t.runs('app-db')).toBe(1);
  });

  it('a webhook bot_message with its words only in attachments', async () => {
    const t = await start();
    const ts = nextTs();
    const decision = await t.alert({
      subtype: 'bot_message',
      bot_id: 'B0AWSCHAT',
      username: 'AWS Chatbot',
      text: '',
      ts,
      attachments: [
        {
          color: 'danger',
          title: 'RDS Notification',
          text: 'Backup job failed',
          fields: [
            { title: 'Source', value: '<https://console.aws.amazon.com/rds/home#database:id=billing-prod-1|billing-prod-1>', short: true },
            { title: 'Event', value: 'RDS-EVENT-0080', short: true },
          ],
          footer: 'Amazon RDS',
          fallback: 'RDS Notification: Backup job failed (billing-prod-1)',
        },
      ],
    });
    expect(decision).toMatchObject({ outcome: 'started', target: 'billing' });
    await expectRestorableIn(t, ts, 'billing', 'alert_restored_webhook');
  });

  it('Block Kit blocks from another app (header, section fields, context)', async () => {
    const t = await start();
    const ts = nextTs();
    const decision = await t.alert({
      bot_id: 'B0GRAFANA',
      app_id: 'A0GRAFANA',
      text: '',
      ts,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: '[FIRING:1] Backup failure' } },
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: '*Database*\n`app-db-prod`' },
            { type: 'mrkdwn', text: '*Severity*\ncritical' },
          ],
        },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'Grafana Alerting' }] },
      ],
    });
    expect(decision).toMatchObject({ outcome: 'started', target: 'app-db' });
    await expectRestorableIn(t, ts, 'app-db', 'alert_restored_blocks');
  });

  it('a Korean alert in a private channel (message.groups), rich text, custom format', async () => {
    const t = await start();
    const ts = nextTs();
    const decision = await t.alert({
      channel: PRIVATE,
      channel_type: 'group',
      user: 'U0BOB',
      text: '[NCP] orders-prod의 백업이 실패했습니다',
      ts,
      blocks: [
        {
          type: 'rich_text',
          elements: [{ type: 'rich_text_section', elements: [{ type: 'text', text: '[NCP] orders-prod의 백업이 실패했습니다' }] }],
        },
      ],
    });
    expect(decision).toMatchObject({ outcome: 'started', target: 'orders', channel: PRIVATE });
    await expectRestorableIn(t, ts, 'orders', 'alert_restored_ko', { format: 'custom' });
  });

  it('success and informational messages, other channels and thread replies start nothing', async () => {
    const t = await start();
    const quiet = [
      { user: 'U0ALICE', text: 'Backup completed for pg-32lqva' },
      { user: 'U0ALICE', text: 'Automated backup of app-db started' },
      { subtype: 'bot_message', bot_id: 'B0AWS', text: '', attachments: [{ title: 'Backup succeeded', text: 'app-db-prod' }] },
      { user: 'U0ALICE', text: 'app-db 백업 성공' },
      { user: 'U0ALICE', text: 'app-db 백업 완료' },
      { user: 'U0ALICE', text: 'app-db 백업 시작' },
      { bot_id: 'B0GRAFANA', text: '[RESOLVED] Backup failed for app-db' },
      { user: 'U0ALICE', text: '[복구됨] app-db 백업 실패' },
      { user: 'U0ALICE', text: 'Backup in progress: app-db' },
    ];
    for (const event of quiet) expect(await t.alert({ ...event, ts: nextTs() })).toMatchObject({ outcome: 'not-a-failure' });
    expect(await t.alert({ channel: 'C0OPS', user: 'U0ALICE', text: 'backup failed for app-db', ts: nextTs() })).toMatchObject({
      outcome: 'skipped',
      detail: 'not an alerts channel',
    });
    const parent = nextTs();
    expect(await t.alert({ user: 'U0ALICE', text: 'did the backup of app-db fail again?', ts: nextTs(), thread_ts: parent })).toMatchObject(
      { outcome: 'skipped', detail: 'thread reply' },
    );
    await t.settled();
    expect(t.bot.slack.ok('chat.postMessage')).toEqual([]);
    expect(t.runs('app-db')).toBe(0);
  });

  it("an unknown and an ambiguous database: a short reply in the alert's thread, no job", async () => {
    const t = await start();
    const unknown = nextTs();
    expect(await t.alert({ user: 'U0ALICE', text: 'Automated backup of pg-9xyz9 failed', ts: unknown })).toMatchObject({
      outcome: 'unknown-target',
    });
    const ambiguous = nextTs();
    expect(await t.alert({ user: 'U0ALICE', text: 'Backup failed: app-db and billing', ts: ambiguous })).toMatchObject({
      outcome: 'ambiguous',
      detail: 'app-db, billing',
    });
    await t.settled();
    expect(t.thread(unknown).map((c) => c.args.text)).toEqual([
      ':grey_question: This reads as a backup failure ("backup of pg-9xyz9 failed"), but no configured target\'s name or `alertNames` appears in it, so nothing was started. Identifiers in it: `pg-9xyz9`. To rerun backups on alerts like this one, add the database\'s identifier to its target in the config, e.g. `alertNames: [pg-9xyz9]`.',
    ]);
    expect(t.thread(ambiguous).map((c) => c.args.text)).toEqual([
      ':grey_question: This reads as a backup failure ("backup failed"), but it names more than one target: `app-db`, `billing`. Nothing was started. Make each target\'s `alertNames` match only its own database, or run `/backup run <target>` for the right one.',
    ]);
    expect(t.bot.bot.queue.status()).toEqual({ running: [], queued: [] });
    expect(t.runs('app-db') + t.runs('billing')).toBe(0);
  });

  it('a target whose channels do not allow the alert channel: no run, and the thread says why', async () => {
    const t = await start();
    const ts = nextTs();
    expect(await t.alert({ user: 'U0ALICE', text: 'backup failed: locked', ts })).toMatchObject({
      outcome: 'not-allowed',
      target: 'locked',
    });
    await t.settled();
    expect(t.thread(ts).map((c) => c.args.text)).toEqual([
      ':no_entry_sign: This reads as a backup failure of `locked` ("backup failed"), but `locked` may only be backed up from <#C0OPS>, so nothing was started here. Add <#C0ALERTS> to `targets.locked.channels` to rerun it on these alerts, or run `/backup run locked` in an allowed channel.',
    ]);
    expect(t.runs('locked')).toBe(0);
  });

  it('a duplicate delivery and an edit of a handled alert join its run: one run, no extra replies', async () => {
    const t = await start();
    const ts = nextTs();
    const event = { user: 'U0ALICE', client_msg_id: 'c-dup', text: 'backup failed on app-db', ts };
    expect(await t.alert(event, 'EvDup')).toMatchObject({ outcome: 'started', runId: 'r1' });
    // Slack's retry of the same delivery (same event_id) ...
    expect(await t.alert(event, 'EvDup')).toMatchObject({ outcome: 'duplicate', detail: 'r1' });
    // ... and the same message under another event id.
    expect(await t.alert(event)).toMatchObject({ outcome: 'duplicate', detail: 'r1' });
    // An edit: a message_changed carrying the original ts.
    const edit = {
      subtype: 'message_changed',
      hidden: true,
      ts: nextTs(),
      message: {
        type: 'message',
        user: 'U0ALICE',
        client_msg_id: 'c-dup',
        text: 'backup FAILED on app-db (edited)',
        ts,
        edited: { user: 'U0ALICE', ts: '1' },
      },
    };
    expect(await t.alert(edit)).toMatchObject({ outcome: 'edit', ts, detail: 'r1' });
    // Edits and deletions of anything else are not alerts.
    const other = nextTs();
    expect(
      await t.alert({
        subtype: 'message_changed',
        ts: nextTs(),
        message: { type: 'message', user: 'U0ALICE', text: 'backup failed on app-db', ts: other },
      }),
    ).toMatchObject({ outcome: 'skipped' });
    expect(await t.alert({ subtype: 'message_deleted', ts: nextTs(), deleted_ts: other })).toMatchObject({ outcome: 'skipped' });
    await t.bot.slack.waitForCall((c) => c.method === 'chat.postMessage' && c.args.thread_ts === ts && isResult(c), 60_000);
    await t.settled();
    expect(t.runs('app-db')).toBe(1);
    expect(t.thread(ts)).toHaveLength(2);
    expect(t.thread(other)).toEqual([]);
  });

  it('a storm of ten alerts for one target: one run; the others link to its thread; one more after it finished joins it too', async () => {
    const t = await start();
    const stamps = Array.from({ length: 10 }, () => nextTs());
    const decisions = await Promise.all(
      stamps.map((ts, i) => t.alert({ subtype: 'bot_message', bot_id: 'B0PAGER', text: `[FIRING:${i + 1}] storm backup failed`, ts })),
    );
    expect(decisions.filter((d) => d.outcome === 'started')).toHaveLength(1);
    expect(decisions.filter((d) => d.outcome === 'joined')).toHaveLength(9);
    expect(new Set(decisions.map((d) => d.runId))).toEqual(new Set(['r1']));
    const first = decisions.find((d) => d.outcome === 'started')!.ts!;
    await t.bot.slack.waitForCall((c) => c.method === 'chat.postMessage' && c.args.thread_ts === first && isResult(c), 60_000);
    await t.settled();
    const link = `<https://fake.slack.com/archives/${ALERTS}/p${first.replace('.', '')}|thread>`;
    for (const ts of stamps.filter((s) => s !== first)) {
      const replies = t.thread(ts).map((c) => String(c.args.text));
      expect(replies).toHaveLength(1);
      expect(replies[0]).toMatch(
        /^:link: (Already on it: the backup of `storm` started for an earlier alert is (queued|running) \(attempt 1 of 3\)\.|A backup of `storm` finished .+ ago after an earlier alert)/,
      );
      expect(replies[0]).toContain(link);
    }
    const late = nextTs();
    expect(await t.alert({ subtype: 'bot_message', bot_id: 'B0PAGER', text: 'storm backup failed (again)', ts: late })).toMatchObject({
      outcome: 'joined',
      runId: 'r1',
    });
    await t.settled();
    expect(t.thread(late).map((c) => c.args.text)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^:link: A backup of \`storm\` finished .+ ago after an earlier alert: \`${prefix}/storm/.+\\.sql\\.gz\`\\. See the ${link.replace(/[|.]/g, '\\$&')}; no new run within \`alerts.window\` \\(10m 0s\\)\\.$`,
        ),
      ),
    ]);
    expect(t.runs('storm')).toBe(1);
  });

  it('a rerun that fails twice (wrong password) and then succeeds: each retry in the thread, a restorable backup', async () => {
    const t = await start();
    const ts = nextTs();
    expect(await t.alert({ subtype: 'bot_message', bot_id: 'B0AWS', text: 'Backup failure: flaky', ts })).toMatchObject({
      outcome: 'started',
    });
    expect(await t.timer.fire()).toBe(1000);
    // The second attempt failed too; the right password arrives before the third, which reads it afresh.
    expect(await t.timer.waiting()).toBe(2000);
    t.env.FLAKY_PW = servers.env.BACKUP_PW!;
    await t.timer.fire();
    await expectRestorableIn(t, ts, 'flaky', 'alert_restored_flaky', { attempt: 3 });
    await t.settled();
    const texts = t.thread(ts).map((c) => String(c.args.text));
    expect(texts.filter((x) => !/^:(hourglass|arrow_forward)/.test(x)).map((x) => x.split('\n')[0])).toEqual([
      ':x: Backup of `flaky` failed (stage `connect`). Nothing was stored.',
      ':repeat: Attempt 1 of 3 failed. Retrying the backup of `flaky` in 1s (attempt 2 of 3).',
      ':x: Backup of `flaky` failed (stage `connect`). Nothing was stored.',
      ':repeat: Attempt 2 of 3 failed. Retrying the backup of `flaky` in 2s (attempt 3 of 3).',
      ':white_check_mark: Backup of `flaky` finished.',
    ]);
    expect(texts.join('\n')).toMatch(/password authentication failed/);
    expect(texts.join('\n')).not.toContain('not-the-password');
    expect(t.runs('flaky')).toBe(3);
  });

  it('a rerun that exhausts its attempts: says so plainly and mentions the escalation people and group', async () => {
    const t = await start();
    const ts = nextTs();
    expect(await t.alert({ user: 'U0ALICE', text: '백업 작업 실패: nodb', ts })).toMatchObject({ outcome: 'started', target: 'nodb' });
    await t.timer.fire();
    await t.timer.fire();
    const last = await t.bot.slack.waitForCall((c) => c.args.thread_ts === ts && /^:rotating_light:/.test(String(c.args.text)), 60_000);
    await t.settled();
    expect(last.args.text).toMatch(
      /^:rotating_light: Giving up: the backup of `nodb` failed all 3 attempts after this alert, so there is no fresh backup\. Last failure: connect failed: .*database "alert_does_not_exist" does not exist.*\n<@U0DBA> <!subteam\^S0ONCALL> please take a look\. Once the cause is fixed, `\/backup run nodb` runs it again\.$/s,
    );
    const results = t.thread(ts).filter(isResult);
    expect(results).toHaveLength(3);
    expect(t.thread(ts).at(-1)).toBe(last);
    expect(t.runs('nodb')).toBe(3);
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/nodb/`)).toEqual([]);
  });

  it("the bot's own failure messages in an alert channel start nothing", async () => {
    const t = await start();
    const text = ':x: Backup of `app-db` failed (stage `connect`). Nothing was stored.';
    // As chat.postMessage's own events arrive (Bolt's ignoreSelf drops these) ...
    await t.bot.event({ type: 'message', channel: ALERTS, user: 'U0BOT', bot_id: 'B0BOT', text, ts: nextTs() }, 'EvSelf1');
    await t.bot.event({ type: 'message', channel: ALERTS, subtype: 'bot_message', bot_id: 'B0BOT', text, ts: nextTs() }, 'EvSelf2');
    // ... and a shape only the bot id gives away, which reaches the listener.
    expect(await t.alert({ bot_id: 'B0BOT', text, ts: nextTs() })).toMatchObject({ outcome: 'skipped', detail: 'own message' });
    await t.settled();
    expect(t.decisions.filter((d) => d.outcome !== 'skipped')).toEqual([]);
    expect(t.bot.slack.ok('chat.postMessage')).toEqual([]);
    expect(t.runs('app-db')).toBe(0);
  });

  it("a person not on the target's users: a plain refusal in the thread, no run, no link; the allowed person's alert runs; a Retry click does not get round it", async () => {
    const t = await start();
    const eve = nextTs();
    expect(await t.alert({ user: 'U0EVE', client_msg_id: 'c-eve', text: 'secret backup failed', ts: eve })).toMatchObject({
      outcome: 'refused',
      target: 'secret',
    });
    const admin = nextTs();
    expect(await t.alert({ user: 'U0ADMIN', text: 'secret backup failed', ts: admin })).toMatchObject({
      outcome: 'started',
      target: 'secret',
    });
    // While that run is on, another alert from Eve would have joined it (and been told its key and thread).
    const again = nextTs();
    expect(await t.alert({ user: 'U0EVE', text: 'secret backup failed again', ts: again })).toMatchObject({
      outcome: 'refused',
      target: 'secret',
    });
    // A Retry click (a copy of the button's value) is held to `users` like /backup run.
    const click = await t.bot.button({
      actionId: 'dumptruck_retry',
      value: JSON.stringify({ target: 'secret', ownParent: false }),
      user_id: 'U0EVE',
      channel_id: ALERTS,
      messageTs: eve,
      threadTs: eve,
    });
    expect(click.status).toBe(200);
    expect((await t.bot.slack.waitForResponse(click.responseUrl)).body.text).toMatch(
      /^you are not on the list of people who may retry backups of `secret`/,
    );

    const result = await t.bot.slack.waitForCall(
      (c) => c.method === 'chat.postMessage' && c.args.thread_ts === admin && isResult(c),
      60_000,
    );
    expect(String(result.args.text)).toMatch(
      /^:white_check_mark: Backup of `secret` finished\.[\s\S]*\nDownload \(link expires [^)]+\): http/,
    );
    await t.settled();
    for (const ts of [eve, again]) {
      expect(t.thread(ts).map((c) => c.args.text)).toEqual([
        ':no_entry_sign: This reads as a backup failure of `secret` ("backup failed"), but <@U0EVE> is not on the list of people who may back up `secret`, so nothing was started. Ask someone in `targets.secret.users` to run `/backup run secret`.',
      ]);
    }
    // Nothing the bot posted or sent Eve anywhere carries a key or a link of `secret`, except the allowed thread.
    const elsewhere = t.bot.slack.calls.filter((c) => c.method.startsWith('chat.post') && c.args.thread_ts !== admin);
    expect(JSON.stringify(elsewhere)).not.toMatch(/X-Amz-Signature|secret\/\d{4}\//);
    expect(JSON.stringify(t.bot.slack.responses)).not.toMatch(/X-Amz-Signature|secret\/\d{4}\//);
    expect(t.runs('secret')).toBe(1);
  });

  it('a bot, workflow or webhook posting about a target with users: refused while alerts.posters is empty, no run, no link', async () => {
    const t = await start();
    const hook = nextTs();
    expect(
      await t.alert({ subtype: 'bot_message', bot_id: 'B0EVEHOOK', username: 'AWS Chatbot', text: 'secret backup failed', ts: hook }),
    ).toMatchObject({
      outcome: 'refused',
      target: 'secret',
      detail: 'poster B0EVEHOOK is a bot, app or webhook and alerts.posters is empty',
    });
    // Workflow Builder and apps post with a user id beside their bot id: still not a person.
    const workflow = nextTs();
    expect(
      await t.alert({ user: 'U0ADMIN', bot_id: 'B0WORKFLOW', app_id: 'A0WORKFLOW', text: 'secret backup failed', ts: workflow }),
    ).toMatchObject({ outcome: 'refused', target: 'secret' });
    await t.settled();
    for (const ts of [hook, workflow]) {
      expect(t.thread(ts).map((c) => c.args.text)).toEqual([
        ':no_entry_sign: This reads as a backup failure of `secret` ("backup failed"), but `secret` may only be backed up by the people in `targets.secret.users`, and alerts from bots, apps and webhooks start it only when `alerts.posters` lists them, so nothing was started. Ask someone in `targets.secret.users` to run `/backup run secret`.',
      ]);
    }
    expect(JSON.stringify(t.bot.slack.calls)).not.toMatch(/X-Amz-Signature|secret\/\d{4}\//);
    expect(t.runs('secret')).toBe(0);
  });

  it('alerts.posters: only the listed bots, apps and bot:username pairs start runs; a username alone matches nothing; anyone else, people included, gets a plain refusal', async () => {
    const t = await start('  posters: [B0AWSCHAT, "B0HOOK:RDS alerts"]\n');
    // Another app posting under the listed username is not the listed webhook.
    const impostor = nextTs();
    expect(
      await t.alert({ subtype: 'bot_message', bot_id: 'B0EVE', username: 'RDS alerts', text: 'Backup failed: secret', ts: impostor }),
    ).toMatchObject({ outcome: 'refused', detail: 'poster B0EVE is not in alerts.posters' });
    const other = nextTs();
    expect(await t.alert({ bot_id: 'B0OTHER', app_id: 'A0OTHER', text: 'Backup failed: app-db', ts: other })).toMatchObject({
      outcome: 'refused',
      detail: 'poster B0OTHER is not in alerts.posters',
    });
    const person = nextTs();
    expect(await t.alert({ user: 'U0ADMIN', text: 'Backup failed: app-db', ts: person })).toMatchObject({ outcome: 'refused' });
    const listed = nextTs();
    expect(await t.alert({ subtype: 'bot_message', bot_id: 'B0AWSCHAT', text: 'Backup failed: app-db', ts: listed })).toMatchObject({
      outcome: 'started',
      target: 'app-db',
    });
    const named = nextTs();
    expect(
      await t.alert({ subtype: 'bot_message', bot_id: 'B0HOOK', username: 'RDS alerts', text: 'Backup failed: billing', ts: named }),
    ).toMatchObject({ outcome: 'started', target: 'billing' });
    for (const ts of [listed, named])
      await t.bot.slack.waitForCall((c) => c.method === 'chat.postMessage' && c.args.thread_ts === ts && isResult(c), 60_000);
    await t.settled();
    for (const ts of [impostor, other, person]) {
      expect(t.thread(ts).map((c) => c.args.text)).toEqual([
        ':no_entry_sign: This reads as a backup failure ("backup failed"), but alerts from this poster may not start backups (it is not in `alerts.posters`), so nothing was started. Someone allowed to can run `/backup run <target>`.',
      ]);
    }
    expect(t.runs('app-db')).toBe(1);
    expect(t.runs('billing')).toBe(1);
  });

  it("a 40 KB hostile alert is read at once: a slash command right behind it is acked within Slack's 3 s, and its re-delivery is not read again", async () => {
    const t = await start();
    const ts = nextTs();
    // A run of a spacing character that survives NFKC, after the word the Korean rules start from.
    const event = { type: 'message', channel: ALERTS, user: 'U0ALICE', text: `app-db 백업${'\u1680'.repeat(40_000)}x`, ts };
    const started = Date.now();
    expect((await t.bot.event(event, 'EvHostile')).status).toBe(200);
    const command = await t.bot.command('status', { channel_id: 'C0OPS' });
    expect(command.status).toBe(200);
    expect(command.json?.text).toBe('Nothing is running or queued.');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(t.decisions.find((d) => d.ts === ts)).toMatchObject({ outcome: 'not-a-failure', detail: 'no failure wording' });
    // Slack's retry of the same event, and the same message under another event id.
    expect(await t.alert(event, 'EvHostile')).toMatchObject({ outcome: 'not-a-failure', detail: 'no failure wording (remembered)' });
    expect(await t.alert(event)).toMatchObject({ outcome: 'not-a-failure', detail: 'no failure wording (remembered)' });
    await t.settled();
    expect(t.bot.slack.ok('chat.postMessage')).toEqual([]);
  });
});
