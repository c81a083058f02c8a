import type { Logger } from 'pino';
import { userMessage } from '../../errors.js';
import type { BackupResult } from '../../jobs/events.js';
import type { Job } from '../../jobs/queue.js';
import type { Clock } from '../clock.js';
import type { Block } from '../messages/format.js';
import type { ThreadLink } from '../messages/replies.js';
import { parentMessage, resultMessage, statusMessage, type LinkState } from '../messages/thread.js';
import { applyEvent, isCancelled, isFinal, type ThreadView } from '../messages/view.js';
import { ThrottledUpdater } from './throttle.js';
import { withRetry } from './retry.js';

// Slack is a reporter of job events: this turns one job into a thread (parent, status edited
// in place, result) and never touches the job itself.

/** The part of the Web API the reporter uses; the WebClient's `chat` satisfies it, tests pass a fake. */
export interface ChatApi {
  postMessage(args: { channel: string; thread_ts?: string; text: string; blocks: Block[] }): Promise<{ ts?: string }>;
  update(args: { channel: string; ts: string; text: string; blocks: Block[] }): Promise<unknown>;
  getPermalink(args: { channel: string; message_ts: string }): Promise<{ permalink?: string }>;
}

export interface ReporterDeps {
  readonly chat: ChatApi;
  readonly clock: Clock;
  /** Minimum time between edits of one job's status message. */
  readonly intervalMs: number;
  readonly logger: Logger;
  /** A download link for a finished backup, or why there is none (the channel decides). */
  readonly link: (result: BackupResult, channel: string) => Promise<LinkState>;
  /** Values userMessage() must scrub from failure reasons. */
  readonly secrets: readonly string[];
  /** Jobs' threads, for /backup status and duplicate requests. */
  readonly threads: Map<string, ThreadLink>;
}

export interface ThreadPlace {
  readonly channel: string;
  /** Reply in this existing thread (a retry, an alert); absent: post a parent message first. */
  readonly threadTs?: string;
  /** Whether the thread's parent is the bot's own message, to be edited with the outcome. */
  readonly ownParent: boolean;
}

/** Calls for messages that must arrive: a parent, a result. Repeated over about a minute at worst. */
const MUST_ARRIVE = 7;

export class Reporters {
  private readonly following = new Set<Promise<void>>();
  /** The same promises by job id, for reported(). */
  private readonly followingJob = new Map<string, Promise<void>>();

  constructor(private readonly deps: ReporterDeps) {}

  /**
   * Posts the parent (when needed) and the status message, then follows the job in the
   * background. Rejects when the thread cannot be started (e.g. not_in_channel), so the caller
   * can tell the requester and cancel the job.
   */
  async start(job: Job, place: ThreadPlace): Promise<ThreadLink> {
    const { chat, clock } = this.deps;
    let view = initialView(job);
    let changed: () => void = () => {};
    const unsubscribe = job.subscribe((event) => {
      view = applyEvent(view, event);
      changed();
    });
    try {
      const ownParent = place.threadTs === undefined || place.ownParent;
      const threadTs = place.threadTs ?? requireTs(await withRetry(() => chat.postMessage({ channel: place.channel, ...parentMessage(view) }), { clock, attempts: MUST_ARRIVE }));
      const posted = view;
      const statusTs = requireTs(await withRetry(() => chat.postMessage({ channel: place.channel, thread_ts: threadTs, ...statusMessage(posted) }), { clock, attempts: MUST_ARRIVE }));
      const link: ThreadLink = { channel: place.channel, ts: threadTs, ...(await this.permalink(place.channel, threadTs)) };
      this.deps.threads.set(job.id, link);
      const updater = new ThrottledUpdater<ThreadView>({
        send: (v) => chat.update({ channel: place.channel, ts: statusTs, ...statusMessage(v) }),
        intervalMs: this.deps.intervalMs,
        clock,
        lastSentAt: clock.now(),
        onError: (err, final) => this.deps.logger.warn({ err, jobId: job.id, final }, 'status edit failed'),
      });
      changed = () => {
        if (!isFinal(view)) updater.push(view);
      };
      if (view !== posted) changed();
      const follow = this.follow(job, { ...place, threadTs, ownParent }, updater, () => view)
        .catch((err: unknown) => this.deps.logger.error({ err, jobId: job.id }, 'reporting the job failed'))
        .finally(() => {
          unsubscribe();
          this.deps.threads.delete(job.id);
          this.following.delete(follow);
          this.followingJob.delete(job.id);
        });
      this.following.add(follow);
      this.followingJob.set(job.id, follow);
      return link;
    } catch (err) {
      unsubscribe();
      throw err;
    }
  }

