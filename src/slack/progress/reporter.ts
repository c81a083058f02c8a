import type { Logger } from 'pino';
import { userMessage } from '../../errors.js';
import type { BackupResult, JobEvent } from '../../jobs/events.js';
import type { Job, JobEventShape, JobKind, JobOutcome } from '../../jobs/queue.js';
import type { SnapshotEvent, SnapshotJob, SnapshotResult } from '../../snapshots/types.js';
import type { Clock } from '../clock.js';
import type { Block, SlackMessage } from '../messages/format.js';
import {
  applySnapshotEvent,
  isSnapshotFinal,
  snapshotParentMessage,
  snapshotResultMessage,
  snapshotStatusMessage,
  type SnapshotView,
} from '../messages/snapshot.js';
import type { ThreadLink } from '../messages/replies.js';
import { parentMessage, resultMessage, statusMessage, type LinkState } from '../messages/thread.js';
import { applyEvent, isCancelled, isFinal, type ThreadView } from '../messages/view.js';
import { ThrottledUpdater } from './throttle.js';
import { withRetry } from './retry.js';
import type { Redactor } from '../../redact.js';

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
  readonly redactor: Redactor;
  /** Jobs' threads, for /backup status and duplicate requests. */
  readonly threads: Map<string, ThreadLink>;
  /** Told where each job's thread is once it is open (a fleet records it for the replica that will run the job). Default: nobody. */
  readonly onThread?: (jobId: string, place: OpenThread) => void;
}

/** A thread as it was opened: enough for another replica to go on reporting in it. */
export interface OpenThread {
  readonly channel: string;
  readonly threadTs: string;
  readonly ownParent: boolean;
  /** The status message edited in place. */
  readonly statusTs: string;
}

export interface ThreadPlace {
  readonly channel: string;
  /** Reply in this existing thread (a retry, an alert); absent: post a parent message first. */
  readonly threadTs?: string;
  /** Whether the thread's parent is the bot's own message, to be edited with the outcome. */
  readonly ownParent: boolean;
  /** Edit this existing status message instead of posting one (the replica that runs a job another one took the request for). */
  readonly statusTs?: string;
}

/** Calls for messages that must arrive: a parent, a result. Repeated over about a minute at worst. */
const MUST_ARRIVE = 7;

