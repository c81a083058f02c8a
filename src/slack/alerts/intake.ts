import type { Logger } from 'pino';
import { classifyAlert, compileRules, type AlertRules } from '../../alerts/classify.js';
import { machineMayRun, posterAllowed, readAlertMessage, type Self, type SlackMessageEvent } from '../../alerts/message.js';
import { AlertReruns, type AlertRun, type RerunEvent, type RerunLedger } from '../../alerts/reruns.js';
import { SeenAlerts } from '../../alerts/seen.js';
import { matchTarget } from '../../alerts/targets.js';
import type { Config } from '../../config/schema.js';
import { userMessage, type DumptruckError } from '../../errors.js';
import type { Queue } from '../../jobs/queue.js';
import { refusalError } from '../messages/queue.js';
import { alertSteps } from '../../snapshots/alert-action.js';
import type { SnapshotService } from '../../snapshots/types.js';
import type { Clock } from '../clock.js';
import { channelAllowed, userAllowed } from '../commands/authorize.js';
import {
  ambiguousTargetReply,
  channelRefusedReply,
  exhaustedReply,
  followedFinishedReply,
  followingReply,
  joinedElsewhereReply,
  joinedReply,
  machineRefusedReply,
  posterRefusedReply,
  restartingAlertReply,
  retryingReply,
  stoppedReply,
  unknownTargetReply,
  userRefusedReply,
} from '../messages/alerts.js';
import type { SlackMessage } from '../messages/format.js';
import type { ThreadLink } from '../messages/replies.js';
import type { ChatApi, Reporters } from '../progress/reporter.js';
import { withRetry } from '../progress/retry.js';
import { takeAlertSnapshot } from './snapshot.js';
import type { Redactor } from '../../redact.js';

// What a message in an alerts channel does, free of Bolt: the listener hands every `message`
// event here and returns. Up to the decision everything is synchronous; replies and runs follow
// in the background, in the alert's own thread (the alert is never edited).

export interface AlertIntakeDeps {
  readonly config: Config;
  readonly queue: Queue;
  readonly reporters: Reporters;
  readonly chat: ChatApi;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Values userMessage() scrubs from replies. */
  readonly redactor: Redactor;
  /** Jobs' threads, to link a followed backup's thread. */
  readonly threads: ReadonlyMap<string, ThreadLink>;
  /** True while the bot drains for a restart: no new runs or retries. Default: never. */
  readonly isDraining?: () => boolean;
  /** The timer for retry backoff. Default: an unref'd setTimeout. */
  readonly setTimer?: (callback: () => void, ms: number) => () => void;
  /** Told what became of each message in an alerts channel (logs, tests). */
  readonly onDecision?: (decision: AlertDecision) => void;
  /** For alerts.action snapshot|both (targets with rds); absent: those alerts say snapshots are not set up. */
  readonly snapshots?: SnapshotService;
  /** Fleet (config `state:`): reruns and their retries shared by the replicas. Default: this process alone. */
  readonly ledger?: RerunLedger;
}

export type AlertOutcome =
  | 'skipped'
  | 'duplicate'
  | 'edit'
  | 'not-a-failure'
  | 'unknown-target'
  | 'ambiguous'
  | 'not-allowed'
  /** The poster is not in alerts.posters, or is a person not on the target's `users`. */
  | 'refused'
  | 'restarting'
  | 'started'
  | 'joined';

export interface AlertDecision {
  readonly outcome: AlertOutcome;
  readonly channel?: string;
  readonly ts?: string;
  readonly target?: string;
  /** Why: the skip reason, the wording recognised or ignored. */
  readonly detail?: string;
  readonly runId?: string;
}

/** Attempts at posting a reply in an alert's thread (Slack hiccups, 429s). */
const REPLY_ATTEMPTS = 5;

export class AlertIntake {
  readonly reruns: AlertReruns;
  private readonly rules: AlertRules;
  private readonly seen: SeenAlerts<string>;
  /**
   * Messages read as "not a failure", so that Slack's re-deliveries are not classified again.
   * Kept apart from `seen`, so that a busy channel's chatter cannot push out the alerts handled;
   * an hour covers Slack's retries (within minutes).
   */
  private readonly quiet: SeenAlerts<string>;
  private readonly replies = new Set<Promise<void>>();

