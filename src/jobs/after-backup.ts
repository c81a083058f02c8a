import type { S3Client } from '@aws-sdk/client-s3';
import type { Env } from '../config/load.js';
import type { Config, TargetConfig } from '../config/schema.js';
import { toDumptruckError, userMessage } from '../errors.js';
import type { locatePgDump } from '../pipeline/probe.js';
import { pruneTarget, type PruneReport } from '../retention/prune.js';
import { keySuffix, targetPrefix } from '../storage/keys.js';
import { listAll, listBackups } from '../storage/listing.js';
import { countedBackups } from '../retention/trusted.js';
import { resolveHmacKey } from '../secrets/index.js';
import { sizeAnomaly, writeFlagMarker, type SizeRules } from '../verify/anomaly.js';
import { verifyBackup } from '../verify/verify.js';
import type { BackupResult, BackupWarning, VerificationOutcome } from './events.js';

export interface AfterBackupDeps {
  readonly config: Config;
  readonly s3: S3Client;
  readonly env: Env;
  readonly now?: () => Date;
  readonly locatePgDump?: typeof locatePgDump;
}

/**
 * What happens once a backup is stored and labelled: the size check, the automatic verification
 * (targets.<name>.verify, default verify.afterBackup) and retention (targets.<name>.retention).
 * It never throws: the backup exists whatever these find, and their findings travel in the
 * result (`warnings`, `verification`, `pruned`).
 */
export type AfterBackup = (
  result: BackupResult,
  context: { readonly jobId: string; readonly signal?: AbortSignal | undefined },
) => Promise<BackupResult>;

export function sizeRulesFor(config: Config, target: TargetConfig): SizeRules {
  const own = target.anomaly ?? {};
  return {
    threshold: own.threshold ?? config.anomaly.threshold,
    window: own.window ?? config.anomaly.window,
    emptyBelow: own.emptyBelow ?? config.anomaly.emptyBelow,
  };
}

export function createAfterBackup(deps: AfterBackupDeps): AfterBackup {
  const { config, s3 } = deps;
  return async function afterBackup(result, context) {
    const target = config.targets[result.target];
    if (!target) return result;
    // Warnings the run itself raised (an optional mirror that failed) stay in front.
    const warnings: BackupWarning[] = [...(result.warnings ?? [])];

    try {
      const rules = sizeRulesFor(config, target);
      const warning = sizeAnomaly(result, await previousSizes(deps, result, rules.window), rules);
      if (warning) warnings.push(warning);
    } catch (err) {
      warnings.push({ kind: 'check-skipped', message: `size check skipped: ${userMessage(err)}` });
    }

    let verification: VerificationOutcome | undefined;
    if (target.verify ?? config.verify.afterBackup) {
      try {
        verification = {
          ok: true,
          report: await verifyBackup(deps, result.target, result.key, { jobId: context.jobId, signal: context.signal }),
        };
      } catch (err) {
        verification = { ok: false, error: toDumptruckError(err, 'VERIFY_FAILED', 'verify') };
      }
    }

    // Remembered with the backup, so that later size checks and retention do not take it for a good one.
    const flags = [
      ...sizeWarnings({ ...result, warnings }).map((w) => w.message),
      ...(verification?.ok === false ? [`verification failed: ${userMessage(verification.error)}`] : []),
    ];
    const flagged = flags.length > 0;
    if (flagged) {
      try {
        const hmacKey = await resolveHmacKey(config.storage.hmacKey, { env: deps.env });
        await writeFlagMarker(s3, config.storage.bucket, result.key, flags, (deps.now ?? (() => new Date()))(), hmacKey);
      } catch (err) {
        warnings.push({ kind: 'check-skipped', message: `flag not recorded: ${userMessage(err)}` });
      }
    }

    let pruned: PruneReport | undefined;
    if (target.retention) {
      // A flagged backup must not push good ones out: with the newest one suspect, keep them all.
      if (flagged || context.signal?.aborted) {
        warnings.push({ kind: 'check-skipped', message: 'retention not applied: this backup is flagged, so no older backup was deleted' });
      } else {
        try {
          pruned = await pruneTarget(deps, result.target);
        } catch (err) {
          warnings.push({ kind: 'check-skipped', message: `retention not applied: ${userMessage(err)}` });
        }
      }
    }

    return {
      ...result,
      ...(warnings.length > 0 ? { warnings } : {}),
      ...(verification ? { verification } : {}),
      ...(pruned ? { pruned } : {}),
    };
  };
}

/** The warnings that make a backup "flagged" rather than a plain success (CLI exit code 4). */
export function sizeWarnings(result: BackupResult): BackupWarning[] {
  return (result.warnings ?? []).filter((w) => w.kind === 'empty' || w.kind === 'shrunk');
}

/**
 * Stored sizes of up to `window` earlier backups of the result's target and format, newest first,
 * to compare the new one with: only complete ones (a manifest, or old-style metadata: a dump
 * without its manifest may be cut short, and a planted object must not move the median: signed
 * ones, see countedBackups), and only unflagged ones (after a real shrink, the flagged small
 * backups must not pull the median down until a small backup passes as normal).
 */
async function previousSizes(deps: AfterBackupDeps, result: BackupResult, window: number): Promise<number[]> {
  const { config, s3 } = deps;
  const bucket = config.storage.bucket;
  const all = await listAll(s3, bucket, targetPrefix(config.storage.prefix, result.target));
  const keys = new Set(all.map((o) => o.key));
  const backups = await listBackups(s3, bucket, config.storage.prefix, result.target, all);
  const candidates = backups.filter(
    (o) =>
      o.key < result.key &&
      (o.state === 'complete' || o.state === 'legacy') &&
      // Compared with backups stored the same way only: a zstd dump is smaller than the gzip one of the same data.
      keySuffix(o.key) === keySuffix(result.key),
  );
  const hmacKey = await resolveHmacKey(config.storage.hmacKey, { env: deps.env });
  // Judged newest first, `window` at a time, until enough are found: each one judged costs two
  // requests, and a target keeps hundreds of backups when its retention allows.
  const sizes: number[] = [];
  for (let at = 0; at < candidates.length && sizes.length < window; at += window) {
    const { counted } = await countedBackups(s3, bucket, candidates.slice(at, at + window), keys, hmacKey);
    for (const c of counted) if (!c.flagged && sizes.length < window) sizes.push(c.object.size);
  }
  return sizes;
}
