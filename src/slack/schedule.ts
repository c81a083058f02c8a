import type { Logger } from 'pino';
import type { Config, TargetConfig } from '../config/schema.js';
import { userMessage } from '../errors.js';
import type { Queue } from '../jobs/queue.js';
import { Scheduler, type SchedulerEvent, type SchedulerOptions } from '../jobs/scheduler.js';
import type { BackupCatalog } from '../storage/types.js';
import type { SlackMessage } from './messages/format.js';
import type { ThreadLink } from './messages/replies.js';
import { refusalText } from './messages/queue.js';
import { catchUpFailedMessage, scheduleRefusedMessage, scheduleSkippedMessage } from './messages/schedule.js';
import type { ChatApi, Reporters } from './progress/reporter.js';
import type { Redactor } from '../redact.js';

// The bot's own schedules (targets.<name>.schedule): the Scheduler enqueues on the bot's queue,
// and each scheduled run gets a thread in its target's report channel, like a /backup run. With
// no report channel a scheduled run only logs; it runs all the same.

/** Where a target's scheduled runs post: `reportChannel`, else the first of `channels`, else nowhere. */
export function reportChannelOf(target: TargetConfig): string | undefined {
  return target.reportChannel ?? target.channels[0];
}

export interface ScheduleReporterDeps {
  readonly config: Config;
  readonly reporters: Pick<Reporters, 'start'>;
  readonly chat: Pick<ChatApi, 'postMessage'>;
  /** Jobs' threads, to point a skipped run at the job that stands in for it. */
  readonly threads: ReadonlyMap<string, ThreadLink>;
  readonly logger: Logger;
  /** Values userMessage() scrubs. */
  readonly redactor?: Redactor;
}

/** The Scheduler's onEvent: logs every event, and posts it to the target's report channel when there is one. */
export function scheduleReporter(deps: ScheduleReporterDeps): (event: SchedulerEvent) => void {
  const { config, logger } = deps;
  const post = (channel: string, target: string, message: SlackMessage) => {
    deps.chat
      .postMessage({ channel, ...message })
      .catch((err: unknown) => logger.warn({ err, target, channel }, 'could not post to the report channel'));
  };
  return (event) => {
    const target = config.targets[event.target];
    const channel = target ? reportChannelOf(target) : undefined;
    switch (event.type) {
      case 'enqueued': {
        const { job, scheduledFor, catchUp } = event;
        logger.info(
          { target: event.target, jobId: job.id, scheduledFor, catchUp, reportChannel: channel ?? null },
          catchUp ? 'catch-up run of a missed schedule queued' : 'scheduled backup queued',
        );
        if (!channel) return;
        // The backup runs whether or not Slack takes its thread: the schedule is the point.
        deps.reporters.start(job, { channel, ownParent: true }).catch((err: unknown) => {
          logger.error(
            { err, target: event.target, jobId: job.id, channel },
            'could not post the thread of a scheduled backup; it runs anyway',
          );
        });
        return;
      }
      case 'skipped':
        logger.warn(
          { target: event.target, jobId: event.job.id, scheduledFor: event.scheduledFor, catchUp: event.catchUp },
          'scheduled backup skipped: a job of the target is already queued or running',
        );
        if (channel)
          post(channel, event.target, scheduleSkippedMessage(event.target, event.scheduledFor, event.job, deps.threads.get(event.job.id)));
        return;
      case 'refused':
        logger.error(
          { refusal: event.refusal, target: event.target, scheduledFor: event.scheduledFor, catchUp: event.catchUp },
          'scheduled backup refused by the queue',
        );
        if (channel) post(channel, event.target, scheduleRefusedMessage(event.target, event.scheduledFor, refusalText(event.refusal)));
        return;
      case 'claimed-elsewhere':
        logger.debug(
          { target: event.target, scheduledFor: event.scheduledFor, catchUp: event.catchUp },
          'scheduled backup left to the replica that claimed this fire time',
        );
        return;
      case 'claim-failed':
        logger.warn(
          { err: event.error, target: event.target, scheduledFor: event.scheduledFor },
          'could not claim a fire time in the state database; queueing it here anyway',
        );
        return;
      case 'catch-up-failed':
        logger.error({ err: event.error, target: event.target }, 'could not check for missed scheduled runs');
        if (channel) post(channel, event.target, catchUpFailedMessage(event.target, userMessage(event.error, deps.redactor)));
        return;
    }
  };
}

export interface StartSchedulesOptions extends ScheduleReporterDeps {
  readonly queue: Pick<Queue, 'enqueue'>;
  readonly catalog: Pick<BackupCatalog, 'list'>;
  /** Tests move time by hand. Default: the system clock and an unref'd setTimeout. */
  readonly now?: SchedulerOptions['now'];
  readonly setTimer?: SchedulerOptions['setTimer'];
  /** Fleet (config `state:`): one replica enqueues each fire time. */
  readonly claims?: SchedulerOptions['claims'];
}

/** Builds and starts the Scheduler (its missed-run check runs in the background); stop() it when draining. */
export function startSchedules(options: StartSchedulesOptions): Scheduler {
  const scheduler = new Scheduler({
    config: options.config,
    queue: options.queue,
    catalog: options.catalog,
    onEvent: scheduleReporter(options),
    ...(options.now ? { now: options.now } : {}),
    ...(options.setTimer ? { setTimer: options.setTimer } : {}),
    ...(options.claims ? { claims: options.claims } : {}),
  });
  scheduler.start().catch((err: unknown) => options.logger.error({ err }, 'the scheduler did not start'));
  for (const s of scheduler.upcoming())
    options.logger.info({ target: s.target, schedule: s.schedule, next: s.next ?? null }, 'schedule armed');
  return scheduler;
}
