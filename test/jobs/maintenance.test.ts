import { describe, expect, it } from 'vitest';
import { Maintenance, type TrustOps } from '../../src/jobs/maintenance.js';
import type { PruneReport } from '../../src/retention/prune.js';
import type { VerifyReport } from '../../src/verify/verify.js';
import { slackTestConfig } from '../helpers/slack-config.js';
import { accepted } from '../helpers/queue.js';
import { refusalError } from '../../src/slack/messages/queue.js';
import type { Enqueued } from '../../src/types.js';

// The maintenance queue with engine calls the test settles by hand: its rules, in its own words.

const object = {
  key: 'dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz',
  size: 10,
  lastModified: new Date('2024-05-01T03:00:00Z'),
  state: 'complete' as const,
};

function held() {
  const pending: Array<{ what: string; release: () => void }> = [];
  const wait = (what: string) => new Promise<void>((resolve) => pending.push({ what, release: resolve }));
  const ops: TrustOps = {
    resolve: async () => object,
    verify: async (target, key) => {
      await wait(`verify ${key}`);
      return { target, key } as VerifyReport;
    },
    prune: async (target, { dryRun }) => {
      if (!dryRun) await wait(`prune ${target}`);
      return { target, dryRun } as PruneReport;
    },
    planRestore: () => Promise.reject(new Error('not used here')),
    restore: () => Promise.reject(new Error('not used here')),
  };
  return { ops, pending };
}

const trigger = { kind: 'slack', by: 'U1' } as const;

describe('Maintenance', () => {
  it('resolves latest when the job starts, reports it, and gives a second request the same job', async () => {
    const { ops, pending } = held();
    const m = new Maintenance({ config: slackTestConfig({ 'app-db': {} }), ops });
    const events: string[] = [];
    const { job, created } = accepted(m.verify('app-db', 'latest', trigger));
    job.subscribe((e) => events.push(e.type));
    expect(created).toBe(true);
    expect(m.verify('app-db', 'latest', trigger)).toEqual({ ok: true, job, created: false });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pending.map((p) => p.what)).toEqual([`verify ${object.key}`]);
    pending[0]!.release();
    expect(await job.settled).toEqual({ ok: true, result: { target: 'app-db', key: object.key } });
    expect(events).toEqual(['verify-started', 'finished']);
    expect(job.kind).toBe('verify');
  });

  it('one verification or prune of a target at a time, and a bounded wait, refused in its own words', async () => {
    const { ops, pending } = held();
    const m = new Maintenance({ config: slackTestConfig({ a: {}, b: {}, c: {} }), ops, queue: { concurrency: 1, maxPending: 1 } });
    m.verify('a', 'latest', trigger);
    // Refused as data; slack/messages words it for this queue's kinds.
    const refusal = (enqueued: Enqueued<unknown>) => {
      if (enqueued.ok) throw new Error('not refused');
      const err = refusalError(enqueued.refusal);
      return { code: err.code, message: err.message, hint: err.hint };
    };
    expect(refusal(m.prune('a', trigger))).toEqual({
      code: 'TARGET_BUSY',
      message: 'a verification of a is under way; one verification, prune or restore of a target at a time, so this prune was not started',
      hint: 'Ask again once its result is in its thread.',
    });
    m.prune('b', trigger);
    expect(refusal(m.verify('c', 'latest', trigger))).toMatchObject({
      code: 'QUEUE_FULL',
      message: 'too many verifications, prunes and restores are waiting, so this verification of c was not queued',
    });
    // The plan (a dry run) is not a job: it answers at once whatever is queued.
    expect(await m.plan('a')).toEqual({ target: 'a', dryRun: true });

    const shutdown = m.shutdown();
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const p of pending) p.release();
    await shutdown;
    expect(m.queue.status()).toEqual({ running: [], queued: [] });
  });
});
