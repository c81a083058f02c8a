// /backup restore for real: signed requests into Bolt's HTTP receiver (commands, Approve/Deny
// buttons, the replace modal), the fake Slack Web API, and behind them the real runner, the
// restore engine, PostgreSQL and versitygw.
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import type { ApprovalStore } from '../../src/restore/approvals.js';
import { createTrustOps } from '../../src/jobs/maintenance.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { createCatalog } from '../../src/storage/catalog.js';
import { objectKey } from '../../src/storage/keys.js';
import { eventually } from '../helpers/bot-process.js';
import { seedDatabase, tableDigests, testConfig, testServers, uniquePrefix, type TargetSpec } from '../helpers/fixtures.js';
import { databasesLike, getBytes, getManifest, putBackup } from '../helpers/objects.js';
import { startTestBot, type TestBot } from '../helpers/slack-bot.js';
import { ageKeygen } from '../helpers/age.js';
import type { ApiCall } from '../helpers/slack-fake.js';
import { stateStores } from '../helpers/state-db.js';

const servers = testServers();
const s3 = servers.s3.client();
const SRC = 'slackrestore_src';
const BIG = 'slackrestore_big';
const prefix = uniquePrefix('slackrestore');
const sealedKey = ageKeygen();
const env = { ...servers.env, RESTORE_PW: servers.pg.superuser.password, SEALED_KEY: sealedKey.identity };
const onServer = `url: ${servers.pg.url('postgres', servers.pg.superuser.user)}, password: { env: RESTORE_PW }, approvers: [U0ALICE, U0BOB]`;

const targets: Record<string, TargetSpec> = {
  'app-db': { db: SRC, extra: `channels: [C0OPS]\nrestore: { ${onServer} }` },
  replaceable: { db: SRC, extra: `restore: { ${onServer}, allowReplace: true, replaceable: [slackrestore_live] }` },
  hasty: { db: SRC, extra: `restore: { ${onServer}, approvalExpiry: 1s }` },
  big: { db: BIG, extra: `restore: { ${onServer} }` },
  sealed: { db: SRC, extra: `restore: { ${onServer} }\nencrypt: { recipients: [${sealedKey.recipient}], identity: { env: SEALED_KEY } }` },
};
const config: Config = testConfig(servers, prefix, targets);
const catalog = createCatalog({ s3, storage: config.storage, env: servers.env });

// Two replicas' connection pools to one state database, for the approvals of a fleet.
const states = stateStores(servers, 'restoreflow_state');

let t: TestBot | undefined;
let other: TestBot | undefined;
async function start(logger?: Logger, approvals?: ApprovalStore): Promise<TestBot> {
  return startTestBot({
    ...(logger ? { logger } : {}),
    config,
    runBackup: createBackupRunner({ config, s3, env, progressIntervalMs: 50 }),
    catalog,
    app: { trust: createTrustOps({ config, s3, env, catalog }), ...(approvals ? { approvals } : {}) },
  }).then((bot) => (t = bot));
}

afterEach(async () => {
  await Promise.all([t?.stop(), other?.stop()]);
  t = undefined;
  other = undefined;
});

beforeAll(async () => {
  await Promise.all([seedDatabase(servers.pg, SRC, 2000), seedDatabase(servers.pg, BIG, 300_000)]);
}, 120_000);

afterAll(async () => {
  for (const db of await databasesLike(servers.pg, 'slackrestore_')) await servers.pg.dropDatabase(db);
});

const posted = (pattern: RegExp) => (c: ApiCall) =>
  c.method === 'chat.postMessage' && c.outcome === 'ok' && pattern.test(String(c.args.text));
const updated = (ts: string, pattern: RegExp) => (c: ApiCall) =>
  c.method === 'chat.update' && c.args.ts === ts && pattern.test(String(c.args.text));

