import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { installShutdown, type ShutdownOptions } from '../../src/jobs/shutdown.js';
import { fakeRunner, type FakeRunnerOptions } from './fake-runner.js';
import { accepted, backupQueue } from '../helpers/queue.js';

function setup(opts: Partial<ShutdownOptions> = {}, runner: FakeRunnerOptions = {}) {
  const fake = fakeRunner(runner);
  const queue = backupQueue(fake.runBackup, { concurrency: 1, maxPending: 5, jobTimeoutMs: 3_600_000 });
  const signals = new EventEmitter();
  const logs: Array<{ level: string; msg: string }> = [];
  const at = (level: string) => (_: object, msg: string) => logs.push({ level, msg });
  let exitCode: number | undefined;
  let exited!: () => void;
  const exitedP = new Promise<void>((resolve) => (exited = resolve));
  const calls: string[] = [];
  const shutdown = installShutdown({
    queue,
    graceMs: 60_000,
    log: { info: at('info'), warn: at('warn'), error: at('error') },
    exit: (code) => {
      exitCode ??= code;
      calls.push(`exit ${code}`);
      exited();
    },
    signalSource: signals as unknown as ShutdownOptions['signalSource'],
    onDraining: (signal) => void calls.push(`draining ${signal}`),
    onStopped: () => void calls.push('stopped'),
    ...opts,
  });
  const enqueue = (target: string) => accepted(queue.enqueue({ kind: 'backup', target, trigger: { kind: 'slack', by: 'U1' } })).job;
  return { fake, queue, signals, logs, calls, shutdown, enqueue, exited: exitedP, exitCode: () => exitCode };
}

describe('installShutdown', () => {
  it('SIGTERM: stops intake, cancels what has not started, lets the running backup finish, then exits 0', async () => {
    const t = setup();
    const running = t.enqueue('app-db');
    const waiting = t.enqueue('billing');
    const run = await t.fake.started('app-db');

    t.signals.emit('SIGTERM', 'SIGTERM');
    expect(t.shutdown.draining).toBe(true);
    const queued = await waiting.settled;
    expect(queued.ok).toBe(false);
    if (!queued.ok) expect(queued.error.message).toBe('cancelled: the bot is restarting; run it again once it is back');
    expect(run.signal?.aborted).toBe(false);
    expect(t.calls).toEqual(['draining SIGTERM']);

    run.succeed();
    await t.exited;
    expect((await running.settled).ok).toBe(true);
    expect(t.calls).toEqual(['draining SIGTERM', 'stopped', 'exit 0']);
    expect(t.fake.runs.map((r) => r.request.target)).toEqual(['app-db']);
    // The queue is closed for good.
    expect(t.queue.enqueue({ kind: 'backup', target: 'late', trigger: { kind: 'slack', by: 'U1' } })).toEqual({
      ok: false,
      refusal: { reason: 'draining', kind: 'backup', target: 'late' },
    });
  });

  it('cancels backups still running when the grace period ends, waits for their cleanup, exits 0', async () => {
    const t = setup({ graceMs: 50 });
    const job = t.enqueue('app-db');
    const run = await t.fake.started('app-db');
    t.signals.emit('SIGINT', 'SIGINT');
    await t.exited;
    expect(run.signal?.aborted).toBe(true);
    const outcome = await job.settled;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error.message).toContain('did not finish within the grace period');
    expect(t.exitCode()).toBe(0);
    expect(t.logs.map((l) => l.msg)).toContain('grace period over: cancelling running backups');
  });

  it('exits 0 without waiting when nothing runs', async () => {
    const t = setup();
    t.signals.emit('SIGTERM', 'SIGTERM');
    await t.exited;
    expect(t.calls).toEqual(['draining SIGTERM', 'stopped', 'exit 0']);
  });

  it('a second signal cancels every backup at once and exits 1 without waiting for the grace period', async () => {
    const t = setup({ graceMs: 3_600_000 });
    const job = t.enqueue('app-db');
    const run = await t.fake.started('app-db');
    t.signals.emit('SIGTERM', 'SIGTERM');
    await new Promise((r) => setImmediate(r));
    expect(run.signal?.aborted).toBe(false);
    t.signals.emit('SIGTERM', 'SIGTERM');
    await t.exited;
    expect(t.exitCode()).toBe(1);
    expect(run.signal?.aborted).toBe(true);
    const outcome = await job.settled;
    expect(outcome.ok).toBe(false);
  });

  it('does not hang on a backup whose cleanup never ends', async () => {
    const t = setup({ graceMs: 20, cleanupMs: 50 }, { honourAbort: false });
    t.enqueue('app-db');
    await t.fake.started('app-db');
    t.signals.emit('SIGTERM', 'SIGTERM');
    await t.exited;
    expect(t.exitCode()).toBe(0);
    expect(t.logs).toContainEqual({ level: 'error', msg: 'cancelled backups did not finish cleaning up in time; exiting anyway' });
  });

  it('a failing onDraining or onStopped does not stop the shutdown', async () => {
    const t = setup({
      onDraining: () => {
        throw new Error('could not flip readiness');
      },
      onStopped: () => Promise.reject(new Error('receiver would not stop')),
    });
    t.signals.emit('SIGTERM', 'SIGTERM');
    await t.exited;
    expect(t.exitCode()).toBe(0);
    expect(t.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([
      'onDraining failed; shutting down anyway',
      'onStopped failed',
    ]);
  });

  it('closes a queue that can be closed, before waiting', async () => {
    const closed: string[] = [];
    const t = setup();
    const queue = Object.assign(Object.create(t.queue) as typeof t.queue, { close: () => void closed.push('closed') });
    installShutdown({
      queue,
      graceMs: 1000,
      log: { info() {}, warn() {}, error() {} },
      exit: () => closed.push('exit'),
      signalSource: t.signals as unknown as ShutdownOptions['signalSource'],
      signals: ['SIGUSR2'],
    });
    t.signals.emit('SIGUSR2', 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toEqual(['closed', 'exit']);
  });

  it('uninstall removes the signal listeners', () => {
    const t = setup();
    expect(t.signals.listenerCount('SIGTERM')).toBe(1);
    expect(t.signals.listenerCount('SIGINT')).toBe(1);
    t.shutdown.uninstall();
    expect(t.signals.listenerCount('SIGTERM')).toBe(0);
    expect(t.signals.listenerCount('SIGINT')).toBe(0);
  });
});

describe('shutdown.graceTimeout', () => {
  const yaml = (extra = '') =>
    ['storage:', '  bucket: backups', 'targets:', '  app-db:', '    url: postgres://backup@db:5432/app', extra].join('\n');

  it('defaults to 5 minutes and takes a duration', () => {
    expect(parseConfig(yaml(), {}).shutdown).toEqual({ graceTimeoutMs: 300_000 });
    expect(parseConfig(yaml('shutdown:\n  graceTimeout: 90s'), {}).shutdown).toEqual({ graceTimeoutMs: 90_000 });
    expect(() => parseConfig(yaml('shutdown:\n  graceTimeout: soon'), {})).toThrow(ConfigError);
  });
});
