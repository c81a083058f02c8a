// RDS snapshots against moto's server: the real SDK client and wire protocol, dummy keys, a
// local endpoint. Nothing here reaches AWS.
import {
  AddTagsToResourceCommand,
  CreateDBSnapshotCommand,
  DescribeDBSnapshotsCommand,
  RemoveTagsFromResourceCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userMessage } from '../../src/errors.js';
import { createRdsFactory, type RdsApi } from '../../src/snapshots/rds.js';
import { createSnapshotService } from '../../src/snapshots/snapshot.js';
import type { SnapshotEvent } from '../../src/snapshots/types.js';
import { startMoto, type MotoServer } from '../helpers/moto.js';
import { createInstance, motoRds, rdsAdmin, rdsTestConfig, restrictedUser, startSlowRds, type SlowRds } from '../helpers/rds.js';
import { rejection } from '../helpers/rejection.js';

let moto: MotoServer;
let admin: RDSClient;
let slow: SlowRds;

beforeAll(async () => {
  moto = await startMoto();
  admin = rdsAdmin(moto);
  slow = await startSlowRds(moto);
  for (const id of ['app-db-prod', 'list-db-prod', 'keep-db-prod', 'race-db-prod']) await createInstance(admin, id);
}, 60_000);

afterAll(async () => {
  admin?.destroy();
  await slow?.close();
  await moto?.stop();
});

const trigger = { kind: 'slack', by: 'U0123', detail: 'C0OPS' } as const;

/** A clock a minute apart per call, so several snapshots of one target in a test get distinct names. */
function minutes(start = '2024-05-01T03:00:00Z') {
  let t = Date.parse(start);
  return () => new Date((t += 60_000));
}

async function describeAll(instanceId: string) {
  return (await admin.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: instanceId }))).DBSnapshots ?? [];
}

