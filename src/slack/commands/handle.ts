import type { Config } from '../../config/schema.js';
import { InputError, userMessage } from '../../errors.js';
import type { Trigger } from '../../jobs/events.js';
import type { Maintenance } from '../../jobs/maintenance.js';
import type { AnyJob, Enqueued, Queue } from '../../jobs/queue.js';
import { requireLinks } from '../../config/targets.js';
import { enqueueSnapshot } from '../../snapshots/enqueue.js';
import { rdsTarget } from '../../snapshots/snapshot.js';
import type { SnapshotService } from '../../snapshots/types.js';
import type { BackupCatalog } from '../../storage/types.js';
import {
  cancelReply,
  duplicateReply,
  helpReply,
  linkReply,
  listReply,
  nothingToCancelReply,
  restartingReply,
  statusReply,
  targetsReply,
  type ThreadLink,
} from '../messages/replies.js';
import { maintenanceRestartingReply, prunePlanReply } from '../messages/maintenance.js';
import { historyNeedsStateReply, historyReply } from '../messages/history.js';
import { refusalText } from '../messages/queue.js';
import { snapshotsReply } from '../messages/snapshot.js';
import { pruneThread, verifyThread } from '../progress/maintenance.js';
import type { Reporters, ThreadPlace } from '../progress/reporter.js';
import { authorize, channelAllowed, type Requester, type TargetAction } from './authorize.js';
import { parseCommand, type Command } from './parse.js';
import type { RestoreDesk } from '../restore.js';
import type { Redactor } from '../../redact.js';
import type { StateStore } from '../../state/store.js';

// What /backup and the buttons do, free of Bolt: the listeners ack, call these and deliver the
// replies. Everything up to the ack is synchronous, so the ack never waits on I/O.

export interface CommandDeps {
  readonly config: Config;
  readonly queue: Queue;
  readonly catalog: BackupCatalog;
  readonly reporters: Reporters;
  readonly threads: ReadonlyMap<string, ThreadLink>;
  /** Values userMessage() scrubs from replies. */
  readonly redactor: Redactor;
  readonly now: () => Date;
  /** True while the bot drains for a restart: runs (commands, Retry) are refused, nothing is queued. Default: never. */
  readonly isDraining?: () => boolean;
  /** RDS snapshots (`/backup snapshot`, `/backup snapshots`); absent: those commands say they are not set up. */
  readonly snapshots?: SnapshotService;
  /** `/backup verify` and `/backup prune`, on a queue of their own (on a fleet, the fleet queue); absent: those commands say they are not set up. */
  readonly maintenance?: Maintenance;
  /** `/backup restore` and its approval buttons; absent: restores say they are not set up. */
  readonly restores?: RestoreDesk;
  /** The state database (config `state:`): `/backup history`; absent: history says it needs `state:`. */
  readonly state?: Pick<StateStore, 'history'> | undefined;
}

export interface Outcome {
  /** Known at once: sent with the ack (commands) or right after it (buttons). */
  readonly reply?: string;
  /** Work after the ack; text it returns goes to the requester only. It may reject: the listener renders the error. */
  readonly later?: () => Promise<string | undefined>;
}

export function handleCommand(text: string, who: Requester, deps: CommandDeps): Outcome {
  return refusalsAsReplies(deps, () => dispatch(parseCommand(text, Object.keys(deps.config.targets)), who, deps));
}