async function backUp(bot: TestBot, target: string): Promise<string> {
  await bot.command(`run ${target}`, { channel_id: 'C0OPS' });
  const result = await bot.slack.waitForCall(posted(new RegExp(`^:white_check_mark: Backup of \`${target}\``)), 60_000);
  return /^Key: (\S+)$/m.exec(String(result.args.text))![1]!;
}

/** Asks for a restore as `user` and returns the approval message and its request id. */
async function ask(bot: TestBot, text: string, user = 'U0ALICE'): Promise<{ message: ApiCall; id: string }> {
  const before = bot.slack.calls.length;
  const ack = await bot.command(text, { user_id: user, channel_id: 'C0OPS' });
  expect(ack.status).toBe(200);
  expect(ack.text).toBe('');
  const message = await bot.slack.waitForCall(
    (c) => bot.slack.calls.indexOf(c) >= before && posted(/^:rotating_light: Restore requested/)(c),
    30_000,
  );
  const buttons = (message.args.blocks as any[]).find((b) => b.type === 'actions').elements;
  return { message, id: buttons[0].value };
}

/** Clicks Approve or Deny; the ephemeral reply it got (a refusal), or undefined once the click had its effect without one. */
async function click(bot: TestBot, action: 'approve' | 'deny', id: string, message: ApiCall, user: string): Promise<string | undefined> {
  const response = await bot.button({ actionId: `dumptruck_restore_${action}`, value: id, messageTs: message.ts!, user_id: user });
  expect(response.status).toBe(200);
  const reply = bot.slack.waitForResponse(response.responseUrl, 30_000).then((r) => r.body.text as string);
  const applied = bot.slack
    .waitForCall(updated(message.ts!, new RegExp(`${action === 'approve' ? 'approved' : 'denied'} by <@${user}>`)), 30_000)
    .then(() => undefined);
  return Promise.race([reply, applied]);
}

const result = (target: string) => posted(new RegExp(`^:(white_check_mark|x|no_entry_sign): Restore(d| of) .*\`${target}\``));

