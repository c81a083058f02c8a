// A RunBackup that does nothing until the test says so: for unit tests of the queue and the
// Slack layer, which only care about when a run starts, what it emits and how it ends.
import { CancelledError, type DumptruckError } from '../../src/errors.js';
import type { BackupResult, JobEvent, StartedInfo } from '../../src/jobs/events.js';
import type { BackupRequest, RunBackup, RunOptions } from '../../src/jobs/types.js';

export interface FakeRun {
  readonly request: BackupRequest;
  readonly signal: AbortSignal | undefined;
  emit(event: JobEvent): void;
  succeed(result?: Partial<BackupResult>): void;
  fail(error: DumptruckError): void;
  readonly settled: boolean;
}

export interface FakeRunner {
  readonly runBackup: RunBackup;
  /** Every run started, in order. */
  readonly runs: FakeRun[];
  /** Runs started and not yet settled. */
  readonly running: () => number;
  /** The most that were running at once. */
  readonly maxRunning: () => number;
  /** The newest run of a target. */
  run(target: string): FakeRun;
  /** Resolves once `target` has been started `count` times. */
  started(target: string, count?: number): Promise<FakeRun>;
}

export interface FakeRunnerOptions {
  /** When false, an abort does not end the run: the test settles it (to check the queue waits for the runner). Default true. */
  readonly honourAbort?: boolean;
}

export function fakeResult(target: string, overrides: Partial<BackupResult> = {}): BackupResult {
  return {
    target,
    bucket: 'backups',
    key: `dumptruck/${target}/2024/05/01/${target}_20240501T030000Z.sql.gz`,
    format: 'plain',
    storedBytes: 12_582_912,
    dumpedBytes: 47_185_920,
    sha256: 'a'.repeat(64),
    startedAt: new Date('2024-05-01T03:00:00Z'),
    finishedAt: new Date('2024-05-01T03:01:03Z'),
    durationMs: 63_000,
    pgDumpVersion: '16.4',
    serverVersion: '16.4',
    partSize: 8_388_608,
    parts: 2,
    ...overrides,
  };
}

export function fakeStarted(target: string, overrides: Partial<StartedInfo> = {}): StartedInfo {
  return {
    target,
    key: `dumptruck/${target}/2024/05/01/${target}_20240501T030000Z.sql.gz`,
    estimatedBytes: 157_286_400,
    partSize: 8_388_608,
    partsInFlight: 2,
    pgDumpVersion: '16.4',
    serverVersion: '16.4',
    ...overrides,
  };
}

export function fakeRunner(options: FakeRunnerOptions = {}): FakeRunner {
  const runs: FakeRun[] = [];
  let running = 0;
  let maxRunning = 0;
  const waiters: Array<() => void> = [];

  const runBackup: RunBackup = (request: BackupRequest, opts: RunOptions = {}) =>
    new Promise<BackupResult>((resolve, reject) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        running--;
        fn();
      };
      const run: FakeRun = {
        request,
        signal: opts.signal,
        emit: (event) => opts.onEvent?.(event),
        succeed: (result) => settle(() => resolve(fakeResult(request.target, result))),
        fail: (error) => settle(() => reject(error)),
        get settled() {
          return settled;
        },
      };
      if (options.honourAbort !== false) {
        // Like the real runner: an abort ends the run with its own, generic CancelledError.
        opts.signal?.addEventListener('abort', () => settle(() => reject(new CancelledError())), { once: true });
      }
      runs.push(run);
      for (const w of waiters.splice(0)) w();
    });

  return {
    runBackup,
    runs,
    running: () => running,
    maxRunning: () => maxRunning,
    run(target) {
      const found = runs.filter((r) => r.request.target === target).at(-1);
      if (!found) throw new Error(`${target} was never started`);
      return found;
    },
    async started(target, count = 1) {
      for (;;) {
        const matching = runs.filter((r) => r.request.target === target);
        if (matching.length >= count) return matching[count - 1]!;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}
