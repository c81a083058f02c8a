import type { AnyJob } from './queue.js';

// SIGTERM (a deploy, a node drain) must not cut a backup in half, and must not wait forever
// either: the orchestrator's own grace period ends in SIGKILL, which leaves a multipart upload
// behind. So: stop taking work, let running backups finish within graceMs, then cancel the rest
// the clean way (pg_dump killed, upload aborted) and exit 0.

/** The part of JobQueue shutdown needs. */
export interface DrainableQueue {
  status(): {
    readonly running: readonly Pick<AnyJob, 'target' | 'settled'>[];
    readonly queued: readonly Pick<AnyJob, 'target' | 'settled'>[];
  };
  cancel(target: string, reason?: string): unknown;
  /** Refuses new jobs, cancels the rest and resolves once they have cleaned up. */
  shutdown(reason?: string): Promise<void>;
  /** Refuses new jobs without cancelling any; called at the start of the drain when the queue has it. */
  close?(): void;
}

export interface ShutdownLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ShutdownOptions {
  readonly queue: DrainableQueue;
  /** How long running backups may take to finish (config shutdown.graceTimeout, default 5 minutes). */
  readonly graceMs: number;
  /**
   * Called first, on the first signal: stop intake here (listeners reply "restarting" while
   * `draining` is true), mark /readyz not ready. Errors are logged, not fatal.
   */
  readonly onDraining?: (signal: NodeJS.Signals) => void | Promise<void>;
  /** Called once no job is left: let reporters post their last thread updates, stop the receiver, close servers. */
  readonly onStopped?: () => void | Promise<void>;
  readonly log: ShutdownLog;
  /** Default: process.exit. */
  readonly exit?: (code: number) => void;
  /** Default: SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
  /** Where signals are listened for. Default: process. */
  readonly signalSource?: Pick<NodeJS.Process, 'on' | 'removeListener'>;
  /** After a cancel, how long to wait for cleanup (pg_dump killed, multipart upload aborted). Default 30 s. */
  readonly cleanupMs?: number;
  /** How long onStopped may take. Default 15 s. */
  readonly stopMs?: number;
  /** A second signal: how long the aborts may take before the process exits anyway. Default 5 s. */
  readonly forceMs?: number;
}

export interface Shutdown {
  /** True from the first signal on: refuse new work with "restarting". */
  readonly draining: boolean;
  /** What the first signal does; callable directly (e.g. from a test or an admin endpoint). */
  drain(signal?: NodeJS.Signals): Promise<void>;
  /** Removes the signal listeners. */
  uninstall(): void;
}

export const RESTARTING = 'the bot is restarting';

export function installShutdown(options: ShutdownOptions): Shutdown {
  const { queue, log } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const source = options.signalSource ?? process;
  const cleanupMs = options.cleanupMs ?? 30_000;
  const stopMs = options.stopMs ?? 15_000;
  const forceMs = options.forceMs ?? 5_000;
  let draining = false;
  let exited = false;
  let drained: Promise<void> | undefined;

  const finish = (code: number) => {
    if (exited) return;
    exited = true;
    exit(code);
  };

  const cancelQueued = (reason: string) => {
    for (const job of queue.status().queued) queue.cancel(job.target, reason);
  };

  async function drain(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    draining = true;
    const { running, queued } = queue.status();
    log.info(
      { signal, running: running.length, queued: queued.length, graceMs: options.graceMs },
      'shutting down: taking no new backups, waiting for running ones',
    );
    try {
      await options.onDraining?.(signal);
    } catch (err) {
      log.error({ err }, 'onDraining failed; shutting down anyway');
    }
    queue.close?.();
    // A backup that has not started would only begin to be cut off: cancel it now, so its thread
    // says so at once instead of after the grace period.
    cancelQueued(`cancelled: ${RESTARTING}; run it again once it is back`);

    const deadline = Date.now() + options.graceMs;
    for (;;) {
      const left = queue.status().running;
      if (left.length === 0) break;
      const remaining = deadline - Date.now();
      if (remaining <= 0 || !(await settledWithin(left, remaining))) {
        log.warn({ running: queue.status().running.map((j) => j.target) }, 'grace period over: cancelling running backups');
        break;
      }
      // A job may have started meanwhile (intake that ignored `draining`): loop until none runs.
      cancelQueued(`cancelled: ${RESTARTING}; run it again once it is back`);
    }

    // Closes the queue for good and cancels whatever is left; resolves once each has cleaned up.
    const stopped = await within(
      queue.shutdown(`cancelled: ${RESTARTING} and the backup did not finish within the grace period; run it again once it is back`),
      cleanupMs,
    );
    if (!stopped) log.error({ cleanupMs }, 'cancelled backups did not finish cleaning up in time; exiting anyway');
    try {
      if (
        !(await within(
          Promise.resolve().then(() => options.onStopped?.()),
          stopMs,
        ))
      )
        log.warn({ stopMs }, 'onStopped did not finish in time');
    } catch (err) {
      log.error({ err }, 'onStopped failed');
    }
    log.info({}, 'shut down cleanly');
    finish(0);
  }

  async function force(signal: NodeJS.Signals): Promise<void> {
    const { running, queued } = queue.status();
    log.warn({ signal, running: running.length }, 'second signal: cancelling every backup now and exiting');
    const jobs = [...queued, ...running];
    for (const job of jobs) queue.cancel(job.target, `cancelled: ${RESTARTING} (stopped at once)`);
    // The cancels abort pg_dump and the multipart uploads; give those requests a moment to go out.
    await settledWithin(jobs, forceMs);
    finish(1);
  }

  const onSignal = (signal: NodeJS.Signals) => {
    if (!drained) {
      drained = drain(signal).catch((err: unknown) => {
        log.error({ err }, 'shutdown failed');
        finish(1);
      });
    } else {
      void force(signal);
    }
  };
  for (const s of signals) source.on(s, onSignal);

  return {
    get draining() {
      return draining;
    },
    drain(signal) {
      drained ??= drain(signal);
      return drained;
    },
    uninstall() {
      for (const s of signals) source.removeListener(s, onSignal);
    },
  };
}

/** True when every job settled within ms. */
function settledWithin(jobs: readonly Pick<AnyJob, 'settled'>[], ms: number): Promise<boolean> {
  return within(Promise.all(jobs.map((j) => j.settled)), ms);
}

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
