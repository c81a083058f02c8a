import type { Server } from 'node:http';
import { App, type CustomRoute } from '@slack/bolt';
import pino, { type Logger } from 'pino';
import type { Env } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { Maintenance, revivePlan, type TrustOps } from '../jobs/maintenance.js';
import { JobQueue, type AnyJob, type Job, type JobEventShape, type JobOf, type Queue } from '../jobs/queue.js';
import { backupJobs } from '../jobs/runner.js';
import { snapshotJobs } from '../snapshots/enqueue.js';
import { recordRuns } from '../state/record.js';
import type { StateStore } from '../state/store.js';
import type { RunBackup } from '../jobs/types.js';
import type { SnapshotJob, SnapshotService } from '../snapshots/types.js';
import type { BackupCatalog } from '../storage/types.js';
import type { RerunLedger } from '../alerts/reruns.js';
import { AlertIntake, type AlertDecision } from './alerts/intake.js';
import { systemClock, type Clock } from './clock.js';
import { channelAllowed } from './commands/authorize.js';
import { readSlackEnv, type SlackEnv } from './env.js';
import { register } from './listeners/index.js';
import { boltLogger } from './logger.js';
import type { ThreadLink } from './messages/replies.js';
import { workerStoppedText } from './messages/queue.js';
import { approverOf, pruneThread, restoreThread, verifyThread } from './progress/maintenance.js';
import { Reporters, type OpenThread, type ReporterDeps, type ThreadPlace } from './progress/reporter.js';
import type { AdoptedHow, StaleJob } from '../state/fleet.js';
import type { RestorePlan } from '../types.js';
import { MemoryApprovals, type ApprovalStore } from '../restore/approvals.js';
import { RestoreDesk } from './restore.js';
import { Redactor, secretsInEnv } from '../redact.js';

export interface SlackAppOptions {
  readonly config: Config;
  /** SLACK_* and PORT are read from it (see readSlackEnv). */
  readonly env: Env;
  readonly catalog: BackupCatalog;
  /**
   * Jobs are queued on `queue` when given (shared with other entry points), else on a queue built
   * from config.queue. `runBackup` is registered on it as its backups (with their history when
   * `state` is given); without it, `queue` must already run backups.
   */
  readonly runBackup?: RunBackup;
  readonly queue?: Queue;
  /** Told where each job's thread is (a fleet records it for the replica that runs the job). */
  readonly onThread?: ReporterDeps['onThread'];
  /** The state database (config `state:`): every backup run is recorded there, and `/backup history` reads it. */
  readonly state?: StateStore;
  /** Default: pino at LOG_LEVEL (info). */
  readonly logger?: Logger;
  /** Secrets to keep out of replies and threads; default: those of `env` (tokens, signing secret, keys). */
  readonly redactor?: Redactor;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Minimum time between edits of one job's progress message. Default 3000 ms. */
  readonly progressIntervalMs?: number;
  /** Extra HTTP routes (health, metrics): on Bolt's server in HTTP mode, on their own in Socket Mode. */
  readonly customRoutes?: CustomRoute[];
  /** True while the process drains for a restart (Shutdown.draining): new runs get a "restarting" reply. Default: never. */
  readonly isDraining?: () => boolean;
  /** RDS snapshots (`/backup snapshot`), queued on the same queue as backups; absent: those commands say they are not set up. */
  readonly snapshots?: SnapshotService;
  /** Waits between an alert rerun's attempts (alerts.retry.backoff). Default: an unref'd setTimeout. */
  readonly setTimer?: (callback: () => void, ms: number) => () => void;
  /** Told what became of each message in an alerts channel (tests; decisions are logged anyway). */
  readonly onAlertDecision?: (decision: AlertDecision) => void;
  /** `/backup verify`, `/backup prune` and `/backup restore` (createTrustOps); absent: those commands say they are not set up. */
  readonly trust?: TrustOps;
  /** Where restore requests wait for approval. Default: in memory (lost on restart: the requester asks again). */
  readonly approvals?: ApprovalStore;
  /** Fleet (config `state:`): alert reruns and their retries shared by the replicas. Default: this process alone. */
  readonly alertLedger?: RerunLedger;
  /**
   * Fleet (config `state:`): verifications, prunes and restores go on `queue` too, so one job per
   * target holds across every kind and replica. Default: a queue of their own in this process.
   */
  readonly maintenanceOnQueue?: boolean;
}

