import { describe, expect, it } from 'vitest';
import { planSnapshotRetention, snapshotInfo } from '../../src/snapshots/retention.js';
import type { DBSnapshot } from '../../src/snapshots/rds.js';

// Which snapshots retention may delete: pure. The same rules run against moto in
// rds.moto.test.ts; this one also shows an automated snapshot that carries our tags (RDS copies
// an instance's tags to its automated snapshots when CopyTagsToSnapshot is on).

const ours = (target: string) => [
  { Key: 'dumptruck:created-by', Value: 'dumptruck' },
  { Key: 'dumptruck:target', Value: target },
];

function snap(id: string, minute: number, extra: Partial<DBSnapshot> = {}): DBSnapshot {
  return {
    DBSnapshotIdentifier: id,
    DBSnapshotArn: `arn:aws:rds:eu-west-1:1:snapshot:${id}`,
    SnapshotType: 'manual',
    Status: 'available',
    SnapshotCreateTime: new Date(Date.UTC(2024, 4, 1, 3, minute)),
    TagList: ours('app-db'),
    ...extra,
  };
}

describe('planSnapshotRetention', () => {
  it('keeps the newest N of our manual, available snapshots of the target; nothing else is a candidate', () => {
    const all = [
      snap('dumptruck-app-db-1', 1),
      snap('dumptruck-app-db-4', 4),
      snap('dumptruck-app-db-2', 2),
      snap('dumptruck-app-db-3', 3),
      snap('rds:app-db-prod-2024-05-01-03-05', 5, { SnapshotType: 'automated' }),
      snap('rds:app-db-prod-2024-05-01-03-00', 0, { SnapshotType: 'automated', TagList: [] }),
      snap('before-migration', 0, { TagList: [] }),
      snap('dumptruck-app-db-untagged', 0, { TagList: [{ Key: 'dumptruck:target', Value: 'app-db' }] }),
      snap('dumptruck-other-1', 0, { TagList: ours('other') }),
      snap('dumptruck-app-db-creating', 6, { Status: 'creating', SnapshotCreateTime: undefined }),
      snap('awsbackup:job-1', 0, { SnapshotType: 'awsbackup' }),
    ].map(snapshotInfo);
    const plan = planSnapshotRetention(all, 'app-db', 2);
    expect(plan.keep.map((s) => s.identifier)).toEqual(['dumptruck-app-db-4', 'dumptruck-app-db-3']);
    expect(plan.remove.map((s) => s.identifier)).toEqual(['dumptruck-app-db-2', 'dumptruck-app-db-1']);
  });

  it('fewer than N: nothing to delete', () => {
    const plan = planSnapshotRetention([snap('dumptruck-app-db-1', 1)].map(snapshotInfo), 'app-db', 3);
    expect(plan).toEqual({ keep: [expect.objectContaining({ identifier: 'dumptruck-app-db-1' })], remove: [] });
  });
});