describe('snapshots on moto', () => {
  it('creates a tagged snapshot and follows it with DescribeDBSnapshots until it is available', async () => {
    const config = rdsTestConfig(slow.endpoint, { 'app-db': {} });
    const service = createSnapshotService({
      config,
      rds: motoRds(moto),
      pollIntervalMs: 10,
      now: minutes(),
      newJobId: () => 'job1',
      newRunToken: () => 'c0ffee',
    });
    slow.creating([20, 65]);
    const events: SnapshotEvent[] = [];
    const result = await service.run({ target: 'app-db', trigger }, { onEvent: (e) => events.push(e) });

    expect(
      events.map((e) => (e.type === 'snapshot-progress' ? `${e.progress.status} ${e.progress.percent ?? ''}`.trim() : e.type)),
    ).toEqual(['snapshot-started', 'creating 20', 'creating 65', 'available', 'finished']);
    expect(result).toMatchObject({
      target: 'app-db',
      instanceId: 'app-db-prod',
      region: 'us-east-1',
      identifier: 'dumptruck-app-db-20240501t030100z-000-c0ffee',
      allocatedGiB: 20,
    });
    expect(result.createdAt).toBeInstanceOf(Date);
    expect(result.arn).toBe('arn:aws:rds:us-east-1:123456789012:snapshot:dumptruck-app-db-20240501t030100z-000-c0ffee');

    const stored = (await describeAll('app-db-prod')).find((s) => s.DBSnapshotIdentifier === result.identifier);
    expect(stored?.SnapshotType).toBe('manual');
    expect(Object.fromEntries((stored?.TagList ?? []).map((t) => [t.Key, t.Value]))).toEqual({
      'dumptruck:target': 'app-db',
      'dumptruck:created-by': 'dumptruck',
      'dumptruck:requested-by': 'slack:U0123',
      'dumptruck:source': 'C0OPS',
      'dumptruck:job': 'job1',
    });
  });

  it('two snapshots of one target started in the same second are two snapshots', async () => {
    const config = rdsTestConfig(moto.endpoint, { 'app-db': {} });
    const sameSecond = () => new Date('2024-05-01T04:00:00.250Z');
    const service = createSnapshotService({ config, rds: motoRds(moto), pollIntervalMs: 10, now: sameSecond });
    const [a, b] = await Promise.all([service.run({ target: 'app-db', trigger }), service.run({ target: 'app-db', trigger })]);
    expect(a.identifier).toMatch(/^dumptruck-app-db-20240501t040000z-250-[0-9a-f]{6}$/);
    expect(b.identifier).toMatch(/^dumptruck-app-db-20240501t040000z-250-[0-9a-f]{6}$/);
    expect(a.identifier).not.toBe(b.identifier);
    const stored = (await describeAll('app-db-prod')).map((s) => s.DBSnapshotIdentifier);
    expect(stored).toEqual(expect.arrayContaining([a.identifier, b.identifier]));
  });

  it('lists manual and automated snapshots of the instance, newest first, marking ours', async () => {
    const config = rdsTestConfig(moto.endpoint, { 'list-db': {} });
    const service = createSnapshotService({ config, rds: motoRds(moto), pollIntervalMs: 10 });
    await admin.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'list-db-prod', DBSnapshotIdentifier: 'before-migration' }));
    await service.run({ target: 'list-db', trigger: { kind: 'cli', by: 'alice', detail: 'host ops-1' } });

    const list = await service.list('list-db');
    expect(list.map((s) => [s.type, s.ours, s.status])).toEqual([
      ['manual', true, 'available'],
      ['manual', false, 'available'],
      // moto takes an automated snapshot when it creates an instance, as RDS does with backups on
      ['automated', false, 'available'],
    ]);
    expect(list[0]).toMatchObject({ requestedBy: 'cli:alice', allocatedGiB: 20 });
    expect(list[1]?.identifier).toBe('before-migration');
    expect(list[2]?.identifier).toMatch(/^rds:list-db-prod-/);
    const times = list.map((s) => s.createdAt!.getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it("retention keeps the newest N of its own and never touches automated, untagged or other targets' snapshots", async () => {
    // Around ours: someone's manual snapshot, one tagged as another target's, and the automated
    // one even after it was given our tags (it must be left to RDS's backup retention).
    await admin.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'keep-db-prod', DBSnapshotIdentifier: 'hand-made' }));
    await admin.send(
      new CreateDBSnapshotCommand({
        DBInstanceIdentifier: 'keep-db-prod',
        DBSnapshotIdentifier: 'dumptruck-other-20240101t000000z',
        Tags: [
          { Key: 'dumptruck:created-by', Value: 'dumptruck' },
          { Key: 'dumptruck:target', Value: 'other' },
        ],
      }),
    );
    const automated = (await describeAll('keep-db-prod')).find((s) => s.SnapshotType === 'automated')!;
    await admin.send(
      new AddTagsToResourceCommand({
        ResourceName: automated.DBSnapshotArn!,
        Tags: [
          { Key: 'dumptruck:created-by', Value: 'dumptruck' },
          { Key: 'dumptruck:target', Value: 'keep-db' },
        ],
      }),
    );

    const config = rdsTestConfig(moto.endpoint, { 'keep-db': { keepLast: 2 } });
    const service = createSnapshotService({ config, rds: motoRds(moto), pollIntervalMs: 10, now: minutes() });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await service.run({ target: 'keep-db', trigger }));
    const ids = results.map((r) => r.identifier);

    expect(results[0]?.pruned).toEqual({ keepLast: 2, kept: [ids[0]], deleted: [], skipped: [], failed: [] });
    expect(results[2]?.pruned).toEqual({ keepLast: 2, kept: [ids[2], ids[1]], deleted: [ids[0]], skipped: [], failed: [] });
    expect(results[3]?.pruned).toEqual({ keepLast: 2, kept: [ids[3], ids[2]], deleted: [ids[1]], skipped: [], failed: [] });

    const left = (await describeAll('keep-db-prod')).map((s) => s.DBSnapshotIdentifier).sort();
    expect(left).toEqual([automated.DBSnapshotIdentifier, 'dumptruck-other-20240101t000000z', ids[2], ids[3], 'hand-made'].sort());
  });

  it('reads the tags again right before deleting: a snapshot untagged meanwhile is kept', async () => {
    const config = rdsTestConfig(moto.endpoint, { 'race-db': { keepLast: 1 } });
    const real = motoRds(moto);
    let untagOnce = true;
    // Someone removes our tag between the listing and the delete (to keep that snapshot).
    const racing = (rds: Parameters<typeof real>[0]): RdsApi => {
      const api = real(rds);
      return {
        ...api,
        listTags: async (arn, signal) => {
          if (untagOnce) {
            untagOnce = false;
            await admin.send(new RemoveTagsFromResourceCommand({ ResourceName: arn, TagKeys: ['dumptruck:created-by'] }));
          }
          return api.listTags(arn, signal);
        },
      };
    };
    const service = createSnapshotService({ config, rds: racing, pollIntervalMs: 10, now: minutes() });
    const first = await service.run({ target: 'race-db', trigger });
    const second = await service.run({ target: 'race-db', trigger });
    expect(second.pruned?.deleted).toEqual([]);
    expect(second.pruned?.skipped).toEqual([
      {
        identifier: first.identifier,
        reason: 'its dumptruck tags changed (no longer dumptruck:target=race-db, dumptruck:created-by=dumptruck)',
      },
    ]);
    expect((await describeAll('race-db-prod')).map((s) => s.DBSnapshotIdentifier)).toContain(first.identifier);
  });

  it('an instance that does not exist: said in plain words, with the region', async () => {
    const config = rdsTestConfig(moto.endpoint, { ghost: { instanceId: 'ghost-db' } });
    const service = createSnapshotService({ config, rds: motoRds(moto), pollIntervalMs: 10 });
    const err = await rejection(service.run({ target: 'ghost', trigger }));
    expect(err.code).toBe('RDS_INSTANCE_NOT_FOUND');
    expect(userMessage(err)).toBe(
      "snapshot failed: instance ghost-db not found in us-east-1\nCheck targets.ghost.rds.instanceId (the DB identifier, not the endpoint's host name) and targets.ghost.rds.region.",
    );
  });
});