describe('/backup restore', () => {
  it('asks for approval, and a second approver’s Approve restores data equal to the source, reported in the thread', async () => {
    const bot = await start();
    const key = await backUp(bot, 'app-db');
    const { message, id } = await ask(bot, 'restore app-db latest into slackrestore_copy');
    const server = `127.0.0.1:${servers.pg.port}`;
    expect(String(message.args.text)).toMatch(
      new RegExp(
        `^:rotating_light: Restore requested by <@U0ALICE>: \`${key}\` of \`app-db\` into \`slackrestore_copy\` on ${server}\\. Needs approval by <@U0ALICE>, <@U0BOB> before <!date\\^\\d+\\^\\{date_short_pretty\\} \\{time\\}\\|.+ UTC>\\.$`,
      ),
    );
    expect(JSON.stringify(message.args.blocks)).toMatch(/SHA-256.*[0-9a-f]{64}/);
    // Nothing happens until someone approves.
    expect(await databasesLike(servers.pg, 'slackrestore_copy')).toEqual([]);

    expect(await click(bot, 'approve', id, message, 'U0BOB')).toBeUndefined();
    const done = await bot.slack.waitForCall(result('app-db'), 60_000);
    await bot.bot.reporters.idle();
    expect(done.args.thread_ts).toBe(message.ts);
    const lines = String(done.args.text).split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^:white_check_mark: Restored \`${key}\` of \`app-db\` into \`slackrestore_copy\` on ${server}: 3 tables, 2505 rows in .+\\.$`,
      ),
    );
    expect(lines[1]).toMatch(/^SHA-256: [0-9a-f]{64} \(matches the backup\)$/);
    expect(lines).toContain('  public.events: 2000 rows');
    expect(await tableDigests(servers.pg, 'slackrestore_copy')).toEqual(await tableDigests(servers.pg, SRC));
    // The request shows who approved, then how it ended.
    const edits = bot.slack
      .ok('chat.update')
      .filter((c) => c.args.ts === message.ts)
      .map((c) => String(c.args.text));
    expect(edits[0]).toBe(
      `:white_check_mark: Restore of \`${key}\` of \`app-db\` into \`slackrestore_copy\` on ${server} requested by <@U0ALICE>, approved by <@U0BOB>. Progress in the thread.`,
    );
    expect(edits.at(-1)).toBe(
      `:white_check_mark: Restore of \`${key}\` of \`app-db\` into \`slackrestore_copy\` on ${server} requested by <@U0ALICE>, approved by <@U0BOB>: restored (3 tables, 2505 rows).`,
    );
  }, 120_000);

  it('an encrypted backup is decrypted with the target’s identity and restored equal to the source; the identity is in no Slack call and no log line', async () => {
    const logs: string[] = [];
    const bot = await start(
      pino(
        { level: 'debug' },
        new Writable({
          write: (line, _enc, done) => {
            logs.push(String(line));
            done();
          },
        }),
      ),
    );
    const key = await backUp(bot, 'sealed');
    expect(key).toMatch(/\.sql\.gz\.age$/);
    const { message, id } = await ask(bot, 'restore sealed latest into slackrestore_sealed');
    expect(await click(bot, 'approve', id, message, 'U0BOB')).toBeUndefined();
    const done = await bot.slack.waitForCall(result('sealed'), 60_000);
    await bot.bot.reporters.idle();
    expect(String(done.args.text)).toMatch(/^:white_check_mark: Restored .*: 3 tables, 2505 rows in /);
    expect(await tableDigests(servers.pg, 'slackrestore_sealed')).toEqual(await tableDigests(servers.pg, SRC));
    expect(logs.some((l) => l.includes('restore approved'))).toBe(true);
    expect(JSON.stringify(bot.slack.calls).includes(sealedKey.identity), 'the identity in a Slack call').toBe(false);
    expect(logs.join('').includes(sealedKey.identity), 'the identity in a log line').toBe(false);
  }, 120_000);

  it('refuses the requester’s own approval (two-person rule) and a non-approver’s, and Deny ends the request', async () => {
    const bot = await start();
    await backUp(bot, 'app-db');
    const { message, id } = await ask(bot, 'restore app-db into slackrestore_denied');
    expect(await click(bot, 'approve', id, message, 'U0ALICE')).toBe(
      'you asked for this restore, so someone else must approve it (two-person rule)\nAsk another approver: <@U0BOB>.',
    );
    expect(await click(bot, 'approve', id, message, 'U0EVE')).toBe(
      'you are not one of the people who may approve restores of `app-db`\nApprovers: <@U0ALICE>, <@U0BOB> (targets.app-db.restore.approvers).',
    );
    expect(await click(bot, 'deny', id, message, 'U0EVE')).toBe('only an approver of `app-db` or the requester may deny this restore');
    expect(await click(bot, 'deny', id, message, 'U0BOB')).toBeUndefined();
    const denied = await bot.slack.waitForCall(updated(message.ts!, /denied by <@U0BOB>/));
    expect(String(denied.args.text)).toMatch(
      /^:no_entry_sign: Restore of .* requested by <@U0ALICE>, denied by <@U0BOB>\. Nothing was restored\.$/,
    );
    expect(JSON.stringify(denied.args.blocks)).not.toContain('dumptruck_restore_approve');
    expect(await click(bot, 'approve', id, message, 'U0BOB')).toBe('that restore request was already denied by <@U0BOB>');
    expect(bot.bot.maintenance!.queue.status()).toEqual({ running: [], queued: [] });
    expect(await databasesLike(servers.pg, 'slackrestore_denied')).toEqual([]);
  }, 120_000);

  it('an approval after restore.approvalExpiry is refused and the request is marked expired', async () => {
    const bot = await start();
    const key = await backUp(bot, 'hasty');
    const { message, id } = await ask(bot, 'restore hasty into slackrestore_late');
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(await click(bot, 'approve', id, message, 'U0BOB')).toBe(
      `that restore request has expired, so it can no longer be approved\nAsk again with \`/backup restore hasty ${key} into slackrestore_late\`.`,
    );
    const expired = await bot.slack.waitForCall(updated(message.ts!, /expired/));
    expect(String(expired.args.text)).toMatch(
      /^:hourglass: Restore of .* requested by <@U0ALICE> expired without approval\. Nothing was restored\.$/,
    );
    expect(await click(bot, 'approve', id, message, 'U0BOB')).toBe('that restore request was already expired');
    expect(await databasesLike(servers.pg, 'slackrestore_late')).toEqual([]);
  }, 60_000);

  it('refuses an existing destination before asking anyone, with what would work', async () => {
    const bot = await start();
    await backUp(bot, 'app-db');
    await servers.pg.createDatabase('slackrestore_taken');
    const ack = await bot.command('restore app-db into slackrestore_taken', { user_id: 'U0ALICE', channel_id: 'C0OPS' });
    const reply = await bot.slack.waitForResponse(ack.responseUrl, 30_000);
    expect(reply.body.text).toBe(
      `restore failed: database slackrestore_taken already exists on 127.0.0.1:${servers.pg.port}; a restore never overwrites a database\npick a new database name (replacing one needs targets.app-db.restore.allowReplace: true)`,
    );
    expect(bot.slack.calls.filter(posted(/Restore requested/))).toEqual([]);
  }, 60_000);

  it('a corrupted object fails on its checksum after approval, and no database is left', async () => {
    const bot = await start();
    const key = await backUp(bot, 'app-db');
    const bytes = await getBytes(s3, servers.bucket, key);
    bytes[bytes.length - 200]! ^= 0xff;
    const bad = objectKey(prefix, 'app-db', new Date('2020-01-01T00:00:00Z'), 'plain');
    // Signed for its own key, so only the checksum can catch the damage.
    await putBackup(s3, servers.bucket, bad, bytes, await getManifest(s3, servers.bucket, key));
    const { message, id } = await ask(bot, `restore app-db ${bad} into slackrestore_corrupt`);
    await click(bot, 'approve', id, message, 'U0BOB');
    const done = await bot.slack.waitForCall(result('app-db'), 60_000);
    const [head, ...reason] = String(done.args.text).split('\n');
    expect(head).toBe(
      `:x: Restore of \`${bad}\` of \`app-db\` into \`slackrestore_corrupt\` on 127.0.0.1:${servers.pg.port} failed: the checksum does not match the backup. Nothing half-restored is left.`,
    );
    expect(reason.join('\n')).toMatch(
      /^restore failed: .*SHA-256 of the bytes read is [0-9a-f]{64}, the backup recorded [0-9a-f]{64}: the object changed after it was written/,
    );
    expect(await databasesLike(servers.pg, 'slackrestore_corrupt')).toEqual([]);
  }, 120_000);

  it('replace: the approver types the database name in a modal; the old database is kept aside and the new one restored', async () => {
    const bot = await start();
    await backUp(bot, 'replaceable');
    await servers.pg.createDatabase('slackrestore_live');
    const old = await servers.pg.adminClient('slackrestore_live');
    await old.query("create table marker (note text); insert into marker values ('the old one')");
    await old.end();

    const { message, id } = await ask(bot, 'restore replaceable latest into slackrestore_live replace');
    expect(String(message.args.text)).toContain('It REPLACES the existing `slackrestore_live`');
    const response = await bot.button({ actionId: 'dumptruck_restore_approve', value: id, messageTs: message.ts!, user_id: 'U0BOB' });
    expect(response.status).toBe(200);
    const opened = await bot.slack.waitForCall((c) => c.method === 'views.open');
    expect(opened.args.view).toMatchObject({ callback_id: 'dumptruck_restore_replace', private_metadata: id });

    const wrong = await bot.view({
      callbackId: 'dumptruck_restore_replace',
      privateMetadata: id,
      values: { database: { typed: 'slackrestore_liv' } },
      user_id: 'U0BOB',
    });
    expect(wrong.json).toEqual({
      response_action: 'errors',
      errors: { database: 'That is not slackrestore_live. Type the database name exactly to replace it.' },
    });
    const self = await bot.view({
      callbackId: 'dumptruck_restore_replace',
      privateMetadata: id,
      values: { database: { typed: 'slackrestore_live' } },
      user_id: 'U0ALICE',
    });
    expect(self.json?.errors.database).toBe('you asked for this restore, so someone else must approve it (two-person rule)');
    expect(await databasesLike(servers.pg, 'slackrestore_live')).toEqual(['slackrestore_live']);

    const right = await bot.view({
      callbackId: 'dumptruck_restore_replace',
      privateMetadata: id,
      values: { database: { typed: 'slackrestore_live' } },
      user_id: 'U0BOB',
    });
    expect(right.status).toBe(200);
    expect(right.json).toBeUndefined();
    const done = await bot.slack.waitForCall(result('replaceable'), 60_000);
    expect(String(done.args.text)).toMatch(/^:white_check_mark: Restored .* into `slackrestore_live` .*: 3 tables, 2505 rows/);
    expect(String(done.args.text)).toMatch(
      /The database it replaced is kept as `slackrestore_live_before_restore_\d{8}T\d{6}Z_[0-9a-f]{8}`; drop it when you no longer need it\.$/,
    );
    expect(await tableDigests(servers.pg, 'slackrestore_live')).toEqual(await tableDigests(servers.pg, SRC));
    const [aside] = await databasesLike(servers.pg, 'slackrestore_live_before_restore_');
    const kept = await servers.pg.adminClient(aside!);
    expect((await kept.query('select note from marker')).rows).toEqual([{ note: 'the old one' }]);
    await kept.end();
  }, 120_000);

  it.each(['the thread’s Cancel button', '/backup cancel <target>'])(
    '%s mid-restore drops the half-restored database and says so in the thread',
    async (how) => {
      const bot = await start();
      await backUp(bot, 'big');
      const { message, id } = await ask(bot, 'restore big into slackrestore_half');
      await click(bot, 'approve', id, message, 'U0BOB');
      const job = await eventually(() => bot.bot.maintenance!.queue.get('big'), 'the restore job');
      await eventually(
        async () => ((await databasesLike(servers.pg, 'slackrestore_half')).length > 0 ? true : undefined),
        'the new database',
        30_000,
        20,
      );
      const status = await bot.slack.waitForCall(posted(/Restoring|queued/));
      if (how.startsWith('/backup')) {
        const cancel = await bot.command('cancel big', { user_id: 'U0BOB', channel_id: 'C0OPS' });
        expect(cancel.status).toBe(200);
        expect(cancel.json?.text).toMatch(
          /^Stopping the running restore of `big` \(.*thread.*\); the half-restored database is dropped\.$/,
        );
      } else {
        const cancel = await bot.button({
          actionId: 'dumptruck_cancel',
          value: job.id,
          messageTs: status.ts!,
          threadTs: message.ts!,
          user_id: 'U0BOB',
        });
        expect(cancel.status).toBe(200);
      }
      const done = await bot.slack.waitForCall(result('big'), 60_000);
      expect(String(done.args.text)).toMatch(
        /^:no_entry_sign: Restore of `.+` of `big` into `slackrestore_half` on .* cancelled by <@U0BOB>\. Nothing half-restored is left\.$/,
      );
      expect(await databasesLike(servers.pg, 'slackrestore_half')).toEqual([]);
    },
    120_000,
  );
});

