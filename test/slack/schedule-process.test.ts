// The schedule and /backup verify as `npm start` wires them (node dist/slack/main.js): a run
// missed while the bot was down is caught up at start and threaded in the target's report
// channel; SIGTERM still exits cleanly with the scheduler armed.
import { beforeAll, describe, expect, it } from 'vitest';
import { objectKey } from '../../src/storage/keys.js';
import { botProcesses } from '../helpers/bot-process.js';
import { configYaml, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { putBytes } from '../helpers/objects.js';
import type { ApiCall } from '../helpers/slack-fake.js';

const servers = testServers();
const prefix = uniquePrefix('schedproc');
const DB = 'schedproc_src';
const bots = botProcesses(servers);

beforeAll(async () => {
  await seedDatabase(servers.pg, DB, 200);
}, 60_000);

const posted = (pattern: RegExp) => (c: ApiCall) =>
  c.method === 'chat.postMessage' && c.outcome === 'ok' && pattern.test(String(c.args.text));

describe('the bot process runs the schedules', () => {
  it('catches up a missed run at start in the report channel, and verifies from Slack', async () => {
    // Yearly at midnight UTC, and the newest backup is from 2020: this year's run was missed.
    await putBytes(
      servers.s3.client(),
      servers.bucket,
      objectKey(prefix, 'yearly', new Date('2020-01-01T00:00:00Z'), 'plain'),
      'an old backup',
    );
    const config = configYaml(servers, prefix, { yearly: { db: DB, extra: 'schedule: "0 0 1 1 *"\nchannels: [C0DBA]' } });
    const { bot, slack } = await bots.start({ config });

    const due = `${new Date().getUTCFullYear()}-01-01 00:00 UTC`;
    const parent = await slack.waitForCall(posted(/^:package: Backup of `yearly`/), 30_000);
    expect(parent.args).toMatchObject({
      channel: 'C0DBA',
      text: `:package: Backup of \`yearly\` requested by the schedule (catch-up for the missed run due ${due}). Progress in the thread.`,
    });
    const result = await slack.waitForCall(posted(/^:white_check_mark: Backup of `yearly` finished\./), 60_000);
    expect(result.args.thread_ts).toBe(parent.ts);
    const key = /^Key: (\S+)$/m.exec(String(result.args.text))![1]!;

    // /backup verify is wired too (no verify.restoreUrl here: checksum and decompression only).
    await bot.command('verify yearly', { channel_id: 'C0DBA' });
    const verified = await slack.waitForCall(posted(/^:white_check_mark: `.+` of `yearly` is verified\./), 30_000);
    expect(String(verified.args.text).split('\n')[0]).toBe(`:white_check_mark: \`${key}\` of \`yearly\` is verified.`);

    const logs = bot
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.find((l) => l.msg === 'schedule armed')).toMatchObject({ target: 'yearly', schedule: '0 0 1 1 * UTC' });
    expect(logs.find((l) => l.msg === 'catch-up run of a missed schedule queued')).toMatchObject({
      target: 'yearly',
      catchUp: true,
      reportChannel: 'C0DBA',
    });

    bot.child.kill('SIGTERM');
    expect((await bot.exited).code, bot.stderr()).toBe(0);
  });
});