describe('provider refusals moto produces', () => {
  it('the snapshot quota', async () => {
    // moto counts every snapshot of the region against MOTO_RDS_SNAPSHOT_LIMIT; the instance's
    // automated snapshot is the first.
    const limited = await startMoto({ env: { MOTO_RDS_SNAPSHOT_LIMIT: '2' } });
    const limitedAdmin = rdsAdmin(limited);
    try {
      await createInstance(limitedAdmin, 'full-db-prod');
      const config = rdsTestConfig(limited.endpoint, { 'full-db': {} });
      const service = createSnapshotService({ config, rds: motoRds(limited), pollIntervalMs: 10, now: minutes() });
      await service.run({ target: 'full-db', trigger });
      const err = await rejection(service.run({ target: 'full-db', trigger }));
      expect(err.code).toBe('RDS_SNAPSHOT_QUOTA');
      expect(userMessage(err)).toBe(
        "snapshot failed: the account's quota of manual DB snapshots in us-east-1 is used up, so RDS refused a new one\n" +
          'Delete old manual snapshots, let dumptruck prune its own (targets.full-db.snapshots.keepLast), or raise "Manual DB instance snapshots" in Service Quotas.',
      );
    } finally {
      limitedAdmin.destroy();
      await limited.stop();
    }
  });

  it('access denied: which action, and the policy to grant', async () => {
    const strict = await startMoto();
    const strictAdmin = rdsAdmin(strict);
    try {
      await createInstance(strictAdmin, 'locked-db-prod');
      // May look, may not create: a role that was given only the read half of the policy.
      const keys = await restrictedUser(strict, 'dumptruck-bot', ['rds:DescribeDBSnapshots']);
      const config = rdsTestConfig(strict.endpoint, { 'locked-db': {} });
      const service = createSnapshotService({ config, rds: createRdsFactory({ credentials: keys }), pollIntervalMs: 10 });
      expect((await service.list('locked-db')).map((s) => s.type)).toEqual(['automated']);
      const err = await rejection(service.run({ target: 'locked-db', trigger }));
      expect(err.code).toBe('RDS_ACCESS_DENIED');
      expect(err.message).toBe(
        'AWS denied rds:CreateDBSnapshot on instance locked-db-prod in us-east-1: User: arn:aws:iam::123456789012:user/dumptruck-bot is not authorized to perform: rds:CreateDBSnapshot',
      );
      expect(err.hint).toContain('README ("RDS snapshots")');
    } finally {
      strictAdmin.destroy();
      await strict.stop();
    }
  });
});
