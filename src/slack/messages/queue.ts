import { DumptruckError, userMessage } from '../../errors.js';
import type { JobKind, QueueRefusal } from '../../types.js';

// The queues' refusals in words. The queues answer with data (src/types.ts QueueRefusal); what
// the requester reads is decided here, once, for commands, buttons, alerts and schedules. Pure.

/** Verifications, prunes and restores run on a queue of their own (on a fleet, the fleet queue), which /backup status does not show by these words. */
const MAINTENANCE: Partial<Record<JobKind, string>> = { verify: 'verification', prune: 'prune', restore: 'restore' };

/** The refusal as an error (TARGET_BUSY or QUEUE_FULL, stage `queue`), for places that carry errors (an alert run's attempts). */
export function refusalError(refusal: QueueRefusal): DumptruckError {
  const { kind, target } = refusal;
  const what = MAINTENANCE[kind];
  switch (refusal.reason) {
    case 'target-busy': {
      const { busy } = refusal;
      const busyWhat = MAINTENANCE[busy.kind] ?? busy.kind;
      if (what) {
        // On a fleet every kind shares one queue, so a backup may be what holds the target.
        const rule = MAINTENANCE[busy.kind]
          ? 'one verification, prune or restore of a target at a time'
          : 'one operation per database at a time';
        return new DumptruckError(
          'TARGET_BUSY',
          'queue',
          `a ${busyWhat} of ${target} is under way; ${rule}, so this ${what} was not started`,
          {
            hint: 'Ask again once its result is in its thread.',
          },
        );
      }
      return new DumptruckError(
        'TARGET_BUSY',
        'queue',
        `a ${busyWhat} of ${target} is ${busy.state === 'running' ? 'running' : 'queued'} (job ${busy.id}); one operation per database at a time, so this ${kind} was not queued`,
        {
          hint: `Ask again once the ${busyWhat} has finished; \`/backup status\` shows it.`,
        },
      );
    }
    case 'queue-full': {
      if (what) {
        return new DumptruckError(
          'QUEUE_FULL',
          'queue',
          `too many verifications, prunes and restores are waiting, so this ${what} of ${target} was not queued`,
          {
            hint: 'Try again when one of them has finished.',
          },
        );
      }
      const { maxPending } = refusal;
      return new DumptruckError(
        'QUEUE_FULL',
        'queue',
        `${maxPending} backup${maxPending === 1 ? ' is' : 's are'} already waiting (queue.maxPending is ${maxPending})`,
        {
          hint: 'Try again when one of them has started; `/backup status` shows the queue.',
        },
      );
    }
    case 'draining':
      return new DumptruckError('QUEUE_FULL', 'queue', 'the bot is shutting down and takes no new backups', {
        hint: 'Try again in a minute, once it has restarted.',
      });
  }
}

/** The refusal as the requester reads it. */
export function refusalText(refusal: QueueRefusal): string {
  return userMessage(refusalError(refusal));
}

/** Said in a job's thread when the replica running it stopped without a word (a fleet, config `state:`). */
export function workerStoppedText(replica: string, retried: boolean): string {
  return retried
    ? `:warning: The worker running this (\`${replica}\`) stopped. Nothing it was writing is kept; the job is back in the queue and another replica runs it once more.`
    : `:x: The worker running this (\`${replica}\`) stopped, and it had already been retried once, so it is not retried again. Nothing it was writing is kept; run it again when the fleet is healthy.`;
}
