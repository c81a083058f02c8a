// `npm start`: the Slack bot. Socket Mode with SLACK_APP_TOKEN, Bolt's HTTP receiver with
// SLACK_MODE=http. Configuration problems stop start-up with one message naming each variable.
// /healthz, /readyz and /metrics are served on PORT in both modes; SIGTERM/SIGINT drain the
// queue (src/jobs/shutdown.ts) and nothing else stops the process.
import type { Server } from 'node:http';
import type { SocketModeReceiver } from '@slack/bolt';
import { createAppDeps, loadEnvironment } from '../app.js';
import { DumptruckError, userMessage } from '../errors.js';
import { createTrustOps } from '../jobs/maintenance.js';
import { JobQueue, type Queue } from '../jobs/queue.js';
import { openFleet, type FleetQueue } from '../state/fleet.js';
import { replicaId } from '../state/record.js';
import { openState } from '../state/store.js';
import type { Scheduler } from '../jobs/scheduler.js';
import { installShutdown } from '../jobs/shutdown.js';
import { resolveHmacKey } from '../secrets/index.js';
import { loggedSnapshots } from '../snapshots/log.js';
import {
  bucketCheck,
  createHealthHandler,
  createLogger,
  createMetrics,
  flagCheck,
  healthRoutes,
  instrumentRunner,
  logUnexpectedErrors,
  Redactor,
  serveHealth,
} from '../observability/index.js';
import { createSlackApp } from './app.js';
import { readSlackEnv } from './env.js';
import { deprioritizeBackgroundThreads } from './priority.js';
import { startSchedules } from './schedule.js';

