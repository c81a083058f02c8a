import { webApi } from '@slack/bolt';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DumptruckError } from '../../src/errors.js';
import type { ProgressInfo } from '../../src/jobs/events.js';
import { Redactor } from '../../src/redact.js';
import type { ThreadLink } from '../../src/slack/messages/replies.js';
import type { LinkState } from '../../src/slack/messages/thread.js';
import { Reporters, type ChatApi } from '../../src/slack/progress/reporter.js';
import { fakeRunner, fakeStarted } from '../jobs/fake-runner.js';
import { FakeClock, settle } from '../helpers/slack-clock.js';
import { accepted, backupQueue } from '../helpers/queue.js';

type Call = { method: 'postMessage' | 'update' | 'getPermalink'; args: Record<string, unknown>; at: number };

/** A WebClient `chat` stand-in: records calls and fails the ones the test queues up. */
function fakeChat(clock: FakeClock) {
  const calls: Call[] = [];
  const failures: Array<{ method: Call['method']; error: Error }> = [];
  let ts = 0;
  const call = async (method: Call['method'], args: Record<string, unknown>) => {
    await new Promise((resolve) => setImmediate(resolve));
    const i = failures.findIndex((f) => f.method === method);
    if (i >= 0) {
      const [failure] = failures.splice(i, 1);
      calls.push({ method, args: { ...args, failed: true }, at: clock.now() });
      throw failure!.error;
    }
    calls.push({ method, args, at: clock.now() });
    return {};
  };
  const chat: ChatApi = {
    postMessage: async (args) => ({ ...(await call('postMessage', args)), ts: `100.${++ts}` }),
    update: async (args) => call('update', args),
    getPermalink: async (args) => ({
      ...(await call('getPermalink', args)),
      permalink: `https://team.slack.com/archives/${args.channel}/p${args.message_ts.replace('.', '')}`,
    }),
  };
  return { chat, calls, failNext: (method: Call['method'], error: Error) => failures.push({ method, error }) };
}

function setup(link: LinkState = { kind: 'ok', link: { url: 'https://s3.example/x?sig=1', expiresAt: new Date('2024-05-02T03:00:00Z') } }) {
  const clock = new FakeClock(0);
  const slack = fakeChat(clock);
  const runner = fakeRunner();
  const queue = backupQueue(runner.runBackup, { concurrency: 1, maxPending: 5, jobTimeoutMs: 3_600_000, newJobId: () => 'job1' });
  const threads = new Map<string, ThreadLink>();
  const reporters = new Reporters({
    chat: slack.chat,
    clock,
    intervalMs: 3000,
    logger: pino({ level: 'silent' }),
    link: async () => link,
    redactor: new Redactor(['xoxb-secret-token']),
    threads,
  });
  return { clock, ...slack, runner, queue, threads, reporters };
}

/** Lets fake time run until every followed job has been reported (waits use the fake clock). */
async function idle(reporters: Reporters, clock: FakeClock): Promise<void> {
  let done = false;
  const finished = reporters.idle().then(() => {
    done = true;
  });
  for (let i = 0; i < 1000 && !done; i++) await clock.advance(1000);
  await finished;
}

const progress = (mib: number): ProgressInfo => ({
  dumpedBytes: mib * 1_048_576,
  storedBytes: (mib * 1_048_576) / 4,
  elapsedMs: mib * 100,
  bytesPerSecond: 10 * 1_048_576,
  estimatedBytes: 1000 * 1_048_576,
});