  constructor(private readonly deps: AlertIntakeDeps) {
    const { config, clock } = deps;
    this.rules = compileRules(config.alerts.patterns);
    this.seen = new SeenAlerts({ now: () => clock.now() });
    this.quiet = new SeenAlerts({ now: () => clock.now(), ttlMs: 3_600_000 });
    this.reruns = new AlertReruns({
      queue: deps.queue,
      retry: config.alerts.retry,
      windowMs: config.alerts.windowMs,
      report: (run, event) => this.report(run, event),
      refusalError,
      accepting: () => !(deps.isDraining?.() ?? false),
      now: () => new Date(clock.now()),
      ...(deps.setTimer ? { setTimer: deps.setTimer } : {}),
      ...(deps.ledger
        ? {
            ledger: deps.ledger,
            // An attempt queued and run within the job timeout is long over after twice that.
            staleMs: 2 * config.queue.jobTimeoutMs,
            onLedgerError: (err: unknown) =>
              deps.logger.warn({ err }, 'the state database did not answer for an alert run; going on as if this replica were alone'),
          }
        : {}),
    });
  }

  /** Fleet: takes on alert retries left waiting (before a restart, or by a replica that stopped). */
  async resume(): Promise<void> {
    const taken = await this.reruns.resume();
    if (taken > 0) this.deps.logger.info({ runs: taken }, 'took on alert reruns waiting for a retry');
  }

  /** One `message` event; `self` is the bot's own identity from auth.test. Never throws, never waits. */
  receive(event: SlackMessageEvent, context: { readonly eventId?: string | undefined; readonly self: Self }): AlertDecision {
    const decision = this.decide(event, context);
    const { logger } = this.deps;
    if (decision.outcome === 'skipped') logger.debug({ alert: decision }, 'message not read as an alert');
    else logger.info({ alert: decision }, `alert message: ${decision.outcome}`);
    try {
      this.deps.onDecision?.(decision);
    } catch (err) {
      logger.warn({ err }, 'onDecision threw');
    }
    return decision;
  }

  /** No more retries; runs waiting for one end now. */
  stop(): void {
    this.reruns.stop();
  }

  /** Resolves when every run has ended and every reply has been posted. */
  async idle(): Promise<void> {
    while (this.replies.size > 0) await Promise.all([...this.replies]);
    await this.reruns.idle();
    while (this.replies.size > 0) await Promise.all([...this.replies]);
  }

