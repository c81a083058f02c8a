import type { Logger } from 'pino';
import type { JobEvent } from '../jobs/events.js';
import type { RunBackup } from '../jobs/types.js';
import { logJobEvents } from './logger.js';
import { observeJob, type Metrics } from './metrics.js';

export interface Instrumentation {
  readonly metrics?: Metrics;
  /** Each run's events are logged on a child logger with its jobId and target. */
  readonly logger?: Logger;
}

/**
 * The runner, reporting every run's events to metrics and logs as well: one place that covers
 * every entry point (Slack, alerts, schedules, CLI). Jobs cancelled before they started never
 * reach the runner: they are neither counted nor logged here (their threads say so).
 */
export function instrumentRunner(run: RunBackup, { metrics, logger }: Instrumentation): RunBackup {
  return (request, options = {}) => {
    const log = logger ? logJobEvents(logger, request.target) : undefined;
    // Each attempt of an alert's rerun (retries included) is one backup started by the alert.
    if (request.trigger.kind === 'alert') metrics?.alertRerun(request.target);
    return run(request, {
      ...options,
      onEvent: (event: JobEvent) => {
        if (metrics) observeJob(metrics, event);
        log?.(event);
        options.onEvent?.(event);
      },
    });
  };
}