describe('Reporters', () => {
  it('posts parent and status, edits progress at most every 3 s, survives a 429, then posts the result and final states', async () => {
    const { clock, calls, failNext, runner, queue, threads, reporters } = setup();
    const { job } = accepted(queue.enqueue({ kind: 'backup', target: 'app-db', trigger: { kind: 'slack', by: 'U1' } }));
    const link = await reporters.start(job, { channel: 'C1', ownParent: true });
    expect(link).toEqual({ channel: 'C1', ts: '100.1', permalink: 'https://team.slack.com/archives/C1/p1001' });
    expect(threads.get('job1')).toEqual(link);
    expect(calls.map((c) => [c.method, c.args.thread_ts])).toEqual([
      ['postMessage', undefined],
      ['postMessage', '100.1'],
      ['getPermalink', undefined],
    ]);

    const run = await runner.started('app-db');
    run.emit({ type: 'started', jobId: 'job1', info: fakeStarted('app-db') });
    failNext('update', new webApi.WebAPIRateLimitedError(7));
    // 20 s of progress, ten events a second.
    for (let i = 1; i <= 200; i++) {
      run.emit({ type: 'progress', jobId: 'job1', progress: progress(i) });
      await clock.advance(100);
    }
    const updates = calls.filter((c) => c.method === 'update');
    expect(updates[0]!.args.failed).toBe(true);
    for (let i = 1; i < updates.length; i++) expect(updates[i]!.at - updates[i - 1]!.at).toBeGreaterThanOrEqual(3000);
    // The 429 asked for 7 s of quiet.
    expect(updates[1]!.at - updates[0]!.at).toBeGreaterThanOrEqual(7000);
    expect(updates.length).toBeLessThanOrEqual(7);
    expect(String(updates.at(-1)!.args.text)).toMatch(/^:arrow_forward: Dumping `app-db` into `.*`: 19\d MiB dumped/);

    failNext('postMessage', new webApi.WebAPIRateLimitedError(2));
    run.succeed();
    await idle(reporters, clock);
    const after = calls.slice(calls.indexOf(updates.at(-1)!) + 1);
    const posts = after.filter((c) => c.method === 'postMessage');
    // The result, posted again after Retry-After, in the thread.
    expect(posts.map((c) => [c.args.thread_ts, c.args.failed === true, c.at - posts[0]!.at])).toEqual([
      ['100.1', true, 0],
      ['100.1', false, 2000],
    ]);
    expect(String(posts[1]!.args.text)).toContain('https://s3.example/x?sig=1');
    // No stale progress edit after the end: the status gets its final state, the parent the outcome.
    const edits = after.filter((c) => c.method === 'update');
    expect(edits[1]!.at - edits[0]!.at).toBeGreaterThanOrEqual(3000);
    expect(edits.map((c) => [c.args.ts, c.args.text])).toEqual([
      ['100.2', ':white_check_mark: Done in 1m 3s: dumped 45.0 MiB, stored 12.0 MiB.'],
      ['100.1', ':white_check_mark: Backup of `app-db` requested by <@U1> finished: 12.0 MiB in 1m 3s.'],
    ]);
    expect(threads.size).toBe(0);
  });

  it('a failure gets its reason (scrubbed) and a Retry button; a retry thread does not edit a parent it does not own', async () => {
    const { clock, calls, runner, queue, reporters } = setup();
    const { job } = accepted(queue.enqueue({ kind: 'backup', target: 'app-db', trigger: { kind: 'alert', by: '1.1' } }));
    await reporters.start(job, { channel: 'C1', threadTs: '50.5', ownParent: false });
    // No parent of its own: the first post is the status, in the given thread.
    expect(calls[0]).toMatchObject({ method: 'postMessage', args: { thread_ts: '50.5' } });
    (await runner.started('app-db')).fail(
      new DumptruckError('CONNECT_FAILED', 'connect', 'could not connect with token xoxb-secret-token'),
    );
    await idle(reporters, clock);
    const result = calls.filter((c) => c.method === 'postMessage').at(-1)!;
    expect(result.args.text).toBe(
      ':x: Backup of `app-db` failed (stage `connect`). Nothing was stored.\nconnect failed: could not connect with token xoxb-[redacted]',
    );
    expect(JSON.stringify(result.args.blocks)).toContain('"value":"{\\"target\\":\\"app-db\\",\\"ownParent\\":false}"');
    expect(calls.filter((c) => c.method === 'update').map((c) => c.args.ts)).toEqual(['100.1']);
  });

  it('fails to start when the parent cannot be posted, and lets go of the job', async () => {
    const { failNext, queue, reporters } = setup();
    const { job } = accepted(queue.enqueue({ kind: 'backup', target: 'app-db', trigger: { kind: 'slack', by: 'U1' } }));
    failNext('postMessage', new webApi.WebAPIPlatformError({ ok: false, error: 'not_in_channel' }));
    await expect(reporters.start(job, { channel: 'C9', ownParent: true })).rejects.toMatchObject({ data: { error: 'not_in_channel' } });
    await settle();
    await reporters.idle();
  });

  it('keeps the job and posts the result even when every edit fails', async () => {
    const { clock, calls, failNext, runner, queue, reporters } = setup();
    const { job } = accepted(queue.enqueue({ kind: 'backup', target: 'app-db', trigger: { kind: 'slack', by: 'U1' } }));
    await reporters.start(job, { channel: 'C1', ownParent: true });
    const run = await runner.started('app-db');
    for (let i = 0; i < 20; i++) failNext('update', new webApi.WebAPIPlatformError({ ok: false, error: 'internal_error' }));
    for (let i = 1; i <= 50; i++) {
      run.emit({ type: 'progress', jobId: 'job1', progress: progress(i) });
      await clock.advance(200);
    }
    run.succeed();
    await idle(reporters, clock);
    const posts = calls.filter((c) => c.method === 'postMessage');
    expect(String(posts.at(-1)!.args.text)).toMatch(/^:white_check_mark: Backup of `app-db` finished\./);
  });
});