  private decide(event: SlackMessageEvent, context: { readonly eventId?: string | undefined; readonly self: Self }): AlertDecision {
    const { config } = this.deps;
    const read = readAlertMessage(event, { channels: config.alerts.channels, self: context.self, eventId: context.eventId });
    if (read.kind === 'skip') return { outcome: 'skipped', channel: event.channel, ts: event.ts, detail: read.reason };
    const { channel, ts } = read;
    const handled = this.seen.get(read.keys);
    // An edit or a re-delivery of an alert already handled belongs to what it started; anything
    // else edited is not an alert (a message edited into "backup failed" does not start a run).
    if (read.kind === 'edit')
      return handled
        ? { outcome: 'edit', channel, ts, detail: handled }
        : { outcome: 'skipped', channel, ts, detail: 'edit of a message that was not an alert' };
    if (handled) {
      this.seen.remember(read.keys, handled);
      return { outcome: 'duplicate', channel, ts, detail: handled };
    }
    const quiet = this.quiet.get(read.keys);
    if (quiet) {
      this.quiet.remember(read.keys, quiet);
      return { outcome: 'not-a-failure', channel, ts, detail: `${quiet} (remembered)` };
    }

    const verdict = classifyAlert(read.words, this.rules);
    if (verdict.kind !== 'failure') {
      const detail = verdict.kind === 'ignored' ? `ignored: ${verdict.rule} (${verdict.phrase})` : 'no failure wording';
      this.quiet.remember(read.keys, detail);
      return { outcome: 'not-a-failure', channel, ts, detail };
    }
    const seen = { phrase: verdict.phrase };
    const at = { channel, ts };
    const decided = (decision: AlertDecision, reply?: SlackMessage): AlertDecision => {
      this.seen.remember(read.keys, decision.runId ?? decision.outcome);
      if (reply) this.reply(at, reply);
      return decision;
    };
    // Before the target is even looked for: a poster that may not start runs learns nothing about them.
    if (!posterAllowed(read.poster, config.alerts.posters)) {
      return decided({ outcome: 'refused', channel, ts, detail: `poster ${read.by} is not in alerts.posters` }, posterRefusedReply(seen));
    }

    const match = matchTarget(read.words, config.targets);
    if (match.kind === 'none')
      return decided({ outcome: 'unknown-target', channel, ts, detail: verdict.phrase }, unknownTargetReply(seen, match.seen));
    if (match.kind === 'many') {
      return decided(
        { outcome: 'ambiguous', channel, ts, detail: match.matches.map((m) => m.target).join(', ') },
        ambiguousTargetReply(seen, match.matches),
      );
    }
    const { target } = match;
    const targetConfig = config.targets[target]!;
    if (!channelAllowed(targetConfig, channel)) {
      return decided(
        { outcome: 'not-allowed', channel, ts, target, detail: verdict.phrase },
        channelRefusedReply(seen, target, channel, targetConfig.channels),
      );
    }
    // A person's alert is a request like `/backup run`: held to the target's `users` (machines
    // are held to alerts.posters instead). Refused before joining a run, whose thread has the link.
    if (read.poster.person && !userAllowed(targetConfig, read.by)) {
      return decided(
        { outcome: 'refused', channel, ts, target, detail: `${read.by} is not in targets.${target}.users` },
        userRefusedReply(seen, target, read.by),
      );
    }
    if (!machineMayRun(read.poster, config.alerts.posters, targetConfig.users)) {
      return decided(
        { outcome: 'refused', channel, ts, target, detail: `poster ${read.by} is a bot, app or webhook and alerts.posters is empty` },
        machineRefusedReply(seen, target),
      );
    }
    if (this.deps.isDraining?.()) return decided({ outcome: 'restarting', channel, ts, target }, restartingAlertReply(target));

    const alert = { channel, ts, by: read.by };
    const steps = alertSteps(config, target);
    // alerts.action snapshot|both: the RDS snapshot first, in this thread; with both, the dump
    // (a rerun with its retries) follows once the snapshot has settled, never beside it. An alert
    // while that dump's run is on joins it, as any alert does.
    if (steps[0] === 'snapshot' && !this.reruns.current(target)) {
      const snapshotDeps = { ...this.deps, post: (message: SlackMessage) => this.post(at, message) };
      const done = this.firstToAnswer({ channel, ts: `${ts}/snapshot` })
        .then(async (first) => {
          // Fleet: the replica that records the alert first takes the snapshot (and its dump); the others leave it.
          if (!first) return;
          await takeAlertSnapshot(snapshotDeps, target, alert);
          if (steps.includes('dump')) this.reruns.receive(target, alert);
        })
        .finally(() => this.replies.delete(done));
      this.replies.add(done);
      return decided({ outcome: 'started', channel, ts, target, detail: `${verdict.phrase} (${steps.join(', then ')})` });
    }
    const receipt = this.reruns.receive(target, alert);
    const { run } = receipt;
    if (receipt.kind === 'joined') {
      const now = new Date(this.deps.clock.now());
      this.replyLater(at, async () => joinedReply(run, await this.runThread(run), now, config.alerts.windowMs));
    }
    return decided({ outcome: receipt.kind, channel, ts, target, runId: run.id, detail: verdict.phrase });
  }

