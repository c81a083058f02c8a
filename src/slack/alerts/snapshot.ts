import { userMessage } from '../../errors.js';
import type { Queue } from '../../jobs/queue.js';
import { enqueueSnapshot } from '../../snapshots/enqueue.js';
import { rdsTarget } from '../../snapshots/snapshot.js';
import type { SnapshotService } from '../../snapshots/types.js';
import type { AlertRef } from '../../alerts/reruns.js';
import { code, escapeText, section, type SlackMessage } from '../messages/format.js';
import { refusalText } from '../messages/queue.js';
import { threadRef, type ThreadLink } from '../messages/replies.js';
import type { Reporters } from '../progress/reporter.js';
import type { Redactor } from '../../redact.js';

// The snapshot step of a failure alert (alerts.action / targets.<name>.alertAction snapshot or
// both): an RDS snapshot of the target's instance, reported in the alert's own thread like a
// rerun's dump. One attempt: a snapshot the provider refused is not retried on a timer (the
// dump, when `both`, still follows and has its retries).

export interface AlertSnapshotDeps {
  readonly queue: Pick<Queue, 'enqueue' | 'cancelJob'>;
  readonly reporters: Pick<Reporters, 'startSnapshot' | 'reported'>;
  readonly snapshots?: SnapshotService | undefined;
  readonly config: Parameters<typeof rdsTarget>[0];
  readonly threads: ReadonlyMap<string, ThreadLink>;
  readonly redactor: Redactor;
  /** Posts in the alert's thread; never rejects. */
  readonly post: (message: SlackMessage) => Promise<void>;
}

/** Takes the snapshot and resolves once it has settled and its thread has its result (or once it was refused). */
export async function takeAlertSnapshot(deps: AlertSnapshotDeps, target: string, alert: AlertRef): Promise<void> {
  const say = (text: string) => deps.post({ text, blocks: [section(text)] });
  let instanceId: string;
  try {
    instanceId = rdsTarget(deps.config, target).rds.instanceId;
    if (!deps.snapshots) throw new Error('RDS snapshots are not set up in this bot');
  } catch (err) {
    await say(`:warning: No snapshot of ${code(target)}: ${escapeText(userMessage(err, deps.redactor))}`);
    return;
  }
  const enqueued = enqueueSnapshot(deps.queue, {
    target,
    trigger: { kind: 'alert', by: alert.by, detail: `${alert.channel}/${alert.ts}` },
  });
  if (!enqueued.ok) {
    await say(`:warning: No snapshot of ${code(target)} was taken for this alert: ${escapeText(refusalText(enqueued.refusal))}`);
    return;
  }
  const { job, created } = enqueued;
  if (!created) {
    const where = threadRef(deps.threads.get(job.id));
    await say(
      `:eyes: A snapshot of ${code(target)} is already ${job.state === 'running' ? 'running' : 'queued'}${where ? ` (${where})` : ''}; this alert follows it.`,
    );
    await job.settled;
    return;
  }
  try {
    await deps.reporters.startSnapshot(job, { channel: alert.channel, threadTs: alert.ts, ownParent: false }, instanceId);
  } catch {
    deps.queue.cancelJob(job.id, 'cancelled: its Slack thread could not be posted');
    return;
  }
  await job.settled;
  await deps.reporters.reported(job.id);
}