export interface SlackBot {
  readonly app: App;
  readonly slack: SlackEnv;
  readonly queue: Queue;
  readonly reporters: Reporters;
  /** Messages in alerts.channels: reruns, their retries, and the replies in alert threads. */
  readonly alerts: AlertIntake;
  /** Verifications and prunes asked for in Slack, on a queue of their own (on a fleet, the fleet queue); undefined without `trust`. */
  readonly maintenance: Maintenance | undefined;
  /** Jobs' threads by job id, while they are followed (the schedule reporter points skipped runs at them). */
  readonly threads: ReadonlyMap<string, ThreadLink>;
  /**
   * A fleet replica started a job another replica took the request for (or a retry): report it
   * in that job's thread from here. `place` is what onThread was told; without one nothing is posted.
   */
  adopt(job: AnyJob, place: unknown, how: AdoptedHow): void;
  /** A fleet replica found another one dead while it ran this job: its thread says so. */
  workerStopped(stale: StaleJob): void;
  /** Checks the bot token with auth.test; start() calls it. A rejected token is a ConfigError naming SLACK_BOT_TOKEN. */
  init(): Promise<void>;
  /**
   * HTTP mode: listens on `listen` (default: PORT) and resolves with the server. Socket Mode:
   * connects to Slack and resolves with undefined.
   */
  start(listen?: number | { readonly port: number; readonly host?: string }): Promise<Server | undefined>;
  /** Cancels queued and running jobs (nothing is left in the bucket), waits for their threads to say so, then stops the receiver. */
  stop(): Promise<void>;
}

