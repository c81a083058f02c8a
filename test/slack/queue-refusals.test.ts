import { describe, expect, it } from 'vitest';
import { refusalError, refusalText } from '../../src/slack/messages/queue.js';

// The queues refuse with data; these are the words requesters read, for each refusal.

describe('queue refusals in words', () => {
  it('another operation holds the target', () => {
    const refusal = {
      reason: 'target-busy',
      kind: 'snapshot',
      target: 'b',
      busy: { id: 'job2', kind: 'backup', state: 'running' },
    } as const;
    expect(refusalText(refusal)).toBe(
      'queue failed: a backup of b is running (job job2); one operation per database at a time, so this snapshot was not queued\nAsk again once the backup has finished; `/backup status` shows it.',
    );
    expect(refusalError(refusal)).toMatchObject({ code: 'TARGET_BUSY', stage: 'queue' });
    expect(refusalText({ ...refusal, kind: 'backup', busy: { id: 'job1', kind: 'snapshot', state: 'queued' } })).toMatch(
      /^queue failed: a snapshot of b is queued \(job job1\)/,
    );
  });

  it('the queue is full, or draining for a restart', () => {
    expect(refusalText({ reason: 'queue-full', kind: 'backup', target: 'c', maxPending: 1 })).toBe(
      'queue failed: 1 backup is already waiting (queue.maxPending is 1)\nTry again when one of them has started; `/backup status` shows the queue.',
    );
    expect(refusalError({ reason: 'queue-full', kind: 'backup', target: 'c', maxPending: 3 }).message).toBe(
      '3 backups are already waiting (queue.maxPending is 3)',
    );
    expect(refusalText({ reason: 'draining', kind: 'backup', target: 'c' })).toBe(
      'queue failed: the bot is shutting down and takes no new backups\nTry again in a minute, once it has restarted.',
    );
  });

  it('verifications, prunes and restores in their own words', () => {
    expect(
      refusalError({ reason: 'target-busy', kind: 'prune', target: 'a', busy: { id: 'j', kind: 'verify', state: 'running' } }),
    ).toMatchObject({
      code: 'TARGET_BUSY',
      message: 'a verification of a is under way; one verification, prune or restore of a target at a time, so this prune was not started',
      hint: 'Ask again once its result is in its thread.',
    });
    expect(refusalError({ reason: 'queue-full', kind: 'restore', target: 'c', maxPending: 1 })).toMatchObject({
      code: 'QUEUE_FULL',
      message: 'too many verifications, prunes and restores are waiting, so this restore of c was not queued',
      hint: 'Try again when one of them has finished.',
    });
  });
});