describe('approvals racing', () => {
  it('two approvers clicking Approve at once on two replicas start one restore; the other is told who approved', async () => {
    // Both clicks read the request as still pending before either acts: the race, every time.
    let reads = 0;
    let armed = false;
    let bothRead!: () => void;
    const together = new Promise<void>((resolve) => {
      bothRead = resolve;
    });
    const replicaStore = (store: ApprovalStore): ApprovalStore => ({
      put: (request) => store.put(request),
      decide: (id, decision) => store.decide(id, decision),
      reopen: (id, decision) => store.reopen(id, decision),
      async get(id) {
        const request = await store.get(id);
        if (armed && ++reads === 2) bothRead();
        if (armed) await together;
        return request;
      },
    });
    const a = await start(undefined, replicaStore(states[0]!.coordination('replica-a')));
    other = await startTestBot({
      config,
      runBackup: createBackupRunner({ config, s3, env, progressIntervalMs: 50 }),
      catalog,
      app: { trust: createTrustOps({ config, s3, env, catalog }), approvals: replicaStore(states[1]!.coordination('replica-b')) },
    });
    const b = other;
    await backUp(a, 'app-db');
    const { message, id } = await ask(a, 'restore app-db latest into slackrestore_raced', 'U0CAROL');
    const queued = [vi.spyOn(a.bot.maintenance!, 'restore'), vi.spyOn(b.bot.maintenance!, 'restore')];

    armed = true;
    const clicks = await Promise.all(
      (
        [
          [a, 'U0ALICE'],
          [b, 'U0BOB'],
        ] as const
      ).map(([bot, user]) => bot.button({ actionId: 'dumptruck_restore_approve', value: id, messageTs: message.ts!, user_id: user })),
    );
    expect(clicks.map((c) => c.status)).toEqual([200, 200]);
    // One of them won: its restore runs and is reported on its replica's Slack.
    const winner = await Promise.race([a, b].map((bot) => bot.slack.waitForCall(result('app-db'), 60_000).then((done) => ({ bot, done }))));
    expect(String(winner.done.args.text)).toMatch(/^:white_check_mark: Restored /);
    const [loser, loserClick, approver] = winner.bot === a ? [b, clicks[1]!, 'U0ALICE'] : [a, clicks[0]!, 'U0BOB'];
    const told = await loser.slack.waitForResponse(loserClick.responseUrl, 30_000);
    // Exactly one restore was ever queued, on either replica.
    expect(queued.map((spy) => spy.mock.calls.length).reduce((x, y) => x + y)).toBe(1);
    expect(told.body.text).toBe(`that restore request was already approved by <@${approver}>`);
    expect(loser.slack.calls.some(result('app-db'))).toBe(false);
  }, 120_000);

  it('an approval whose restore cannot be queued (the target busy) is taken back: the thread says so, and it can be approved later', async () => {
    const bot = await start();
    await backUp(bot, 'big');
    const first = await ask(bot, 'restore big into slackrestore_first');
    const second = await ask(bot, 'restore big into slackrestore_second');
    expect(await click(bot, 'approve', first.id, first.message, 'U0BOB')).toBeUndefined();
    // The first restore of `big` has the target; the second cannot be queued now.
    const refused = await click(bot, 'approve', second.id, second.message, 'U0BOB');
    expect(refused).toBe(
      'The restore was not started: another restore of `big` is under way.\nThe request is open again: approve it again once the restore can start (before it expires).',
    );
    const note = await bot.slack.waitForCall((c) => c.args.thread_ts === second.message.ts, 30_000);
    expect(String(note.args.text)).toMatch(
      /^:warning: Approved by <@U0BOB>, but the restore was not started: another restore of `big` is under way\./,
    );
    expect(bot.slack.ok('chat.update').some((c) => c.args.ts === second.message.ts)).toBe(false);

    await bot.slack.waitForCall((c) => c.args.thread_ts === first.message.ts && result('big')(c), 60_000);
    expect(await click(bot, 'approve', second.id, second.message, 'U0BOB')).toBeUndefined();
    const done = await bot.slack.waitForCall((c) => c.args.thread_ts === second.message.ts && result('big')(c), 60_000);
    expect(String(done.args.text)).toMatch(/^:white_check_mark: Restored .* into `slackrestore_second`/);
  }, 180_000);
});
