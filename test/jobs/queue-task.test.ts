import { describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/errors.js';
import type { Trigger } from '../../src/jobs/events.js';
import type { JobQueueOptions } from '../../src/jobs/queue.js';
import { enqueueSnapshot, snapshotJobs } from '../../src/snapshots/enqueue.js';
import type { RunSnapshot, SnapshotEvent, SnapshotResult } from '../../src/snapshots/types.js';
import { accepted, backupQueue } from '../helpers/queue.js';
import { rejection } from '../helpers/rejection.js';
import { fakeRunner } from './fake-runner.js';

// Jobs of another kind (an RDS snapshot) on the backup queue: the same slots, one job per
// target whatever its kind, cancel and timeout through the signal.

const trigger: Trigger = { kind: 'slack', by: 'U1' };
const tick = () => new Promise((resolve) => setImmediate(resolve));

function snapshotResult(target: string): SnapshotResult {
  const at = new Date('2024-05-01T03:00:00Z');
  return {
    target,
    instanceId: `${target}-prod`,
    region: 'eu-west-1',
    identifier: `dumptruck-${target}-20240501t030000z`,
    arn: undefined,
    allocatedGiB: 20,
    createdAt: at,
    startedAt: at,
    finishedAt: at,
    durationMs: 0,
  };
}

/** A RunSnapshot the test drives: it emits what it is told and ends when told, or on abort. */
function fakeSnapshots() {
  const runs = new Map<string, { emit: (e: SnapshotEvent) => void; finish: () => void; signal: AbortSignal | undefined }>();
  const run: RunSnapshot = (request, options = {}) =>
    new Promise((resolve, reject) => {
      const jobId = request.jobId ?? 'x';
      options.signal?.addEventListener('abort', () => reject(options.signal?.reason), { once: true });
      runs.set(request.target, {
        signal: options.signal,
        emit: (e) => options.onEvent?.(e),
        finish: () => {
          const result = snapshotResult(request.target);
          // The runner reports its own end too; the queue must report it once, not twice.
          options.onEvent?.({ type: 'finished', jobId, result });
          resolve(result);
        },
      });
    });
  return { run, runs };
}

function setup(overrides: Partial<JobQueueOptions> = {}) {
  let n = 0;
  const runner = fakeRunner();
  const snapshots = fakeSnapshots();
  const queue = backupQueue(runner.runBackup, {
    concurrency: 1,
    maxPending: 10,
    jobTimeoutMs: 60_000,
    newJobId: () => `job${++n}`,
    ...overrides,
  }).register('snapshot', snapshotJobs(snapshots.run));
  return { queue, runner, snapshots };
}

describe('JobQueue with snapshot jobs', () => {
  it('a snapshot takes a slot like a backup, and reports its own progress and result once', async () => {
    const { queue, runner, snapshots } = setup();
    const events: SnapshotEvent[] = [];
    const { job, created } = accepted(enqueueSnapshot(queue, { target: 'a', trigger }, { onEvent: (e) => events.push(e) }));
    expect(created).toBe(true);
    expect(job.kind).toBe('snapshot');
    const backup = accepted(queue.enqueue({ kind: 'backup', target: 'b', trigger })).job;
    await tick();
    expect(job.state).toBe('running');
    expect(backup.state).toBe('queued');
    expect(runner.running()).toBe(0);
    expect(queue.status().running.map((j) => [j.kind, j.target])).toEqual([['snapshot', 'a']]);

    const run = snapshots.runs.get('a')!;
    run.emit({ type: 'snapshot-progress', jobId: job.id, progress: { status: 'creating', percent: 40, elapsedMs: 15_000 } });
    expect(job.lastEvent).toMatchObject({ type: 'snapshot-progress', progress: { percent: 40 } });
    run.finish();
    const outcome = await job.settled;
    expect(outcome).toEqual({ ok: true, result: snapshotResult('a') });
    expect(events.map((e) => e.type)).toEqual(['queued', 'snapshot-progress', 'finished']);
    await runner.started('b');
    runner.run('b').succeed();
    await backup.settled;
  });

  it('one operation per target: a dump and a snapshot of one database never run at once', async () => {
    const { queue, runner, snapshots } = setup({ concurrency: 2 });
    const snap = accepted(enqueueSnapshot(queue, { target: 'a', trigger })).job;
    expect(queue.enqueue({ kind: 'backup', target: 'a', trigger })).toEqual({
      ok: false,
      refusal: { reason: 'target-busy', kind: 'backup', target: 'a', busy: { id: 'job1', kind: 'snapshot', state: 'running' } },
    });
    // A second snapshot request gets the one already there.
    expect(enqueueSnapshot(queue, { target: 'a', trigger: { kind: 'slack', by: 'U2' } })).toEqual({ ok: true, job: snap, created: false });
    await tick();

    const dump = accepted(queue.enqueue({ kind: 'backup', target: 'b', trigger })).job;
    await runner.started('b');
    expect(enqueueSnapshot(queue, { target: 'b', trigger })).toEqual({
      ok: false,
      refusal: { reason: 'target-busy', kind: 'snapshot', target: 'b', busy: { id: 'job2', kind: 'backup', state: 'running' } },
    });

    runner.run('b').succeed();
    await dump.settled;
    snapshots.runs.get('a')!.finish();
    await snap.settled;
    // Once the target is free, either kind may go.
    expect(accepted(queue.enqueue({ kind: 'backup', target: 'a', trigger })).created).toBe(true);
  });

  it('cancel aborts the snapshot job with the reason given; status and get see it until then', async () => {
    const { queue, snapshots } = setup();
    const { job } = accepted(enqueueSnapshot(queue, { target: 'a', trigger }));
    await tick();
    expect(queue.get('a')).toBe(job);
    expect(queue.getById(job.id)?.kind).toBe('snapshot');
    expect(queue.cancel('a', 'cancelled by <@U9>')).toBe(job);
    expect(snapshots.runs.get('a')!.signal?.aborted).toBe(true);
    const outcome = await job.settled;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error).toEqual(new CancelledError('cancelled by <@U9>'));
    expect(queue.get('a')).toBeUndefined();
  });

  it('the job timeout applies to snapshots too', async () => {
    let fire: () => void = () => {};
    const { queue } = setup({ setTimer: (cb) => ((fire = cb), () => {}) });
    const { job } = accepted(enqueueSnapshot(queue, { target: 'a', trigger }));
    await tick();
    await tick();
    fire();
    const err = await rejection(job.settled.then((o) => (o.ok ? o : Promise.reject(o.error))));
    expect(err.code).toBe('TIMED_OUT');
  });
});

describe('JobQueue kinds', () => {
  it('runs only kinds registered on it: an unregistered kind is a programming error, not a refusal', () => {
    const { queue } = setup();
    expect(() => queue.enqueue({ kind: 'prune', target: 'a', trigger })).toThrow(/no prune jobs are registered on this queue/);
    expect(queue.status()).toEqual({ running: [], queued: [] });
  });
});
