import { Cron } from 'croner';

/**
 * A schedule as the config states it: standard 5-field cron (or 6 with seconds, or @daily and
 * friends), in `timezone` (IANA) or UTC. Paused: it only computes times, the scheduler owns the
 * timers (so tests can drive them with a fake clock). Throws on a bad expression or zone.
 */
export function compileSchedule(expression: string, timezone?: string): Cron {
  return new Cron(expression, { paused: true, mode: '5-or-6-parts', timezone: timezone ?? 'UTC' });
}