/** Builds the Bolt app with every listener registered; nothing listens or connects until start(). */
export function createSlackApp(options: SlackAppOptions): SlackBot {
  const slack = readSlackEnv(options.env);
  const { config, catalog } = options;
  const logger = options.logger ?? pino({ level: options.env.LOG_LEVEL || 'info' });
  if (!options.runBackup && !options.queue) throw new Error('createSlackApp needs runBackup or queue');
  const queue = options.queue ?? new JobQueue({ ...config.queue, onListenerError: listenerError(logger) });
  if (options.snapshots) queue.register('snapshot', snapshotJobs(options.snapshots.run));
  const maintenance = options.trust
    ? new Maintenance({
        config,
        ops: options.trust,
        queue: { onListenerError: listenerError(logger) },
        ...(options.maintenanceOnQueue ? { shared: queue } : {}),
      })
    : undefined;
  // The process's one redactor (main.ts builds it at start); from the environment when none is given.
  const redactor = options.redactor ?? new Redactor(secretsInEnv(options.env));
  const threads = new Map<string, ThreadLink>();
  if (options.runBackup) {
    const { state } = options;
    const recordError = (err: unknown) => logger.error({ err }, 'could not record a backup run in the state database');
    // The thread is looked up once the run has ended: by then its parent message has long been posted.
    const runBackup = state
      ? recordRuns(options.runBackup, { state, threadOf: (id) => threads.get(id), redactor, onRecordError: recordError })
      : options.runBackup;
    queue.register('backup', backupJobs(runBackup));
  }

  const app = new App({
    token: slack.botToken,
    logger: boltLogger(logger.child({ component: 'bolt' })),
    convoStore: false,
    // Bolt would otherwise call auth.test in the constructor and crash the process with an
    // unhandled rejection on a revoked token; init() in start() reports it instead.
    deferInitialization: true,
    clientOptions: {
      ...(slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {}),
      // 429s reach the progress reporter, which re-sends the newest state after Retry-After
      // instead of the client queueing stale edits (and pausing every other call) for minutes.
      rejectRateLimitedCalls: true,
      // Network blips and 5xx: a couple of quick retries here; longer outages are retried by
      // the reporter for the messages that must arrive (parent, result).
      retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000, randomize: true },
      timeout: 15_000,
    },
    ...(slack.mode === 'socket'
      ? {
          socketMode: true,
          appToken: slack.appToken,
          ...(options.customRoutes ? { customRoutes: options.customRoutes, port: slack.port } : {}),
        }
      : {
          signingSecret: slack.signingSecret,
          endpoints: '/slack/events',
          port: slack.port,
          // Acks go out before listeners finish: a command never waits on Slack or S3.
          processBeforeResponse: false,
          customRoutes: options.customRoutes ?? [],
        }),
  });

  const clock = options.clock ?? systemClock;
  const reporters = new Reporters({
    chat: app.client.chat,
    clock,
    intervalMs: options.progressIntervalMs ?? 3000,
    logger,
    threads,
    redactor,
    ...(options.onThread ? { onThread: options.onThread } : {}),
    link: async (result, channel) => {
      const target = config.targets[result.target];
      if (target?.links === false) return { kind: 'disabled' };
      if (!target || !channelAllowed(target, channel)) return { kind: 'withheld' };
      return { kind: 'ok', link: await catalog.link(result.key) };
    },
  });

  const alerts = new AlertIntake({
    config,
    queue,
    reporters,
    chat: app.client.chat,
    clock,
    logger,
    redactor,
    threads,
    ...(options.isDraining ? { isDraining: options.isDraining } : {}),
    ...(options.setTimer ? { setTimer: options.setTimer } : {}),
    ...(options.onAlertDecision ? { onDecision: options.onAlertDecision } : {}),
    ...(options.snapshots ? { snapshots: options.snapshots } : {}),
    ...(options.alertLedger ? { ledger: options.alertLedger } : {}),
  });

  const now = () => new Date(clock.now());
  const restores = maintenance
    ? new RestoreDesk({
        config,
        maintenance,
        reporters,
        chat: app.client.chat,
        views: app.client.views,
        approvals: options.approvals ?? new MemoryApprovals(now),
        now,
        logger,
        redactor,
      })
    : undefined;

  register(app, {
    config,
    queue,
    catalog,
    reporters,
    threads,
    redactor,
    logger,
    now,
    isDraining: options.isDraining,
    snapshots: options.snapshots,
    maintenance,
    restores,
    alerts,
    state: options.state,
  });

  /** Each kind's thread, rebuilt from what the job carries (its payload is plain JSON from the state database). */
  function reportAdopted(job: AnyJob, place: ThreadPlace, payload: unknown): Promise<unknown> | undefined {
    switch (job.kind) {
      case 'backup':
        return reporters.start(job as Job, place);
      case 'verify':
        return reporters.startThread(job as JobOf<'verify'>, place, verifyThread((payload as { key: string }).key, redactor));
      case 'prune': {
        const rules = config.targets[job.target]?.retention;
        return rules ? reporters.startThread(job as JobOf<'prune'>, place, pruneThread(rules, redactor)) : undefined;
      }
      case 'restore': {
        const plan = revivePlan(payload as RestorePlan);
        const people = { requestedBy: job.trigger.by, approvedBy: approverOf(job.trigger) };
        return reporters.startThread(job as JobOf<'restore'>, place, restoreThread({ plan, ...people }, redactor));
      }
      case 'snapshot': {
        // The thread names the instance, from this replica's config (the same on every replica).
        const rds = config.targets[job.target]?.rds;
        return rds ? reporters.startSnapshot(job as unknown as SnapshotJob, place, rds.instanceId) : undefined;
      }
      default:
        return undefined;
    }
  }

  let initialized: Promise<void> | undefined;
  const init = () =>
    (initialized ??= app.init().catch((err: unknown) => {
      initialized = undefined;
      throw rejectedToken(err) ?? err;
    }));

  return {
    app,
    slack,
    queue,
    reporters,
    alerts,
    maintenance,
    threads,
    init,
    adopt(job, place, how) {
      const thread = openThread(place);
      if (!thread) return;
      // A retry's old status message shows how the first attempt ended; the new attempt gets a message of its own.
      const { statusTs, ...rest } = thread;
      const reported = reportAdopted(job, how.retried ? rest : { ...rest, statusTs }, how.payload);
      reported?.catch((err: unknown) => {
        logger.warn({ err, jobId: job.id }, 'could not report in the thread of a job taken over from another replica');
      });
    },
    workerStopped(stale) {
      const thread = openThread(stale.place);
      logger.warn(
        { jobId: stale.jobId, target: stale.target, replica: stale.replica, retried: stale.retried },
        'a replica stopped while running a job',
      );
      if (!thread) return;
      app.client.chat
        .postMessage({ channel: thread.channel, thread_ts: thread.threadTs, text: workerStoppedText(stale.replica, stale.retried) })
        .catch((err: unknown) => logger.warn({ err, jobId: stale.jobId }, 'could not tell a thread that its worker stopped'));
    },
    async start(listen) {
      await init();
      if (slack.mode === 'socket') {
        await app.start();
        return undefined;
      }
      return (await app.start(listen ?? slack.port)) as Server;
    },
    async stop() {
      // Retries waiting for their turn end first; reruns with a job end as the queue cancels it.
      alerts.stop();
      // A restore test in progress stops and drops its scratch database; its thread says so.
      await Promise.all([queue.shutdown(), maintenance?.shutdown()]);
      await alerts.idle();
      await reporters.idle();
      await app.stop();
    },
  };
}

/** A thread place another replica recorded (plain JSON from the state database), if it is one. */
function openThread(place: unknown): OpenThread | undefined {
  const p = place as Partial<OpenThread> | null | undefined;
  if (typeof p?.channel !== 'string' || typeof p.threadTs !== 'string' || typeof p.statusTs !== 'string') return undefined;
  return { channel: p.channel, threadTs: p.threadTs, ownParent: p.ownParent === true, statusTs: p.statusTs };
}

/** Slack's answers that mean the token itself is wrong, not the network. */
const TOKEN_ERRORS = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired']);

function rejectedToken(err: unknown): ConfigError | undefined {
  const code = (err as { data?: { error?: unknown } }).data?.error;
  if (typeof code !== 'string' || !TOKEN_ERRORS.has(code)) return undefined;
  return new ConfigError([
    `SLACK_BOT_TOKEN: Slack rejected the token (${code}); copy the Bot User OAuth Token (xoxb-...) again from OAuth & Permissions, and reinstall the app if it was revoked`,
  ]);
}

function listenerError(logger: Logger): (err: unknown, event: JobEventShape) => void {
  return (err, event) => logger.error({ err, jobId: event.jobId, event: event.type }, 'a job event listener threw');
}