function dispatch(command: Command, who: Requester, deps: CommandDeps): Outcome {
  switch (command.kind) {
    case 'help':
      return { reply: helpReply() };
    case 'targets':
      return {
        reply: targetsReply(
          Object.entries(deps.config.targets).map(([name, t]) => ({
            name,
            format: t.format,
            allowedHere: channelAllowed(t, who.channelId),
          })),
        ),
      };
    case 'status': {
      // Verifications and prunes run on a queue of their own (on a fleet, the same one); they are listed after the backups.
      const backups = deps.queue.status();
      const other = maintenanceQueue(deps)?.status() ?? { running: [], queued: [] };
      // Only targets this channel may run: their jobs name requesters and link threads in channels
      // the caller may not see.
      const visible = (job: AnyJob) => {
        const target = deps.config.targets[job.target];
        return target !== undefined && channelAllowed(target, who.channelId);
      };
      const status = {
        running: [...backups.running, ...other.running].filter(visible),
        queued: [...backups.queued, ...other.queued].filter(visible),
      };
      return { reply: statusReply(status, (id) => deps.threads.get(id), deps.now()) };
    }
    case 'run':
      allow(command.target, who, 'back up', deps);
      return startRun(command.target, slackTrigger(who), { channel: who.channelId, ownParent: true }, deps);
    case 'cancel': {
      allow(command.target, who, 'cancel backups of', deps);
      const reason = `cancelled by <@${who.userId}>`;
      // An approved restore runs on the maintenance queue: `/backup cancel` reaches it as its
      // thread's Cancel button does. Verifications and prunes are left to their own buttons,
      // also on a fleet, where they share the backups' queue.
      const other = maintenanceQueue(deps);
      const kind = deps.queue.get(command.target)?.kind;
      const jobs = [
        kind === 'verify' || kind === 'prune' ? undefined : deps.queue.cancel(command.target, reason),
        other?.get(command.target)?.kind === 'restore' ? other.cancel(command.target, reason) : undefined,
      ];
      const replies = jobs.flatMap((job) => (job ? [cancelReply(job, deps.threads.get(job.id))] : []));
      return { reply: replies.length > 0 ? replies.join('\n') : nothingToCancelReply(command.target) };
    }
    case 'list': {
      const { target } = command;
      allow(target, who, 'list backups of', deps);
      return { later: async () => listReply(target, await deps.catalog.list(target)) };
    }
    case 'link': {
      const { target, key } = command;
      // Links only go to channels the target allows: the channel check is part of this.
      allow(target, who, 'get links to backups of', deps);
      requireLinks(deps.config, target);
      return {
        later: async () => {
          const { object, link } = await deps.catalog.linkStored(target, key);
          return linkReply(object, link);
        },
      };
    }
    case 'verify': {
      const { target, key } = command;
      allow(target, who, 'verify backups of', deps);
      const maintenance = maintenanceOf(deps);
      if (deps.isDraining?.()) return { reply: maintenanceRestartingReply(`/backup verify ${target}`) };
      const place: ThreadPlace = { channel: who.channelId, ownParent: true };
      return inThread(
        maintenance.verify(target, key, slackTrigger(who)),
        (job) => deps.reporters.startThread(job, place, verifyThread(key, deps.redactor)),
        deps,
        maintenance.queue,
      );
    }
    case 'prune': {
      const { target } = command;
      allow(target, who, 'prune backups of', deps);
      const maintenance = maintenanceOf(deps);
      const rules = deps.config.targets[target]!.retention;
      if (!rules) {
        throw new InputError(
          `\`${target}\` has no retention rules, so there is nothing to prune`,
          `An admin sets \`targets.${target}.retention: { keepLast: N, keepDays: D }\`.`,
        );
      }
      if (!command.confirm) return { later: async () => prunePlanReply(await maintenance.plan(target)) };
      if (deps.isDraining?.()) return { reply: maintenanceRestartingReply(`/backup prune ${target} confirm`) };
      const place: ThreadPlace = { channel: who.channelId, ownParent: true };
      return inThread(
        maintenance.prune(target, slackTrigger(who)),
        (job) => deps.reporters.startThread(job, place, pruneThread(rules, deps.redactor)),
        deps,
        maintenance.queue,
      );
    }
    case 'restore': {
      const { target, key, database, replace, fromMirror } = command;
      allow(target, who, 'restore backups of', deps);
      const desk = restoresOf(deps);
      const approvers = deps.config.targets[target]!.restore?.approvers ?? [];
      if (approvers.length === 0) {
        throw new InputError(
          `nobody may approve restores of \`${target}\`, so none can be asked for in Slack`,
          `An admin sets \`targets.${target}.restore.approvers: [U...]\`; the CLI restores with \`dumptruck restore ${target} --into <database>\`.`,
          'NOT_ALLOWED',
        );
      }
      if (deps.isDraining?.()) return { reply: maintenanceRestartingReply(`/backup restore ${target}`) };
      return { later: () => desk.request({ target, key, database, replace, source: fromMirror ? 'mirror' : 'primary' }, who) };
    }
    case 'history': {
      const { target, count } = command;
      allow(target, who, 'see the history of', deps);
      const { state } = deps;
      if (!state) return { reply: historyNeedsStateReply() };
      return { later: async () => historyReply(target, await state.history(target, count)) };
    }
    case 'snapshot':
      allow(command.target, who, 'snapshot', deps);
      return startSnapshot(command.target, slackTrigger(who), { channel: who.channelId, ownParent: true }, deps);
    case 'snapshots': {
      const { target } = command;
      allow(target, who, 'list snapshots of', deps);
      const { rds } = rdsTarget(deps.config, target);
      const service = snapshotService(deps);
      return { later: async () => snapshotsReply(target, rds.instanceId, await service.list(target)) };
    }
  }
}

