import { randomBytes } from 'node:crypto';
import type { Config, RdsConfig, TargetConfig } from '../config/schema.js';
import { CancelledError, DumptruckError, InputError, TimeoutError, toDumptruckError } from '../errors.js';
import { snapshotIdentifier, snapshotTags } from './names.js';
import { createRdsFactory, isTransient, rdsError, type DBSnapshot, type RdsApi, type RdsCallContext, type RdsFactory } from './rds.js';
import { newestFirst, pruneSnapshots, snapshotInfo } from './retention.js';
import type { SnapshotEvent, SnapshotInfo, SnapshotRequest, SnapshotResult, SnapshotRunOptions, SnapshotService } from './types.js';
import { lookupTarget } from '../config/targets.js';
import { newRunToken } from '../storage/keys.js';

// `/backup snapshot` and `dumptruck snapshot`: CreateDBSnapshot with our tags, then
// DescribeDBSnapshots at a gentle interval until the snapshot is available. Cancelling stops the
// following only: RDS has no way to stop a snapshot it has started, so messages say it goes on.

export interface SnapshotDeps {
  readonly config: Config;
  /** Default: the AWS SDK, credentials from its standard chain. */
  readonly rds?: RdsFactory;
  /** Default: `new Date()`. */
  readonly now?: () => Date;
  /** Waits between polls and rejects with the signal's reason when it is aborted. Default: a timer. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Time between DescribeDBSnapshots calls. Default 15 s: well inside RDS's API rate limits, and snapshots take minutes. */
  readonly pollIntervalMs?: number;
  /** Polls in a row that may fail on throttling, 5xx or the network before the job gives up. Default 5. */
  readonly maxPollFailures?: number;
  readonly newJobId?: () => string;
  /** The run token in the snapshot's identifier; default random (newRunToken). */
  readonly newRunToken?: () => string;
}

export const DEFAULT_POLL_INTERVAL_MS = 15_000;

/** Statuses a snapshot does not come back from. */
const DEAD = new Set(['failed', 'deleting', 'deleted', 'error']);

/** The target's `rds:`; a target without one gets a refusal that says what to add. */
export function rdsTarget(config: Config, name: string): { readonly target: TargetConfig; readonly rds: RdsConfig } {
  const target = lookupTarget(config, name);
  if (!target.rds) {
    const withRds = Object.entries(config.targets)
      .filter(([, t]) => t.rds)
      .map(([n]) => n);
    throw new InputError(
      `${name} has no RDS instance configured, so there is nothing to snapshot`,
      `Add targets.${name}.rds: { instanceId, region } to the config${withRds.length > 0 ? `, or snapshot one that has it: ${withRds.join(', ')}` : ''}. A logical dump works for every target.`,
      'RDS_NOT_CONFIGURED',
    );
  }
  return { target, rds: target.rds };
}

