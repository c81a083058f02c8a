import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { CancelledError, TimeoutError } from '../../src/errors.js';
import type { DBSnapshot, RdsApi } from '../../src/snapshots/rds.js';
import { loggedSnapshots } from '../../src/snapshots/log.js';
import { createSnapshotService } from '../../src/snapshots/snapshot.js';
import type { SnapshotEvent } from '../../src/snapshots/types.js';
import { rejection } from '../helpers/rejection.js';

// The follow loop's logic with a scripted RDS API and a fake timer (pure logic: the wire
// protocol is covered against moto in rds.moto.test.ts). moto reports a new snapshot as
// available at once; real RDS takes minutes through `creating` and PercentProgress.

const config = parseConfig(
  JSON.stringify({
    storage: { bucket: 'backups' },
    targets: {
      'app-db': { url: 'postgres://backup@db:5432/app', rds: { instanceId: 'app-db-prod', region: 'eu-west-1' } },
      plain: { url: 'postgres://backup@db:5432/plain' },
    },
  }),
  {},
);

type Step = Partial<DBSnapshot> | Error | undefined;

/** describeSnapshot answers the steps in order, then stays on the last one. */
function scripted(steps: Step[], created: Partial<DBSnapshot> = { Status: 'creating' }) {
  const calls: string[] = [];
  let i = 0;
  const api: RdsApi = {
    region: async () => 'eu-west-1',
    createSnapshot: async ({ identifier }) => {
      calls.push(`create ${identifier}`);
      return { DBSnapshotIdentifier: identifier, ...created };
    },
    describeSnapshot: async (identifier) => {
      calls.push('describe');
      const step = steps[Math.min(i++, steps.length - 1)];
      if (step instanceof Error) throw step;
      return step === undefined ? undefined : { DBSnapshotIdentifier: identifier, ...step };
    },
    listSnapshots: async () => [],
    listTags: async () => [],
    deleteSnapshot: async () => {},
    instanceStatus: async () => 'stopped',
    destroy: () => calls.push('destroy'),
  };
  return { api, calls };
}

function harness(steps: Step[], created?: Partial<DBSnapshot>) {
  const { api, calls } = scripted(steps, created);
  let t = Date.parse('2024-05-01T03:04:05Z');
  const sleeps: number[] = [];
  const service = createSnapshotService({
    config,
    rds: () => api,
    now: () => new Date(t),
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      t += ms;
    },
    newJobId: () => 'job1',
    newRunToken: () => 'c0ffee',
  });
  const events: SnapshotEvent[] = [];
  return { service, calls, sleeps, events, onEvent: (e: SnapshotEvent) => events.push(e) };
}

const trigger = { kind: 'cli', by: 'alice' } as const;