  /** Resolves when every followed job's result has been posted (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.following.size > 0) await Promise.all([...this.following]);
  }

  /** Resolves once this job's result has been posted (at once for a job this reporter does not follow), so a next message lands after it. */
  async reported(jobId: string): Promise<void> {
    await this.followingJob.get(jobId);
  }

  private async follow(job: Job, place: ThreadPlace & { readonly threadTs: string }, updater: ThrottledUpdater<ThreadView>, current: () => ThreadView): Promise<void> {
    const { chat, clock, logger } = this.deps;
    const outcome = await job.settled;
    const view = current();
    const cancelled = isCancelled(view.phase);
    const result = resultMessage(view, {
      ...(outcome.ok ? { link: await this.linkState(outcome.result, place.channel) } : { reason: userMessage(outcome.error, this.deps.secrets) }),
      ...(outcome.ok || cancelled ? {} : { retry: { target: job.target, ownParent: place.ownParent } }),
    });
    // The final status replaces any progress edit still waiting for its turn.
    const finalStatus = updater.finish(view);
    try {
      await withRetry(() => chat.postMessage({ channel: place.channel, thread_ts: place.threadTs, ...result }), { clock, attempts: MUST_ARRIVE });
    } catch (err) {
      // Keep the result in the logs at least: the object exists even if Slack never heard of it.
      logger.error({ err, jobId: job.id, target: job.target, result: result.text }, 'could not post the result to Slack');
    }
    await finalStatus;
    if (place.ownParent) {
      // One edit per interval per job holds for the parent too.
      const wait = updater.nextAllowedAt - clock.now();
      if (wait > 0) await clock.sleep(wait);
      try {
        await withRetry(() => chat.update({ channel: place.channel, ts: place.threadTs, ...parentMessage(view) }), { clock, attempts: MUST_ARRIVE });
      } catch (err) {
        logger.warn({ err, jobId: job.id }, 'could not update the parent message');
      }
    }
  }

  private async linkState(result: BackupResult, channel: string): Promise<LinkState> {
    try {
      return await this.deps.link(result, channel);
    } catch (err) {
      return { kind: 'error', message: userMessage(err, this.deps.secrets) };
    }
  }

  /** Nice to have for status and duplicate replies; a failure only costs the link. */
  private async permalink(channel: string, ts: string): Promise<{ permalink?: string }> {
    try {
      const { permalink } = await this.deps.chat.getPermalink({ channel, message_ts: ts });
      return permalink ? { permalink } : {};
    } catch (err) {
      this.deps.logger.warn({ err, channel }, 'chat.getPermalink failed');
      return {};
    }
  }
}

function initialView(job: Job): ThreadView {
  const view: ThreadView = { jobId: job.id, target: job.target, trigger: job.trigger, phase: { kind: 'queued', position: job.position ?? 1 } };
  const folded = job.lastEvent ? applyEvent(view, job.lastEvent) : view;
  // A job that took a free slot at once has only its `queued` event until the runner's `started`.
  return job.state === 'running' && folded.phase.kind === 'queued' ? { ...folded, phase: { kind: 'running' } } : folded;
}

function requireTs(response: { ts?: string }): string {
  if (!response.ts) throw new Error('Slack returned no ts for a posted message');
  return response.ts;
}