/** The Cancel button: carries a job id, so a stale button cannot cancel a newer run of the target. */
export function handleCancelButton(jobId: string, who: Requester, deps: CommandDeps): Outcome {
  return refusalsAsReplies(deps, () => {
    // Restores run on the maintenance queue, and their status message has this button too.
    const queue = deps.queue.getById(jobId) || !deps.maintenance?.queue.getById(jobId) ? deps.queue : deps.maintenance.queue;
    const job = queue.getById(jobId);
    if (!job) return { reply: 'That backup has already finished; there is nothing to cancel.' };
    allow(job.target, who, 'cancel backups of', deps);
    queue.cancelJob(jobId, `cancelled by <@${who.userId}>`);
    return { reply: cancelReply(job, deps.threads.get(job.id)) };
  });
}

/** The Retry button on a failure: a new run whose messages go to the same thread. */
export function handleRetryButton(value: string, who: Requester, threadTs: string, deps: CommandDeps): Outcome {
  return refusalsAsReplies(deps, () => {
    const retry = parseRetryValue(value);
    if (!deps.config.targets[retry.target]) {
      throw new InputError(
        `\`${retry.target}\` is no longer a configured target`,
        'Ask an admin, or try `/backup targets`.',
        'UNKNOWN_TARGET',
      );
    }
    allow(retry.target, who, 'retry backups of', deps);
    return startRun(
      retry.target,
      { kind: 'retry', by: who.userId, detail: who.channelId },
      { channel: who.channelId, threadTs, ownParent: retry.ownParent },
      deps,
    );
  });
}

/**
 * Queues the run, or answers with the thread of the run already queued for the target. The
 * thread is started after the ack; if Slack will not take it (the bot is not in the channel),
 * the job is cancelled before it can do any work nobody would see.
 */
function startRun(target: string, trigger: Trigger, place: ThreadPlace, deps: CommandDeps): Outcome {
  if (deps.isDraining?.()) return { reply: restartingReply(target) };
  return inThread(deps.queue.enqueue({ kind: 'backup', target, trigger }), (job) => deps.reporters.start(job, place), deps);
}

/**
 * A snapshot of the target's RDS instance, queued and reported in a thread like a run. A target
 * without `rds` is refused at once, and so is a target whose dump is queued or running.
 */
export function startSnapshot(target: string, trigger: Trigger, place: ThreadPlace, deps: CommandDeps): Outcome {
  const { rds } = rdsTarget(deps.config, target);
  // Refuses at once when the bot has no snapshot service (the queue then has no snapshot jobs).
  snapshotService(deps);
  if (deps.isDraining?.()) return { reply: restartingReply(target) };
  return inThread(
    enqueueSnapshot(deps.queue, { target, trigger }),
    (job) => deps.reporters.startSnapshot(job, place, rds.instanceId),
    deps,
  );
}