describe('following a snapshot', () => {
  it('polls every 15 s, reporting status and percent, until available', async () => {
    const h = harness([
      { Status: 'creating', PercentProgress: 0 },
      { Status: 'creating', PercentProgress: 40 },
      {
        Status: 'available',
        PercentProgress: 100,
        AllocatedStorage: 20,
        SnapshotCreateTime: new Date('2024-05-01T03:04:06Z'),
        DBSnapshotArn: 'arn:aws:rds:eu-west-1:1:snapshot:x',
      },
    ]);
    const result = await h.service.run({ target: 'app-db', trigger }, { onEvent: h.onEvent });
    expect(h.sleeps).toEqual([15_000, 15_000, 15_000]);
    expect(
      h.events.map((e) => (e.type === 'snapshot-progress' ? `${e.progress.status} ${e.progress.percent} ${e.progress.elapsedMs}` : e.type)),
    ).toEqual(['snapshot-started', 'creating 0 15000', 'creating 40 30000', 'available 100 45000', 'finished']);
    expect(h.events[0]).toEqual({
      type: 'snapshot-started',
      jobId: 'job1',
      info: {
        target: 'app-db',
        instanceId: 'app-db-prod',
        region: 'eu-west-1',
        identifier: 'dumptruck-app-db-20240501t030405z-000-c0ffee',
        status: 'creating',
      },
    });
    expect(result).toMatchObject({
      identifier: 'dumptruck-app-db-20240501t030405z-000-c0ffee',
      instanceId: 'app-db-prod',
      region: 'eu-west-1',
      allocatedGiB: 20,
      createdAt: new Date('2024-05-01T03:04:06Z'),
      durationMs: 45_000,
    });
    expect(h.calls.at(-1)).toBe('destroy');
  });

  it('rides out throttling and 5xx between polls, but not forever', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'Throttling' });
    const ok = harness([throttled, throttled, { Status: 'available' }]);
    await expect(ok.service.run({ target: 'app-db', trigger })).resolves.toMatchObject({
      identifier: 'dumptruck-app-db-20240501t030405z-000-c0ffee',
    });

    const down = harness([throttled]);
    const err = await rejection(down.service.run({ target: 'app-db', trigger }));
    expect(err.code).toBe('SNAPSHOT_FAILED');
    expect(err.message).toMatch(/^rds:DescribeDBSnapshots for instance app-db-prod in eu-west-1 failed: Throttling: Rate exceeded/);
    expect(down.sleeps).toHaveLength(5);
  });

  it('a snapshot that fails or vanishes at the provider fails the job in plain words', async () => {
    const failed = await rejection(harness([{ Status: 'failed' }]).service.run({ target: 'app-db', trigger }));
    expect(failed.message).toBe('snapshot dumptruck-app-db-20240501t030405z-000-c0ffee of instance app-db-prod ended as failed');
    const gone = await rejection(harness([undefined]).service.run({ target: 'app-db', trigger }));
    expect(gone.message).toBe(
      'snapshot dumptruck-app-db-20240501t030405z-000-c0ffee disappeared while it was being created (deleted by someone?)',
    );
  });

  it('cancel stops following and says the snapshot itself goes on', async () => {
    const h = harness([{ Status: 'creating', PercentProgress: 10 }]);
    const controller = new AbortController();
    const run = h.service.run(
      { target: 'app-db', trigger },
      {
        signal: controller.signal,
        onEvent: (e) => {
          h.events.push(e);
          if (e.type === 'snapshot-progress') controller.abort(new CancelledError('cancelled by <@U1>'));
        },
      },
    );
    const err = await rejection(run);
    expect(err.code).toBe('CANCELLED');
    expect(err.message).toBe(
      'cancelled by <@U1>: stopped following snapshot dumptruck-app-db-20240501t030405z-000-c0ffee; the snapshot itself goes on at AWS',
    );
    expect(h.events.at(-1)).toMatchObject({ type: 'failed', error: { code: 'CANCELLED' } });

    const timedOut = harness([{ Status: 'creating' }]);
    const late = new AbortController();
    late.abort(new TimeoutError('timed out after 6h (queue.jobTimeout)'));
    const t = await rejection(timedOut.service.run({ target: 'app-db', trigger }, { signal: late.signal }));
    expect(t.message).toBe('timed out after 6h (queue.jobTimeout): no snapshot was requested');
  });

  it('an instance in the wrong state: asks for its state so the message can say it', async () => {
    const api = scripted([]).api;
    api.createSnapshot = async () => {
      throw Object.assign(
        new Error('Cannot create a snapshot because the database instance app-db-prod is not currently in the available state.'),
        { name: 'InvalidDBInstanceStateFault' },
      );
    };
    const service = createSnapshotService({ config, rds: () => api, sleep: async () => {} });
    const err = await rejection(service.run({ target: 'app-db', trigger }));
    expect(err.code).toBe('RDS_INSTANCE_STATE');
    expect(err.message).toBe('instance app-db-prod is stopped; snapshots need it available');
  });

  it('a target without rds is refused before anything is asked of AWS', async () => {
    const h = harness([]);
    const err = await rejection(h.service.run({ target: 'plain', trigger }));
    expect(err.code).toBe('RDS_NOT_CONFIGURED');
    expect(err.message).toBe('plain has no RDS instance configured, so there is nothing to snapshot');
    expect(err.hint).toBe(
      'Add targets.plain.rds: { instanceId, region } to the config, or snapshot one that has it: app-db. A logical dump works for every target.',
    );
    expect(h.calls).toEqual([]);
  });
});

describe('loggedSnapshots', () => {
  it('logs who asked, the identifier and the outcome on a child logger', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const h = harness([
      { Status: 'creating', PercentProgress: 50 },
      { Status: 'available', AllocatedStorage: 20 },
    ]);
    const seen: string[] = [];
    await loggedSnapshots(h.service, log).run(
      { target: 'app-db', trigger: { kind: 'slack', by: 'U1', detail: 'C0OPS' }, jobId: 'job1' },
      { onEvent: (e) => seen.push(e.type) },
    );
    expect(lines.map((l) => [l.msg, l.jobId, l.target])).toEqual([
      ['snapshot requested', 'job1', 'app-db'],
      ['snapshot available', 'job1', 'app-db'],
    ]);
    expect(lines[0]).toMatchObject({
      identifier: 'dumptruck-app-db-20240501t030405z-000-c0ffee',
      instanceId: 'app-db-prod',
      requestedBy: 'slack:U1',
      source: 'C0OPS',
    });
    expect(lines[1]).toMatchObject({ allocatedGiB: 20, durationMs: 30_000 });
    expect(seen).toEqual(['snapshot-started', 'snapshot-progress', 'snapshot-progress', 'finished']);
  });
});