export function createSnapshotService(deps: SnapshotDeps): SnapshotService {
  const factory = deps.rds ?? createRdsFactory();
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? abortableSleep;
  const interval = deps.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const maxFailures = deps.maxPollFailures ?? 5;

  async function run(request: SnapshotRequest, options: SnapshotRunOptions = {}): Promise<SnapshotResult> {
    const jobId = request.jobId ?? (deps.newJobId ?? (() => randomBytes(4).toString('hex')))();
    const { signal } = options;
    const emit = (event: SnapshotEvent) => {
      try {
        options.onEvent?.(event);
      } catch {
        // A broken reporter must not break the snapshot.
      }
    };
    // What is known so far, for an error (or a cancel) to say which snapshot it concerns.
    let identifier: string | undefined;
    let created = false;
    let api: RdsApi | undefined;
    try {
      const { target, rds } = rdsTarget(deps.config, request.target);
      signal?.throwIfAborted();
      api = factory(rds);
      const ctx: Omit<RdsCallContext, 'action'> = { target: request.target, instanceId: rds.instanceId, region: rds.region };
      let region: string;
      try {
        region = rds.region ?? (await api.region());
      } catch (err) {
        throw rdsError(err, { ...ctx, action: 'rds:CreateDBSnapshot' });
      }
      const at = { ...ctx, region };
      const startedAt = now();
      identifier = snapshotIdentifier(request.target, startedAt, (deps.newRunToken ?? newRunToken)());
      const id = identifier;
      let snap: DBSnapshot;
      try {
        snap = await api.createSnapshot(
          { instanceId: rds.instanceId, identifier: id, tags: snapshotTags(request.target, request.trigger, jobId) },
          signal,
        );
      } catch (err) {
        throw await createError(api, err, { ...at, action: 'rds:CreateDBSnapshot', identifier: id }, signal);
      }
      created = true;
      emit({
        type: 'snapshot-started',
        jobId,
        info: { target: request.target, instanceId: rds.instanceId, region, identifier: id, status: snap.Status ?? 'creating' },
      });

      let failures = 0;
      while (snap.Status !== 'available') {
        if (snap.Status && DEAD.has(snap.Status)) {
          throw new DumptruckError('SNAPSHOT_FAILED', 'snapshot', `snapshot ${id} of instance ${rds.instanceId} ended as ${snap.Status}`, {
            hint: "The RDS console's Events page of the instance says why; `/backup snapshot` tries again with a new snapshot.",
          });
        }
        await sleep(interval, signal);
        let next: DBSnapshot | undefined;
        try {
          next = await api.describeSnapshot(id, signal);
        } catch (err) {
          if (signal?.aborted) throw err;
          if (isTransient(err) && ++failures < maxFailures) continue;
          throw rdsError(err, { ...at, action: 'rds:DescribeDBSnapshots', identifier: id });
        }
        failures = 0;
        if (!next) {
          throw new DumptruckError(
            'SNAPSHOT_FAILED',
            'snapshot',
            `snapshot ${id} disappeared while it was being created (deleted by someone?)`,
          );
        }
        snap = next;
        emit({
          type: 'snapshot-progress',
          jobId,
          progress: { status: snap.Status ?? 'unknown', percent: snap.PercentProgress, elapsedMs: now().getTime() - startedAt.getTime() },
        });
      }

      const finishedAt = now();
      let result: SnapshotResult = {
        target: request.target,
        instanceId: rds.instanceId,
        region,
        identifier: snap.DBSnapshotIdentifier ?? id,
        arn: snap.DBSnapshotArn,
        allocatedGiB: snap.AllocatedStorage,
        createdAt: snap.SnapshotCreateTime,
        startedAt,
        finishedAt,
        durationMs: finishedAt.getTime() - startedAt.getTime(),
      };
      const keepLast = target.snapshots?.keepLast;
      if (keepLast !== undefined) {
        // The snapshot exists from here on: what pruning finds is reported, never thrown.
        try {
          result = {
            ...result,
            pruned: await pruneSnapshots({ api, target: request.target, instanceId: rds.instanceId, region, keepLast, signal }),
          };
        } catch (err) {
          result = { ...result, pruneError: toDumptruckError(err, 'SNAPSHOT_FAILED', 'snapshot').message };
        }
      }
      emit({ type: 'finished', jobId, result });
      return result;
    } catch (err) {
      const error = signal?.aborted
        ? stoppedFollowing(signal.reason, identifier, created)
        : toDumptruckError(err, 'SNAPSHOT_FAILED', 'snapshot');
      emit({ type: 'failed', jobId, target: request.target, error });
      throw error;
    } finally {
      api?.destroy();
    }
  }

  async function list(name: string): Promise<readonly SnapshotInfo[]> {
    const { rds } = rdsTarget(deps.config, name);
    const api = factory(rds);
    try {
      const snapshots = await api.listSnapshots(rds.instanceId).catch(async (err: unknown) => {
        const region = rds.region ?? (await api.region().catch(() => undefined));
        throw rdsError(err, { action: 'rds:DescribeDBSnapshots', target: name, instanceId: rds.instanceId, region });
      });
      return snapshots.map(snapshotInfo).sort(newestFirst);
    } finally {
      api.destroy();
    }
  }

  return { run, list };
}

/** An InvalidDBInstanceState reply does not say the state; ask, so the message can (best effort). */
async function createError(api: RdsApi, err: unknown, ctx: RdsCallContext, signal: AbortSignal | undefined): Promise<DumptruckError> {
  if (signal?.aborted) return toDumptruckError(err, 'SNAPSHOT_FAILED', 'snapshot');
  const mapped = rdsError(err, ctx);
  if (mapped.code !== 'RDS_INSTANCE_STATE') return mapped;
  const status = await api.instanceStatus(ctx.instanceId, signal).catch(() => undefined);
  return status ? rdsError(err, { ...ctx, instanceStatus: status }) : mapped;
}

/** A cancel or timeout while following: the snapshot itself is beyond our reach and goes on. */
function stoppedFollowing(reason: unknown, identifier: string | undefined, created: boolean): DumptruckError {
  const base = reason instanceof DumptruckError ? reason : new CancelledError();
  const note = !identifier
    ? 'no snapshot was requested'
    : created
      ? `stopped following snapshot ${identifier}; the snapshot itself goes on at AWS`
      : `snapshot ${identifier} was being requested; if AWS took the request, it goes on there`;
  const message = `${base.message}: ${note}`;
  return base instanceof TimeoutError ? new TimeoutError(message) : new CancelledError(message);
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
