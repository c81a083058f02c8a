import { CREATED_BY, TAG, isOurs, tagValue } from './names.js';
import { rdsError, tagRecord, type DBSnapshot, type RdsApi } from './rds.js';
import type { SnapshotInfo, SnapshotPruneReport } from './types.js';

// Retention for the manual snapshots dumptruck created: keep the newest N of a target's, delete
// the rest. Automated snapshots are the provider's (its backup retention period expires them),
// and a snapshot without our tags was made by someone else: neither is ever a candidate. A
// candidate's tags are read again right before its delete, so untagging one keeps it.

export function snapshotInfo(s: DBSnapshot): SnapshotInfo {
  const tags = tagRecord(s.TagList);
  return {
    identifier: s.DBSnapshotIdentifier ?? '(unnamed)',
    arn: s.DBSnapshotArn,
    type: s.SnapshotType ?? 'unknown',
    status: s.Status ?? 'unknown',
    percent: s.PercentProgress,
    allocatedGiB: s.AllocatedStorage,
    createdAt: s.SnapshotCreateTime,
    ours: tags[TAG.createdBy] === CREATED_BY,
    requestedBy: tags[TAG.requestedBy],
    tags,
  };
}

/** Newest first; snapshots still being created (no time yet) come first. */
export function newestFirst(a: SnapshotInfo, b: SnapshotInfo): number {
  return (b.createdAt?.getTime() ?? Infinity) - (a.createdAt?.getTime() ?? Infinity);
}

export interface SnapshotRetentionPlan {
  readonly keep: readonly SnapshotInfo[];
  readonly remove: readonly SnapshotInfo[];
}

/**
 * Pure: which of `snapshots` go. Candidates are manual, tagged as ours for this target, and
 * available (one still creating or failing is left to finish); the newest `keepLast` stay.
 */
export function planSnapshotRetention(snapshots: readonly SnapshotInfo[], target: string, keepLast: number): SnapshotRetentionPlan {
  const candidates = snapshots.filter((s) => s.type === 'manual' && s.status === 'available' && isOurs(s.tags, target)).sort(newestFirst);
  return { keep: candidates.slice(0, keepLast), remove: candidates.slice(keepLast) };
}

export interface PruneSnapshotsArgs {
  readonly api: RdsApi;
  readonly target: string;
  readonly instanceId: string;
  readonly region: string;
  readonly keepLast: number;
  readonly signal?: AbortSignal;
}

export async function pruneSnapshots(a: PruneSnapshotsArgs): Promise<SnapshotPruneReport> {
  const ctx = { target: a.target, instanceId: a.instanceId, region: a.region };
  let listed: DBSnapshot[];
  try {
    listed = await a.api.listSnapshots(a.instanceId, 'manual', a.signal);
  } catch (err) {
    throw rdsError(err, { ...ctx, action: 'rds:DescribeDBSnapshots' });
  }
  const plan = planSnapshotRetention(listed.map(snapshotInfo), a.target, a.keepLast);
  const deleted: string[] = [];
  const skipped: Array<{ identifier: string; reason: string }> = [];
  const failed: Array<{ identifier: string; message: string }> = [];
  for (const s of plan.remove) {
    a.signal?.throwIfAborted();
    try {
      if (!s.arn) {
        skipped.push({ identifier: s.identifier, reason: 'no ARN to check its tags' });
        continue;
      }
      const tags = tagRecord(
        await a.api.listTags(s.arn, a.signal).catch((err: unknown) => {
          throw rdsError(err, { ...ctx, action: 'rds:ListTagsForResource', identifier: s.identifier });
        }),
      );
      if (!isOurs(tags, a.target)) {
        skipped.push({
          identifier: s.identifier,
          reason: `its dumptruck tags changed (no longer ${TAG.target}=${tagValue(a.target)}, ${TAG.createdBy}=${CREATED_BY})`,
        });
        continue;
      }
      await a.api.deleteSnapshot(s.identifier, a.signal).catch((err: unknown) => {
        throw rdsError(err, { ...ctx, action: 'rds:DeleteDBSnapshot', identifier: s.identifier });
      });
      deleted.push(s.identifier);
    } catch (err) {
      failed.push({ identifier: s.identifier, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return { keepLast: a.keepLast, kept: plan.keep.map((s) => s.identifier), deleted, skipped, failed };
}
