import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DumptruckError } from '../errors.js';
import type { JobEvent } from '../jobs/events.js';

/** How a backup ended, as a label. */
export type BackupResultLabel = 'success' | 'failure' | 'cancelled' | 'timeout';

/** Anything that can say how many jobs wait and run (the JobQueue). */
export interface QueueStatusSource {
  status(): { readonly running: readonly unknown[]; readonly queued: readonly unknown[] };
}

export interface Metrics {
  readonly registry: Registry;
  /** dumptruck_backups_total{target,result} */
  readonly backups: Counter<'target' | 'result'>;
  /** dumptruck_backup_failures_total{target,stage}: which stage fails (secret, connect, dump, upload, ...). */
  readonly failures: Counter<'target' | 'stage'>;
  /** dumptruck_backup_duration_seconds{target,result}, from pg_dump's start to the end of the job. */
  readonly duration: Histogram<'target' | 'result'>;
  /** dumptruck_backup_size_bytes{target}: stored (compressed) bytes of successful backups. */
  readonly size: Histogram<'target'>;
  /** dumptruck_bytes_streamed_total{target,stage}: stage "dumped" (pg_dump's output) or "stored" (into the bucket). */
  readonly bytesStreamed: Counter<'target' | 'stage'>;
  /** dumptruck_last_success_timestamp_seconds{target}: alert on `time() - this > 26h`. */
  readonly lastSuccess: Gauge<'target'>;
  /** dumptruck_queue_depth: jobs waiting for a slot (read from the queue at scrape time). */
  readonly queueDepth: Gauge;
  /** dumptruck_jobs_running (read from the queue at scrape time). */
  readonly runningJobs: Gauge;
  /** dumptruck_alert_reruns_total{target}: backups started because a managed backup's failure alert arrived. */
  readonly alertReruns: Counter<'target'>;
  /** Makes queueDepth and runningJobs report this queue. */
  trackQueue(queue: QueueStatusSource): void;
  alertRerun(target: string): void;
}

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC) with the dumptruck_ prefix. Default true. */
  readonly defaultMetrics?: boolean;
  /** Seconds since the epoch, for durations of failed jobs and lastSuccess. Default: Date.now() / 1000. */
  readonly now?: () => number;
}

const MIB = 1024 * 1024;

interface JobTrack {
  target: string;
  startedAt?: number;
  dumped: number;
  stored: number;
}

const tracks = new WeakMap<Metrics, { readonly now: () => number; readonly jobs: Map<string, JobTrack> }>();

/** A registry of its own (not prom-client's global one), so tests and several bots in a process do not collide. */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'dumptruck_' });
  let queue: QueueStatusSource | undefined;

  const metrics: Metrics = {
    registry,
    backups: new Counter({
      name: 'dumptruck_backups_total',
      help: 'Backups that ended, by target and result (success, failure, cancelled, timeout).',
      labelNames: ['target', 'result'],
      registers,
    }),
    failures: new Counter({
      name: 'dumptruck_backup_failures_total',
      help: 'Failed backups by target and the stage that failed.',
      labelNames: ['target', 'stage'],
      registers,
    }),
    duration: new Histogram({
      name: 'dumptruck_backup_duration_seconds',
      help: 'Backup duration from pg_dump start to the end of the job.',
      labelNames: ['target', 'result'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 21600],
      registers,
    }),
    size: new Histogram({
      name: 'dumptruck_backup_size_bytes',
      help: 'Stored (compressed) size of successful backups.',
      labelNames: ['target'],
      buckets: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576].map((m) => m * MIB),
      registers,
    }),
    bytesStreamed: new Counter({
      name: 'dumptruck_bytes_streamed_total',
      help: 'Bytes pg_dump wrote (stage=dumped) and bytes sent to the bucket (stage=stored).',
      labelNames: ['target', 'stage'],
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'dumptruck_last_success_timestamp_seconds',
      help: 'When the last successful backup of a target finished (unix time).',
      labelNames: ['target'],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'dumptruck_queue_depth',
      help: 'Backups waiting for a slot.',
      registers,
      collect() {
        if (queue) this.set(queue.status().queued.length);
      },
    }),
    runningJobs: new Gauge({
      name: 'dumptruck_jobs_running',
      help: 'Backups running now.',
      registers,
      collect() {
        if (queue) this.set(queue.status().running.length);
      },
    }),
    alertReruns: new Counter({
      name: 'dumptruck_alert_reruns_total',
      help: 'Backups started because a failure alert arrived.',
      labelNames: ['target'],
      registers,
    }),
    trackQueue(q) {
      queue = q;
    },
    alertRerun(target) {
      metrics.alertReruns.inc({ target });
    },
  };
  tracks.set(metrics, { now: options.now ?? (() => Date.now() / 1000), jobs: new Map() });
  return metrics;
}

/**
 * Feeds one job event into the metrics. Subscribe it to every job (job.subscribe(e => observeJob(metrics, e)))
 * or wrap the runner with instrumentRunner (src/observability/instrument.ts); not both, or backups count twice.
 */
export function observeJob(metrics: Metrics, event: JobEvent): void {
  const state = tracks.get(metrics);
  if (!state) throw new Error('observeJob needs metrics from createMetrics()');
  const { jobs, now } = state;
  const track = (target: string): JobTrack => {
    let t = jobs.get(event.jobId);
    if (!t) jobs.set(event.jobId, (t = { target, dumped: 0, stored: 0 }));
    return t;
  };
  const streamed = (t: JobTrack, dumped: number, stored: number) => {
    if (dumped > t.dumped) metrics.bytesStreamed.inc({ target: t.target, stage: 'dumped' }, dumped - t.dumped);
    if (stored > t.stored) metrics.bytesStreamed.inc({ target: t.target, stage: 'stored' }, stored - t.stored);
    t.dumped = Math.max(t.dumped, dumped);
    t.stored = Math.max(t.stored, stored);
  };

  switch (event.type) {
    case 'queued':
      track(event.target);
      return;
    case 'started': {
      const t = track(event.info.target);
      t.startedAt = now();
      return;
    }
    case 'progress': {
      const t = jobs.get(event.jobId);
      if (t) streamed(t, event.progress.dumpedBytes, event.progress.storedBytes);
      return;
    }
    case 'finished': {
      const { result } = event;
      const t = track(result.target);
      streamed(t, result.dumpedBytes, result.storedBytes);
      const labels = { target: result.target, result: 'success' as const };
      metrics.backups.inc(labels);
      metrics.duration.observe(labels, result.durationMs / 1000);
      metrics.size.observe({ target: result.target }, result.storedBytes);
      metrics.lastSuccess.set({ target: result.target }, result.finishedAt.getTime() / 1000);
      jobs.delete(event.jobId);
      return;
    }
    case 'failed': {
      const t = jobs.get(event.jobId);
      const labels = { target: event.target, result: resultOf(event.error) };
      metrics.backups.inc(labels);
      if (labels.result === 'failure') metrics.failures.inc({ target: event.target, stage: event.error.stage });
      if (t?.startedAt !== undefined) metrics.duration.observe(labels, Math.max(0, now() - t.startedAt));
      jobs.delete(event.jobId);
      return;
    }
  }
}

export function resultOf(error: DumptruckError): BackupResultLabel {
  return error.stage === 'cancelled' ? 'cancelled' : error.stage === 'timeout' ? 'timeout' : 'failure';
}
