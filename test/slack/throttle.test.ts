import { webApi } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import { ThrottledUpdater } from '../../src/slack/progress/throttle.js';
import { FakeClock, settle } from '../helpers/slack-clock.js';

function setup(fail: (state: number, attempt: number) => Error | undefined = () => undefined) {
  const clock = new FakeClock(1_000_000);
  const sent: Array<{ state: number; at: number }> = [];
  const attempts: number[] = [];
  const errors: Array<{ final: boolean }> = [];
  const updater = new ThrottledUpdater<number>({
    intervalMs: 3000,
    clock,
    lastSentAt: clock.now(),
    send: async (state) => {
      attempts.push(state);
      const err = fail(state, attempts.length);
      if (err) throw err;
      sent.push({ state, at: clock.now() });
    },
    onError: (_err, final) => errors.push({ final }),
  });
  return { clock, sent, attempts, errors, updater, t0: clock.now() };
}

const rateLimited = (seconds: number) => new webApi.WebAPIRateLimitedError(seconds);
const platform = (error: string) => new webApi.WebAPIPlatformError({ ok: false, error });

describe('ThrottledUpdater', () => {
  it('sends only the newest of many states, one interval after the last write', async () => {
    const { clock, sent, updater, t0 } = setup();
    for (let i = 1; i <= 100; i++) updater.push(i);
    await clock.advance(2999);
    expect(sent).toEqual([]);
    await clock.advance(1);
    expect(sent).toEqual([{ state: 100, at: t0 + 3000 }]);
  });

  it('never edits more than once per interval however fast states come', async () => {
    const { clock, sent, updater } = setup();
    for (let i = 1; i <= 300; i++) {
      updater.push(i);
      await clock.advance(100);
    }
    // 30 s of states every 100 ms: one edit per 3 s.
    expect(sent).toHaveLength(10);
    for (let i = 1; i < sent.length; i++) expect(sent[i]!.at - sent[i - 1]!.at).toBeGreaterThanOrEqual(3000);
    expect(sent.map((s) => s.state)).toEqual([30, 60, 90, 120, 150, 180, 210, 240, 270, 300]);
  });

  it('waits out a 429 and then sends the newest state, not the refused one', async () => {
    const { clock, sent, attempts, updater, t0 } = setup((state) => (state === 1 ? rateLimited(10) : undefined));
    updater.push(1);
    await clock.advance(3000);
    expect(attempts).toEqual([1]);
    updater.push(2);
    await clock.advance(9999);
    expect(attempts).toEqual([1]);
    await clock.advance(1);
    expect(sent).toEqual([{ state: 2, at: t0 + 13_000 }]);
  });

  it('resends the refused state after a 429 when nothing newer came', async () => {
    let first = true;
    const { clock, sent, updater, t0 } = setup(() => {
      if (!first) return undefined;
      first = false;
      return rateLimited(5);
    });
    updater.push(7);
    await clock.advance(8000);
    expect(sent).toEqual([{ state: 7, at: t0 + 8000 }]);
  });

  it('always sends the final state, after the interval, and ignores later pushes', async () => {
    const { clock, sent, updater, t0 } = setup();
    updater.push(1);
    await clock.advance(3000);
    let done = false;
    void updater.finish(99).then(() => (done = true));
    updater.push(100);
    await clock.advance(2000);
    expect(done).toBe(false);
    await clock.advance(1000);
    expect(done).toBe(true);
    expect(sent).toEqual([
      { state: 1, at: t0 + 3000 },
      { state: 99, at: t0 + 6000 },
    ]);
  });

  it('retries the final state through 429s and transient errors', async () => {
    const { clock, sent, attempts, updater } = setup((_s, n) =>
      n === 1 ? rateLimited(2) : n === 2 ? platform('internal_error') : undefined,
    );
    let done = false;
    void updater.finish(5).then(() => (done = true));
    await clock.advance(60_000);
    expect(done).toBe(true);
    expect(attempts).toEqual([5, 5, 5]);
    expect(sent.map((s) => s.state)).toEqual([5]);
  });

  it('gives up on the final state after a permanent error, without throwing', async () => {
    const { clock, attempts, errors, updater } = setup(() => platform('message_not_found'));
    const finished = updater.finish(5);
    await clock.advance(3000);
    await expect(finished).resolves.toBeUndefined();
    expect(attempts).toEqual([5]);
    expect(errors).toEqual([{ final: true }]);
  });

  it('gives up on the final state after a bounded number of attempts', async () => {
    const { clock, attempts, updater } = setup(() => rateLimited(1));
    const finished = updater.finish(5);
    await clock.advance(120_000);
    await expect(finished).resolves.toBeUndefined();
    expect(attempts).toHaveLength(6);
  });

  it('drops a state that failed for good and carries on with the next', async () => {
    const { clock, sent, updater } = setup((state) => (state === 1 ? platform('invalid_blocks') : undefined));
    updater.push(1);
    await clock.advance(3000);
    await settle();
    updater.push(2);
    await clock.advance(3000);
    expect(sent.map((s) => s.state)).toEqual([2]);
  });
});