/** How one kind of job (result R, events E) becomes a thread's messages, through a view V folded from its events. */
export interface ThreadRenderer<R, E extends JobEventShape, V> {
  initial(job: Job<R, E, JobKind>): V;
  apply(view: V, event: E): V;
  isFinal(view: V): boolean;
  parent(view: V): SlackMessage;
  status(view: V): SlackMessage;
  /** The result reply, once the job has settled. */
  result(view: V, outcome: JobOutcome<R>, place: ThreadPlace): Promise<SlackMessage>;
}

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
    return this.startThread(job, place, this.backupThread);
  }

  /** The same for a provider snapshot of `instanceId`: its own messages, the same thread mechanics. */
  async startSnapshot(job: SnapshotJob, place: ThreadPlace, instanceId: string): Promise<ThreadLink> {
    return this.startThread(job, place, snapshotThread(instanceId, this.deps.redactor));
  }

  private readonly backupThread: ThreadRenderer<BackupResult, JobEvent, ThreadView> = {
    initial: (job) => initialView(job as Job),
    apply: applyEvent,
    isFinal,
    parent: parentMessage,
    status: statusMessage,
    result: async (view, outcome, place) =>
      resultMessage(view, {
        ...(outcome.ok
          ? { link: await this.linkState(outcome.result, place.channel) }
          : { reason: userMessage(outcome.error, this.deps.redactor) }),
        ...(outcome.ok || isCancelled(view.phase) ? {} : { retry: { target: view.target, ownParent: place.ownParent } }),
      }),
  };

  /** Any kind of job (verifications and prunes use it with their own renderers): the thread mechanics of start(). */
  async startThread<R, E extends JobEventShape, V>(
    job: Job<R, E, JobKind>,
    place: ThreadPlace,
    render: ThreadRenderer<R, E, V>,
  ): Promise<ThreadLink> {
    const { chat, clock } = this.deps;
    let view = render.initial(job);
    let changed: () => void = () => {};
    let handOver: () => void = () => {};
    // On a fleet, another replica starts the job and reports it from then on (the queue's `moved`).
    const moved = new Promise<undefined>((resolve) => {
      handOver = () => resolve(undefined);
    });
    const unsubscribe = job.subscribe((event) => {
      if ((event as JobEventShape).type === 'moved') return handOver();
      view = render.apply(view, event);
      changed();
    });
    try {
      const ownParent = place.threadTs === undefined || place.ownParent;
      const threadTs =
        place.threadTs ??
        requireTs(
          await withRetry(() => chat.postMessage({ channel: place.channel, ...render.parent(view) }), { clock, attempts: MUST_ARRIVE }),
        );
      const posted = view;
      const statusTs =
        place.statusTs ??
        requireTs(
          await withRetry(() => chat.postMessage({ channel: place.channel, thread_ts: threadTs, ...render.status(posted) }), {
            clock,
            attempts: MUST_ARRIVE,
          }),
        );
      this.deps.onThread?.(job.id, { channel: place.channel, threadTs, ownParent, statusTs });
      const link: ThreadLink = { channel: place.channel, ts: threadTs, ...(await this.permalink(place.channel, threadTs)) };
      this.deps.threads.set(job.id, link);
      const updater = new ThrottledUpdater<V>({
        send: (v) => chat.update({ channel: place.channel, ts: statusTs, ...render.status(v) }),
        intervalMs: this.deps.intervalMs,
        clock,
        lastSentAt: clock.now(),
        onError: (err, final) => this.deps.logger.warn({ err, jobId: job.id, final }, 'status edit failed'),
      });
      changed = () => {
        if (!render.isFinal(view)) updater.push(view);
      };
      if (view !== posted || place.statusTs) changed();
      const follow = this.follow(job, moved, { ...place, threadTs, ownParent }, updater, () => view, render)
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

  private async follow<R, E extends JobEventShape, V>(
    job: Job<R, E, JobKind>,
    moved: Promise<undefined>,
    place: ThreadPlace & { readonly threadTs: string },
    updater: ThrottledUpdater<V>,
    current: () => V,
    render: ThreadRenderer<R, E, V>,
  ): Promise<void> {
    const { chat, clock, logger } = this.deps;
    const outcome = await Promise.race([job.settled, moved]);
    if (!outcome) {
      // The replica running it edits the same messages now; an edit from here could only undo one of its.
      updater.stop();
      return;
    }
    const view = current();
    const result = await render.result(view, outcome, place);
    // The final status replaces any progress edit still waiting for its turn.
    const finalStatus = updater.finish(view);
    try {
      await withRetry(() => chat.postMessage({ channel: place.channel, thread_ts: place.threadTs, ...result }), {
        clock,
        attempts: MUST_ARRIVE,
      });
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
        await withRetry(() => chat.update({ channel: place.channel, ts: place.threadTs, ...render.parent(view) }), {
          clock,
          attempts: MUST_ARRIVE,
        });
      } catch (err) {
        logger.warn({ err, jobId: job.id }, 'could not update the parent message');
      }
    }
  }

  private async linkState(result: BackupResult, channel: string): Promise<LinkState> {
    try {
      return await this.deps.link(result, channel);
    } catch (err) {
      return { kind: 'error', message: userMessage(err, this.deps.redactor) };
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
  const view: ThreadView = {
    jobId: job.id,
    target: job.target,
    trigger: job.trigger,
    phase: { kind: 'queued', position: job.position ?? 1 },
  };
  const folded = job.lastEvent ? applyEvent(view, job.lastEvent) : view;
  // A job that took a free slot at once has only its `queued` event until the runner's `started`.
  return job.state === 'running' && folded.phase.kind === 'queued' ? { ...folded, phase: { kind: 'running' } } : folded;
}

function snapshotThread(instanceId: string, redactor: Redactor): ThreadRenderer<SnapshotResult, SnapshotEvent, SnapshotView> {
  return {
    initial: (job) => {
      const view: SnapshotView = {
        jobId: job.id,
        target: job.target,
        trigger: job.trigger,
        instanceId,
        phase: { kind: 'queued', position: job.position ?? 1 },
      };
      const folded = job.lastEvent ? applySnapshotEvent(view, job.lastEvent) : view;
      return job.state === 'running' && folded.phase.kind === 'queued' ? { ...folded, phase: { kind: 'running' } } : folded;
    },
    apply: applySnapshotEvent,
    isFinal: isSnapshotFinal,
    parent: snapshotParentMessage,
    status: snapshotStatusMessage,
    result: async (view, outcome) => snapshotResultMessage(view, outcome.ok ? {} : { reason: userMessage(outcome.error, redactor) }),
  };
}

function requireTs(response: { ts?: string }): string {
  if (!response.ts) throw new Error('Slack returned no ts for a posted message');
  return response.ts;
}
