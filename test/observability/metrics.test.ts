import { describe, expect, it } from 'vitest';
import { CancelledError, DumptruckError, TimeoutError } from '../../src/errors.js';
import { createLogger, createMetrics, instrumentRunner, observeJob } from '../../src/observability/index.js';
import { fakeResult, fakeRunner, fakeStarted } from '../jobs/fake-runner.js';
import { accepted, backupQueue } from '../helpers/queue.js';

const MIB = 1024 * 1024;

/** The value of one sample in Prometheus text, e.g. sample(text, 'dumptruck_backups_total{target="a",result="success"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('maps job events to backups, durations, sizes, bytes streamed and last success', async () => {
    let now = 1_000;
    const metrics = createMetrics({ defaultMetrics: false, now: () => now });
    const progress = (jobId: string, dumpedBytes: number, storedBytes: number) =>
      observeJob(metrics, {
        type: 'progress',
        jobId,
        progress: { dumpedBytes, storedBytes, elapsedMs: 0, bytesPerSecond: 0, estimatedBytes: 0 },
      });

    observeJob(metrics, { type: 'queued', jobId: 'j1', target: 'app-db', position: 1 });
    observeJob(metrics, { type: 'started', jobId: 'j1', info: fakeStarted('app-db') });
    progress('j1', 10 * MIB, 3 * MIB);
    progress('j1', 30 * MIB, 8 * MIB);
    const result = fakeResult('app-db', {
      dumpedBytes: 45 * MIB,
      storedBytes: 12 * MIB,
      durationMs: 63_000,
      finishedAt: new Date('2024-05-01T03:01:03Z'),
    });
    observeJob(metrics, { type: 'finished', jobId: 'j1', result });

    observeJob(metrics, { type: 'started', jobId: 'j2', info: fakeStarted('billing') });
    progress('j2', 5 * MIB, 1 * MIB);
    now += 20;
    observeJob(metrics, {
      type: 'failed',
      jobId: 'j2',
      target: 'billing',
      error: new DumptruckError('DUMP_FAILED', 'dump', 'pg_dump exited with code 1'),
    });
    // Failed before it started: counted, no duration.
    observeJob(metrics, {
      type: 'failed',
      jobId: 'j3',
      target: 'billing',
      error: new DumptruckError('SECRET_UNAVAILABLE', 'secret', 'no secret'),
    });
    observeJob(metrics, { type: 'failed', jobId: 'j4', target: 'app-db', error: new CancelledError('cancelled by <@U1>') });
    observeJob(metrics, { type: 'failed', jobId: 'j5', target: 'app-db', error: new TimeoutError('timed out') });
    metrics.alertRerun('app-db');
    metrics.trackQueue({ status: () => ({ running: [1, 2], queued: [1, 2, 3] }) });

    const text = await metrics.registry.metrics();
    expect(sample(text, 'dumptruck_backups_total{target="app-db",result="success"}')).toBe(1);
    expect(sample(text, 'dumptruck_backups_total{target="billing",result="failure"}')).toBe(2);
    expect(sample(text, 'dumptruck_backups_total{target="app-db",result="cancelled"}')).toBe(1);
    expect(sample(text, 'dumptruck_backups_total{target="app-db",result="timeout"}')).toBe(1);
    expect(sample(text, 'dumptruck_backup_failures_total{target="billing",stage="dump"}')).toBe(1);
    expect(sample(text, 'dumptruck_backup_failures_total{target="billing",stage="secret"}')).toBe(1);
    expect(sample(text, 'dumptruck_backup_duration_seconds_sum{target="app-db",result="success"}')).toBe(63);
    expect(sample(text, 'dumptruck_backup_duration_seconds_sum{target="billing",result="failure"}')).toBe(20);
    expect(sample(text, 'dumptruck_backup_duration_seconds_count{target="billing",result="failure"}')).toBe(1);
    expect(sample(text, 'dumptruck_backup_size_bytes_sum{target="app-db"}')).toBe(12 * MIB);
    expect(sample(text, 'dumptruck_backup_size_bytes_bucket{le="16777216",target="app-db"}')).toBe(1);
    // Progress is cumulative: the counter grows by the differences and ends at the totals.
    expect(sample(text, 'dumptruck_bytes_streamed_total{target="app-db",stage="dumped"}')).toBe(45 * MIB);
    expect(sample(text, 'dumptruck_bytes_streamed_total{target="app-db",stage="stored"}')).toBe(12 * MIB);
    expect(sample(text, 'dumptruck_bytes_streamed_total{target="billing",stage="dumped"}')).toBe(5 * MIB);
    expect(sample(text, 'dumptruck_last_success_timestamp_seconds{target="app-db"}')).toBe(Date.parse('2024-05-01T03:01:03Z') / 1000);
    expect(sample(text, 'dumptruck_alert_reruns_total{target="app-db"}')).toBe(1);
    expect(sample(text, 'dumptruck_queue_depth')).toBe(3);
    expect(sample(text, 'dumptruck_jobs_running')).toBe(2);
  });

  it('includes Node process metrics by default', async () => {
    const text = await createMetrics().registry.metrics();
    expect(text).toContain('dumptruck_process_resident_memory_bytes');
    expect(text).toContain('dumptruck_nodejs_eventloop_lag_seconds');
  });

  it('an instrumented runner behind the real queue counts and logs what the queue runs', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (l: string) => lines.push(l) } });
    const fake = fakeRunner();
    const queue = backupQueue(instrumentRunner(fake.runBackup, { metrics, logger }), {
      concurrency: 1,
      maxPending: 5,
      jobTimeoutMs: 60_000,
    });
    metrics.trackQueue(queue);
    const a = accepted(queue.enqueue({ kind: 'backup', target: 'a', trigger: { kind: 'cli', by: 't' } })).job;
    const b = accepted(queue.enqueue({ kind: 'backup', target: 'b', trigger: { kind: 'cli', by: 't' } })).job;
    const run = await fake.started('a');
    run.emit({ type: 'started', jobId: a.id, info: fakeStarted('a') });
    let text = await metrics.registry.metrics();
    expect(sample(text, 'dumptruck_jobs_running')).toBe(1);
    expect(sample(text, 'dumptruck_queue_depth')).toBe(1);

    // The fake runner emits nothing on its own: report the end as the real runner does.
    run.emit({ type: 'finished', jobId: a.id, result: fakeResult('a') });
    run.succeed();
    await a.settled;
    queue.cancel('b');
    await b.settled;
    text = await metrics.registry.metrics();
    expect(sample(text, 'dumptruck_backups_total{target="a",result="success"}')).toBe(1);
    // b was cancelled before it started: not a backup.
    expect(text).not.toContain('target="b"');
    expect(sample(text, 'dumptruck_jobs_running')).toBe(0);
    expect(sample(text, 'dumptruck_queue_depth')).toBe(0);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ jobId: a.id, target: 'a', msg: 'backup started' }),
      expect.objectContaining({ jobId: a.id, target: 'a', msg: 'backup finished' }),
    ]);
  });
});
