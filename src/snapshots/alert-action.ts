import type { Config } from '../config/schema.js';

// What a failure alert starts for a target (alerts.action, targets.<name>.alertAction): the
// logical dump, a provider snapshot, or both. Pure.

export type AlertStep = 'dump' | 'snapshot';

/**
 * The steps, in order. `both` takes the snapshot first: it is the fastest restore point and
 * is requested in seconds, while a dump can take hours; the two never run at once on one
 * database, so the dump follows once the snapshot is available (or has failed). A target
 * without `rds` always dumps: the global `alerts.action` cannot snapshot what has no instance
 * (a target's own `alertAction: snapshot` without `rds` is refused by the config check).
 */
export function alertSteps(config: Config, target: string): readonly AlertStep[] {
  const t = config.targets[target];
  if (!t) return [];
  if (!t.rds) return ['dump'];
  switch (t.alertAction ?? config.alerts.action) {
    case 'dump':
      return ['dump'];
    case 'snapshot':
      return ['snapshot'];
    case 'both':
      return ['snapshot', 'dump'];
  }
}

/**
 * Runs the steps one after another: each starts once the previous one has settled, whatever
 * its outcome (a failed snapshot is no reason to skip the dump). `start` queues one step and
 * returns its job, or undefined when it did not queue (refused, deduplicated); the next step
 * then starts at once.
 */
export async function runAlertSteps(
  steps: readonly AlertStep[],
  start: (step: AlertStep) => { readonly settled: Promise<unknown> } | undefined,
): Promise<void> {
  for (const step of steps) {
    const job = start(step);
    if (job) await job.settled;
  }
}