  /** Each step of a run, in its alert's thread. Awaited by the run, so messages arrive in order. */
  private async report(run: AlertRun, event: RerunEvent): Promise<void> {
    const at = { channel: run.alert.channel, ts: run.alert.ts };
    const { target } = run;
    switch (event.type) {
      case 'attempt':
        if (event.created) {
          // Rejects when the thread cannot be posted (not_in_channel): the run cancels the job.
          await this.deps.reporters.start(event.job, { channel: at.channel, threadTs: at.ts, ownParent: false });
        } else {
          await this.post(at, followingReply(event.job, this.deps.threads.get(event.job.id), run));
        }
        return;
      case 'ended':
        if (event.job && event.created) await this.deps.reporters.reported(event.job.id);
        else if (event.job && event.outcome.ok)
          await this.post(at, followedFinishedReply(event.outcome.result, this.deps.threads.get(event.job.id)));
        return;
      case 'retrying':
        // The attempt's own result message already says why, unless it was not reported here.
        await this.post(
          at,
          retryingReply(
            target,
            { attempt: event.attempt, attempts: run.attempts, delayMs: event.delayMs },
            event.created ? undefined : this.reason(event.error),
          ),
        );
        return;
      case 'exhausted':
        await this.post(at, exhaustedReply(target, run.attempts, this.reason(event.error), this.deps.config.alerts.escalate));
        return;
      case 'elsewhere': {
        const { verdict } = event;
        this.deps.logger.info({ target, alert: at, verdict: verdict.kind }, 'alert left to the run of another replica');
        // A re-delivery was answered already; a new alert joining another replica's run is told where it is.
        if (verdict.kind === 'joined') await this.post(at, joinedElsewhereReply(target, await this.threadOf(verdict.alert)));
        return;
      }
      case 'stopped':
        // A cancel is in the thread already; only say that the retries stop too, if any were left.
        if (event.reason === 'shutdown' || run.attempt < run.attempts) await this.post(at, stoppedReply(target, event.reason));
        return;
    }
  }

  private reason(error: DumptruckError): string {
    return userMessage(error, this.deps.redactor);
  }

  /** The run's thread (its first alert's), with a permalink when Slack gives one. */
  private runThread(run: AlertRun): Promise<ThreadLink> {
    return this.threadOf(run.alert);
  }

  private async threadOf(alert: { readonly channel: string; readonly ts: string }): Promise<ThreadLink> {
    const { channel, ts } = alert;
    try {
      const { permalink } = await this.deps.chat.getPermalink({ channel, message_ts: ts });
      return permalink ? { channel, ts, permalink } : { channel, ts };
    } catch {
      return { channel, ts };
    }
  }

  /** The answer to an alert that starts no run (a refusal, an unknown target...). */
  private reply(at: { readonly channel: string; readonly ts: string }, message: SlackMessage): void {
    this.replyLater(at, async () => ((await this.firstToAnswer(at)) ? message : undefined));
  }

  /**
   * Fleet: Slack may deliver an alert to another replica too, or again after a restart; the first
   * to record it answers. Alone, or unrecorded (state database down): answer, a double beats none.
   */
  private async firstToAnswer(at: { readonly channel: string; readonly ts: string }): Promise<boolean> {
    const { ledger, logger } = this.deps;
    if (!ledger) return true;
    try {
      const first = await ledger.answered(at);
      if (!first) logger.info({ alert: at }, 'alert answered by another replica');
      return first;
    } catch (err) {
      logger.warn({ err }, 'the state database did not answer for an alert; answering anyway');
      return true;
    }
  }

  /** A reply whose text needs a Web API call first (undefined: no reply); tracked for idle(). */
  private replyLater(at: { readonly channel: string; readonly ts: string }, build: () => Promise<SlackMessage | undefined>): void {
    const done = build()
      .then((message) => (message ? this.post(at, message) : undefined))
      .finally(() => this.replies.delete(done));
    this.replies.add(done);
  }

  /** Never rejects: a reply that cannot be posted is logged. */
  private async post(at: { readonly channel: string; readonly ts: string }, message: SlackMessage): Promise<void> {
    try {
      await withRetry(() => this.deps.chat.postMessage({ channel: at.channel, thread_ts: at.ts, ...message }), {
        clock: this.deps.clock,
        attempts: REPLY_ATTEMPTS,
      });
    } catch (err) {
      this.deps.logger.warn({ err, channel: at.channel, ts: at.ts, text: message.text }, 'could not reply in the alert thread');
    }
  }
}
