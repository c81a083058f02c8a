import { describe, expect, it, vi } from 'vitest';
import { DumptruckError } from '../../src/errors.js';
import type { JobEvent, Trigger } from '../../src/jobs/events.js';
import type { JobQueueOptions } from '../../src/jobs/queue.js';
import { accepted, backupQueue } from '../helpers/queue.js';
import { fakeRunner, fakeStarted, type FakeRunner } from './fake-runner.js';

const trigger: Trigger = { kind: 'slack', by: 'U1' };

function setup(overrides: Partial<JobQueueOptions> = {}, runner: FakeRunner = fakeRunner()) {
  let n = 0;
  const queue = backupQueue(runner.runBackup, {
    concurrency: 2,
    maxPending: 10,
    jobTimeoutMs: 60_000,
    newJobId: () => `job${++n}`,
    ...overrides,
  });
  const events: JobEvent[] = [];
  const enqueue = (target: string) => accepted(queue.enqueue({ kind: 'backup', target, trigger }, { onEvent: (e) => events.push(e) }));
  return { queue, runner, events, enqueue };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('JobQueue', () => {
  it('runs at most `concurrency` jobs at once and finishes every one', async () => {
    const { runner, enqueue, events } = setup({ concurrency: 2 });
    const targets = ['a', 'b', 'c', 'd', 'e'];
    const jobs = targets.map((t) => enqueue(t).job);
    await tick();
    expect(runner.running()).toBe(2);
    expect(jobs.map((j) => j.state)).toEqual(['running', 'running', 'queued', 'queued', 'queued']);
    expect(jobs.map((j) => j.position)).toEqual([undefined, undefined, 1, 2, 3]);

    // Finish in an order unlike the queue's, and check the limit at every step.
    for (const t of ['b', 'a', 'd', 'c', 'e']) {
      await runner.started(t);
      expect(runner.running()).toBeLessThanOrEqual(2);
      runner.run(t).succeed();
      await tick();
    }
    const outcomes = await Promise.all(jobs.map((j) => j.settled));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(runner.maxRunning()).toBe(2);
    expect(
      events
        .filter((e) => e.type === 'finished')
        .map((e) => e.jobId)
        .sort(),
    ).toEqual(['job1', 'job2', 'job3', 'job4', 'job5']);
  });

  it('emits queued events with the position, and new positions as jobs ahead leave', async () => {
    const { runner, enqueue, events } = setup({ concurrency: 1 });
    enqueue('a');
    enqueue('b');
    enqueue('c');
    await tick();
    expect(events.filter((e) => e.type === 'queued')).toEqual([
      // a starts at once (a slot is free), so b is the first that waits.
      { type: 'queued', jobId: 'job1', target: 'a', position: 1 },
      { type: 'queued', jobId: 'job2', target: 'b', position: 1 },
      { type: 'queued', jobId: 'job3', target: 'c', position: 2 },
    ]);
    runner.run('a').succeed();
    await runner.started('b');
    expect(events.at(-1)).toEqual({ type: 'queued', jobId: 'job3', target: 'c', position: 1 });
  });

  it('answers a second request for a queued or running target with the existing job', async () => {
    const { queue, runner } = setup({ concurrency: 1 });
    const first = accepted(queue.enqueue({ kind: 'backup', target: 'a', trigger }));
    const queued = accepted(queue.enqueue({ kind: 'backup', target: 'b', trigger }));
    const again = accepted(queue.enqueue({ kind: 'backup', target: 'a', trigger: { kind: 'slack', by: 'U2' } }));
    const againQueued = accepted(queue.enqueue({ kind: 'backup', target: 'b', trigger }));
    expect(first.created).toBe(true);
    expect(again).toEqual({ ok: true, job: first.job, created: false });
    expect(againQueued).toEqual({ ok: true, job: queued.job, created: false });
    await runner.started('a');
    runner.run('a').succeed();
    await first.job.settled;
    // Once it is over, the target can run again.
    expect(accepted(queue.enqueue({ kind: 'backup', target: 'a', trigger })).created).toBe(true);
    expect(runner.runs.filter((r) => r.request.target === 'a')).toHaveLength(1);
  });

  it('refuses, as data, when maxPending jobs wait and no slot is free', async () => {
    const { queue, runner } = setup({ concurrency: 1, maxPending: 1 });
    accepted(queue.enqueue({ kind: 'backup', target: 'a', trigger }));
    accepted(queue.enqueue({ kind: 'backup', target: 'b', trigger }));
    expect(queue.enqueue({ kind: 'backup', target: 'c', trigger })).toEqual({
      ok: false,
      refusal: { reason: 'queue-full', kind: 'backup', target: 'c', maxPending: 1 },
    });
    expect(queue.status().queued.map((j) => j.target)).toEqual(['b']);
    // A duplicate of a waiting job is not a new job, so it is answered even when full.
    expect(accepted(queue.enqueue({ kind: 'backup', target: 'b', trigger })).created).toBe(false);
    (await runner.started('a')).succeed();
    await runner.started('b');
    expect(accepted(queue.enqueue({ kind: 'backup', target: 'c', trigger })).created).toBe(true);
  });

  it('with maxPending 0 takes a job only when a slot is free', async () => {
    const { queue } = setup({ concurrency: 1, maxPending: 0 });
    expect(accepted(queue.enqueue({ kind: 'backup', target: 'a', trigger })).created).toBe(true);
    expect(queue.enqueue({ kind: 'backup', target: 'b', trigger })).toEqual({
      ok: false,
      refusal: { reason: 'queue-full', kind: 'backup', target: 'b', maxPending: 0 },
    });
  });

  it('removes a cancelled queued job without running it', async () => {
    const { queue, runner, enqueue, events } = setup({ concurrency: 1 });
    enqueue('a');
    const b = enqueue('b').job;
    enqueue('c');
    await tick();
    expect(queue.cancel('b', 'cancelled by <@U9>')).toBe(b);
    const outcome = await b.settled;
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.error).toMatchObject({ code: 'CANCELLED', stage: 'cancelled', message: 'cancelled by <@U9>' });
    expect(b.state).toBe('failed');
    expect(events.filter((e) => e.jobId === b.id).at(-1)).toMatchObject({ type: 'failed', target: 'b' });
    // c moved up to b's place.
    expect(events.at(-2)).toEqual({ type: 'queued', jobId: 'job3', target: 'c', position: 1 });
    expect(queue.status().queued.map((j) => j.target)).toEqual(['c']);
    (await runner.started('a')).succeed();
    (await runner.started('c')).succeed();
    await queue.get('c')?.settled;
    expect(runner.runs.map((r) => r.request.target)).toEqual(['a', 'c']);
  });

  it('aborts a running job through its signal and frees the slot only when the runner has stopped', async () => {
    const runner = fakeRunner({ honourAbort: false });
    const { queue, enqueue } = setup({ concurrency: 1 }, runner);
    const a = enqueue('a').job;
    enqueue('b');
    const run = await runner.started('a');
    queue.cancel('a', 'cancelled by <@U9>');
    expect(run.signal?.aborted).toBe(true);
    expect(run.signal?.reason).toMatchObject({ code: 'CANCELLED', message: 'cancelled by <@U9>' });
    await tick();
    // The runner is still cleaning up (killing pg_dump, aborting the upload): b must wait.
    expect(runner.runs).toHaveLength(1);
    expect(a.state).toBe('running');
    run.fail(new DumptruckError('CANCELLED', 'cancelled', 'cancelled'));
    const outcome = await a.settled;
    // The reason the queue gave, not the runner's generic one.
    expect(!outcome.ok && outcome.error.message).toBe('cancelled by <@U9>');
    await runner.started('b');
  });

  it('does not call the runner before the caller has had its turn (a Slack ack), nor for a job cancelled meanwhile', async () => {
    const { queue, runner } = setup();
    const a = accepted(queue.enqueue({ kind: 'backup', target: 'a', trigger })).job;
    expect(a.state).toBe('running');
    expect(runner.runs).toHaveLength(0);
    queue.cancel('a', 'cancelled by <@U9>');
    const outcome = await a.settled;
    expect(!outcome.ok && outcome.error.message).toBe('cancelled by <@U9>');
    expect(runner.runs).toHaveLength(0);
  });

  it('keeps a result that landed just as the job was cancelled', async () => {
    const runner = fakeRunner({ honourAbort: false });
    const { queue, enqueue } = setup({}, runner);
    const a = enqueue('a').job;
    const run = await runner.started('a');
    queue.cancel('a');
    run.succeed();
    expect((await a.settled).ok).toBe(true);
    expect(a.state).toBe('finished');
  });

  it('times a running job out: aborts its signal with a TimeoutError and reports that', async () => {
    const timers: Array<{ callback: () => void; ms: number; cleared: boolean }> = [];
    const { enqueue, runner } = setup({
      jobTimeoutMs: 5000,
      setTimer: (callback, ms) => {
        const timer = { callback, ms, cleared: false };
        timers.push(timer);
        return () => {
          timer.cleared = true;
        };
      },
    });
    const a = enqueue('a').job;
    const b = enqueue('b').job;
    const runA = await runner.started('a');
    const runB = await runner.started('b');
    expect(timers.map((t) => t.ms)).toEqual([5000, 5000]);
    timers[0]!.callback();
    expect(runA.signal?.reason).toMatchObject({ code: 'TIMED_OUT' });
    const outcome = await a.settled;
    expect(!outcome.ok && outcome.error).toMatchObject({
      code: 'TIMED_OUT',
      stage: 'timeout',
      message: 'timed out after 5s (queue.jobTimeout)',
    });
    runB.succeed();
    await b.settled;
    // A job that ended in time clears its timer.
    expect(timers[1]!.cleared).toBe(true);
  });

  it('forwards the runner’s started and progress events and reports the end exactly once', async () => {
    const { enqueue, runner, events } = setup();
    const a = enqueue('a').job;
    const run = await runner.started('a');
    expect(run.request).toEqual({ target: 'a', trigger, jobId: 'job1' });
    const started: JobEvent = { type: 'started', jobId: 'job1', info: fakeStarted('a') };
    const progress: JobEvent = {
      type: 'progress',
      jobId: 'job1',
      progress: { dumpedBytes: 10, storedBytes: 5, elapsedMs: 1000, bytesPerSecond: 10, estimatedBytes: 100 },
    };
    run.emit(started);
    run.emit(progress);
    // A runner that reports its own end must not produce a second terminal event.
    run.emit({ type: 'failed', jobId: 'job1', target: 'a', error: new DumptruckError('DUMP_FAILED', 'dump', 'x') });
    expect(a.lastEvent).toEqual(progress);
    run.succeed();
    await a.settled;
    expect(events.map((e) => e.type)).toEqual(['queued', 'started', 'progress', 'finished']);
  });

  it('turns a runner failure into a failed event with the runner’s error', async () => {
    const { enqueue, runner, events } = setup();
    const a = enqueue('a').job;
    const error = new DumptruckError('DUMP_FAILED', 'dump', 'pg_dump exited with code 1');
    (await runner.started('a')).fail(error);
    expect(await a.settled).toEqual({ ok: false, error });
    expect(events.at(-1)).toEqual({ type: 'failed', jobId: 'job1', target: 'a', error });
  });

  it('lists running and queued jobs in order', async () => {
    const { queue, enqueue } = setup({ concurrency: 1 });
    enqueue('a');
    enqueue('b');
    enqueue('c');
    await tick();
    const status = queue.status();
    expect(status.running.map((j) => [j.target, j.state])).toEqual([['a', 'running']]);
    expect(status.queued.map((j) => [j.target, j.position])).toEqual([
      ['b', 1],
      ['c', 2],
    ]);
    expect(queue.getById('job2')?.target).toBe('b');
    expect(queue.cancelJob('nope')).toBeUndefined();
  });

  it('keeps going when a subscriber throws', async () => {
    const onListenerError = vi.fn();
    const { queue, runner } = setup({ onListenerError });
    const { job } = accepted(
      queue.enqueue(
        { kind: 'backup', target: 'a', trigger },
        {
          onEvent: () => {
            throw new Error('broken reporter');
          },
        },
      ),
    );
    const seen: string[] = [];
    job.subscribe((e) => seen.push(e.type));
    (await runner.started('a')).succeed();
    expect((await job.settled).ok).toBe(true);
    expect(seen).toEqual(['finished']);
    expect(onListenerError).toHaveBeenCalledTimes(2);
  });

  it('shutdown cancels everything, waits for the runners and refuses new jobs', async () => {
    const { queue, enqueue, runner } = setup({ concurrency: 1 });
    const a = enqueue('a').job;
    const b = enqueue('b').job;
    await runner.started('a');
    await queue.shutdown();
    expect([a.state, b.state]).toEqual(['failed', 'failed']);
    expect(runner.runs).toHaveLength(1);
    expect(runner.running()).toBe(0);
    expect(queue.enqueue({ kind: 'backup', target: 'c', trigger })).toEqual({
      ok: false,
      refusal: { reason: 'draining', kind: 'backup', target: 'c' },
    });
  });
});