/** The Approve and Deny buttons of a restore request; `value` is its id. */
export function handleRestoreButton(
  decision: 'approve' | 'deny',
  value: string,
  who: Requester,
  triggerId: string | undefined,
  deps: CommandDeps,
): Outcome {
  return refusalsAsReplies(deps, () => {
    const desk = restoresOf(deps);
    return { later: () => (decision === 'approve' ? desk.approve(value, who, triggerId) : desk.deny(value, who)) };
  });
}

function restoresOf(deps: CommandDeps): RestoreDesk {
  if (!deps.restores) throw new InputError('restores are not set up in this bot', 'Ask an admin: the bot was started without them.');
  return deps.restores;
}

/** The maintenance jobs' queue when it is not the backups' own (a fleet runs every kind on one queue). */
function maintenanceQueue(deps: CommandDeps): Queue | undefined {
  const queue = deps.maintenance?.queue;
  return queue === deps.queue ? undefined : queue;
}

function maintenanceOf(deps: CommandDeps): Maintenance {
  if (!deps.maintenance)
    throw new InputError('verification and pruning are not set up in this bot', 'Ask an admin: the bot was started without them.');
  return deps.maintenance;
}

function slackTrigger(who: Requester): Trigger {
  return { kind: 'slack', by: who.userId, detail: who.channelId };
}

function snapshotService(deps: CommandDeps): SnapshotService {
  if (!deps.snapshots)
    throw new InputError('RDS snapshots are not set up in this bot', 'Ask an admin: the bot was started without the snapshot service.');
  return deps.snapshots;
}

/** `queue` is where the job runs, to cancel it when its thread cannot be posted. */
function inThread<J extends AnyJob>(
  enqueued: Enqueued<J>,
  start: (job: J) => Promise<unknown>,
  deps: CommandDeps,
  queue: Pick<Queue, 'cancelJob'> = deps.queue,
): Outcome {
  if (!enqueued.ok) return { reply: refusalText(enqueued.refusal) };
  const { job, created } = enqueued;
  if (!created) return { reply: duplicateReply(job, deps.threads.get(job.id)) };
  return {
    later: async () => {
      try {
        await start(job);
        return undefined;
      } catch (err) {
        queue.cancelJob(job.id, 'cancelled: its Slack thread could not be posted');
        return threadFailedReply(job, err, deps.redactor);
      }
    },
  };
}

function threadFailedReply(job: AnyJob, err: unknown, redactor: Redactor): string {
  const code = (err as { data?: { error?: unknown } }).data?.error;
  if (code === 'not_in_channel' || code === 'channel_not_found') {
    return `I can't post in this channel (${code}), so the ${job.kind} of \`${job.target}\` was not started. Invite me with \`/invite @dumptruck\`, or run it from a channel I am in.`;
  }
  return `The ${job.kind} of \`${job.target}\` was not started: its Slack thread could not be posted (${userMessage(err, redactor)}).`;
}

function allow(name: string, who: Requester, action: TargetAction, deps: CommandDeps): void {
  const target = deps.config.targets[name];
  // parseCommand only returns configured targets; a button may carry one removed since.
  if (!target) throw new InputError(`unknown target \`${name}\``, 'Try `/backup targets`.', 'UNKNOWN_TARGET');
  authorize(name, target, who, action);
}

function parseRetryValue(value: string): { target: string; ownParent: boolean } {
  try {
    const parsed = JSON.parse(value) as { target?: unknown; ownParent?: unknown };
    if (typeof parsed.target === 'string') return { target: parsed.target, ownParent: parsed.ownParent === true };
  } catch {
    // fall through: the button was not one of ours
  }
  throw new InputError('that Retry button is not one of mine', `Use \`/backup run <target>\` instead.`);
}

/** Input errors, refusals and a full queue are answers to the requester, not failures. */
function refusalsAsReplies(deps: CommandDeps, handle: () => Outcome): Outcome {
  try {
    return handle();
  } catch (err) {
    return { reply: userMessage(err, deps.redactor) };
  }
}