async function main(): Promise<void> {
  const env = loadEnvironment();
  // The one redactor: the environment's secrets (createLogger adds them), the HMAC key once read;
  // logs, Slack replies and start-up errors all go through it.
  const redactor = new Redactor();
  const logger = createLogger({ env, redactor });
  // A listener or job that throws where nothing catches it is logged; the other backups go on.
  logUnexpectedErrors(logger);
  // Compression runs on background threads; the main thread answers Slack and must win the cores.
  const lowered = await deprioritizeBackgroundThreads();
  logger.debug({ threads: lowered }, 'background threads deprioritized');

  // Slack variables first: they are the usual mistake, and need no config file to check.
  const { slack, deps, state } = await Promise.resolve()
    .then(async () => {
      const slack = readSlackEnv(env);
      const deps = await createAppDeps(env, redactor);
      // At start, not at the first backup: a bot that cannot sign or check backups must not run.
      redactor.add(await resolveHmacKey(deps.config.storage.hmacKey, { env }));
      // The state database is created or migrated now: a role without the rights stops the bot here.
      const state = deps.config.state ? await openState(deps.config.state, { env }) : undefined;
      return { slack, deps, state };
    })
    .catch((err: unknown) => exitOnStartError(err, redactor));

  // A fleet shares schedule fires, alert reruns and restore approvals through the state database.
  const coordination = state?.coordination(replicaId());
  const metrics = createMetrics();
  const onListenerError = (err: unknown, event: { readonly jobId: string; readonly type: string }) =>
    logger.error({ err, jobId: event.jobId, event: event.type }, 'a job event listener threw');
  // With `state:` the replicas share one queue in the state database (pg-boss); without it, this process has its own.
  const stateConfig = deps.config.state;
  const fleet: FleetQueue | undefined = stateConfig
    ? await openFleet(
        { queue: deps.config.queue, state: stateConfig },
        { env },
        {
          onListenerError,
          onError: (err, what) => logger.warn({ err, what }, 'the fleet queue could not reach the state database; retrying'),
          // Called only once the fleet has started, after the bot below exists.
          onAdopt: (job, place, how) => bot.adopt(job, place, how),
          onStale: (stale) => bot.workerStopped(stale),
          // What the dead replica was uploading, aborted now: nobody will complete those uploads.
          onStaleUploads: (ids) => {
            void deps.uploads.abortUploads(new Set(ids)).then((keys) => {
              if (keys.length > 0) logger.info({ keys }, "aborted a dead replica's multipart uploads");
            });
          },
        },
      ).catch((err: unknown) => exitOnStartError(err, redactor))
    : undefined;
  const queue: Queue = fleet ?? new JobQueue({ ...deps.config.queue, onListenerError });
  // Another replica's backup may run longer than storage.abortUploadsAfter: its upload is not an orphan.
  if (fleet) {
    deps.uploads.guard(() => fleet.runningTargets());
    deps.uploads.observe({ added: (id) => fleet.recordUpload(id), removed: (id) => fleet.forgetUpload(id) });
  }
  // What a killed bot (SIGKILL, power loss) left behind: no cleanup of its own ran. Never blocks the start.
  void deps.uploads.sweep().then((keys) => {
    if (keys.length > 0) logger.info({ keys }, 'aborted multipart uploads orphaned by a crash');
  });
  metrics.trackQueue(queue);

  const slackReady = flagCheck({ ok: false, detail: 'not connected to Slack yet' });
  const health = createHealthHandler({
    registry: metrics.registry,
    checks: {
      // Reaching this line means the config and the Slack variables were valid.
      config: () => ({ ok: true }),
      slack: slackReady,
      bucket: bucketCheck({ s3: deps.s3, bucket: deps.config.storage.bucket }),
      // Not ready while the state database is unreachable: history and run records need it.
      ...(state ? { state: () => state.check() } : {}),
    },
  });

  // Socket Mode: a server of our own, listening before Slack is reached, so that /healthz answers
  // (and /readyz says why not ready) while the bot connects or Slack is down. Not Bolt's
  // customRoutes there: Bolt would open that server only after auth.test.
  const healthServer =
    slack.mode === 'socket' ? await serveHealth(health, slack.port).catch((err: unknown) => exitOnStartError(err, redactor)) : undefined;

  const bot = createSlackApp({
    config: deps.config,
    env,
    queue,
    // Every run from every entry point counts in /metrics and logs with its job id and target.
    runBackup: instrumentRunner(deps.runBackup, { metrics, logger }),
    // A fleet records each job's thread for the replica that runs it, and runs verify, prune and restore too.
    ...(fleet ? { onThread: (jobId: string, place: unknown) => fleet.setPlace(jobId, place), maintenanceOnQueue: true } : {}),
    ...(state ? { state } : {}),
    catalog: deps.catalog,
    snapshots: loggedSnapshots(deps.snapshots, logger),
    trust: createTrustOps({ config: deps.config, s3: deps.s3, env, catalog: deps.catalog }),
    logger,
    redactor,
    isDraining: () => shutdown.draining,
    ...(coordination ? { approvals: coordination, alertLedger: coordination } : {}),
    ...(slack.mode === 'http' ? { customRoutes: healthRoutes(health) } : {}),
  });

  // The one shutdown path: the first signal drains (no new runs, running ones get the grace
  // period, the rest are cancelled cleanly), then the threads get their last words, then exit 0.
  let schedules: Scheduler | undefined;
  const shutdown = installShutdown({
    // A replica of a fleet drains its own share: its running jobs go back in the queue, waiting ones stay.
    queue: fleet ? fleet.local() : queue,
    graceMs: deps.config.shutdown.graceTimeoutMs,
    log: logger,
    onDraining: () => {
      // No scheduled run may start once draining; a fire now would only be refused.
      schedules?.stop();
      slackReady.set(false, 'shutting down');
    },
    onStopped: async () => {
      // The queue is empty by now; this waits for the cancelled jobs' threads, then stops the receiver.
      await bot.stop();
      await closeServer(healthServer);
      await state?.close();
    },
  });
  // Jobs are taken from the fleet once every kind is registered and threads can be adopted.
  await fleet?.start().catch((err: unknown) => exitOnStartError(err, redactor));

  if (slack.mode === 'socket') {
    const client = (bot.app as unknown as { receiver: SocketModeReceiver }).receiver.client;
    // Once draining, /readyz keeps saying "shutting down" whatever the socket does.
    const connection = (ok: boolean, detail?: string) => {
      if (shutdown.draining) return;
      slackReady.set(ok, detail);
      if (ok) logger.info({ mode: 'socket' }, 'dumptruck is listening for /backup');
      else logger.warn({ mode: 'socket' }, detail ?? 'Socket Mode is not connected');
    };
    client.on('connected', () => connection(true));
    client.on('disconnected', () => connection(false, 'Socket Mode disconnected'));
    client.on('reconnecting', () => connection(false, 'Socket Mode reconnecting'));
    logger.info({ mode: 'socket', healthPort: slack.port }, 'connecting to Slack (Socket Mode); /healthz, /readyz and /metrics on PORT');
  }

  try {
    // Socket Mode: resolves once connected, and keeps retrying while Slack is unreachable.
    await bot.start();
  } catch (err) {
    // disconnect() during a shutdown rejects a connect still in progress: that is not a failure.
    if (shutdown.draining) return;
    exitOnStartError(err, redactor);
  }
  if (slack.mode === 'http') {
    slackReady.set(true);
    logger.info({ mode: 'http', port: slack.port }, 'dumptruck is listening for /backup');
  }
  // Scheduled runs start once their threads can be posted; a drain begun meanwhile wins.
  if (!shutdown.draining) {
    schedules = startSchedules({
      config: deps.config,
      queue,
      catalog: deps.catalog,
      reporters: bot.reporters,
      chat: bot.app.client.chat,
      threads: bot.threads,
      logger,
      redactor,
      ...(coordination ? { claims: coordination } : {}),
    });
    if (coordination) resumeAlertRetries(bot.alerts, logger);
  }
}

/**
 * Fleet: alert retries left waiting by an earlier run of this replica or by one that stopped are
 * taken on now, and looked for again every minute (a replica may die while the others run).
 */
function resumeAlertRetries(alerts: { resume(): Promise<void> }, logger: { warn(obj: object, msg: string): void }): void {
  const look = () =>
    alerts.resume().catch((err: unknown) => logger.warn({ err }, 'could not read pending alert retries from the state database'));
  void look();
  setInterval(look, RESUME_EVERY_MS).unref();
}

/** How often a replica looks for alert retries nobody drives. */
const RESUME_EVERY_MS = 60_000;

function exitOnStartError(err: unknown, redactor: Redactor): never {
  const prefix = err instanceof DumptruckError ? '' : 'unexpected error: ';
  process.stderr.write(`dumptruck: ${prefix}${userMessage(err, redactor)}\n`);
  process.exit(1);
}

function closeServer(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!server) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

await main();
