import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/schema.js';
import { InputError, describeCause } from '../errors.js';
import { isBackupKeyOf, targetPrefix } from '../storage/keys.js';
import { listAll } from '../storage/listing.js';
import { isOwnBackup } from '../storage/metadata.js';
import { flagMarkerKey } from '../verify/anomaly.js';
import { markerKey, newestVerified } from '../verify/marker.js';
import { isFutureKey, planRetention, type IgnoredItem, type RetentionItem, type RetentionRules } from './plan.js';
import { lookupTarget } from '../config/targets.js';

export interface PruneDeps {
  readonly config: Config;
  readonly s3: S3Client;
  readonly now?: () => Date;
}

export interface PruneReport {
  readonly target: string;
  readonly rules: RetentionRules;
  readonly dryRun: boolean;
  /** The newest unflagged verified backup, which is never deleted; undefined when none is verified. */
  readonly newestVerified: string | undefined;
  /** Objects in backup-key shape that are not counted nor deleted: dated in the future, or not written by dumptruck. */
  readonly ignored: readonly IgnoredItem[];
  readonly kept: readonly RetentionItem[];
  /** Deleted (or, in a dry run, to be deleted), newest first. */
  readonly deleted: readonly RetentionItem[];
  /** Deletions the store refused; the rest went ahead. */
  readonly failed: readonly { readonly key: string; readonly message: string }[];
}

/**
 * Applies targets.<name>.retention: lists the target's backups and `.verified` markers, plans
 * (planRetention) and deletes what the plan says, each backup with its marker. A dry run only
 * reports. One DeleteObject per key: DeleteObjects needs a Content-MD5 that several
 * S3-compatible stores reject in the SDK's newer checksum modes, and prunes are small.
 */
export async function pruneTarget(deps: PruneDeps, target: string, options: { readonly dryRun?: boolean } = {}): Promise<PruneReport> {
  const { config, s3 } = deps;
  const rules = lookupTarget(config, target).retention;
  if (!rules) throw new InputError(`${target} has no retention rules`, `set targets.${target}.retention: { keepLast: N, keepDays: D }`);
  const bucket = config.storage.bucket;
  const all = await listAll(s3, bucket, targetPrefix(config.storage.prefix, target));
  const keys = new Set(all.map((o) => o.key));
  const now = (deps.now ?? (() => new Date()))();
  const shaped = all.filter((o) => isBackupKeyOf(config.storage.prefix, target, o.key)).map((o) => o.key);
  const { own, foreign } = await splitOwn(s3, bucket, target, shaped.filter((key) => !isFutureKey(key, now)));
  const flagged = (key: string) => keys.has(flagMarkerKey(key));
  const verified = newestVerified(own.filter((key) => !flagged(key)), [...keys]);
  const plan = planRetention(
    [...own, ...shaped.filter((key) => isFutureKey(key, now))].map((key) => ({ key, flagged: flagged(key) })),
    rules,
    now,
    verified,
  );
  const ignored = [...plan.ignored, ...foreign.map((key) => ({ key, why: NOT_OURS }))];
  const deleted: RetentionItem[] = [];
  const failed: { key: string; message: string }[] = [];
  for (const item of plan.delete) {
    if (options.dryRun) {
      deleted.push(item);
      continue;
    }
    try {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: item.key }));
      deleted.push(item);
      // An orphaned marker is a few harmless bytes; it must not report the deletion as failed.
      for (const marker of [markerKey(item.key), flagMarkerKey(item.key)]) {
        if (keys.has(marker)) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: marker })).catch(() => undefined);
      }
    } catch (err) {
      failed.push({ key: item.key, message: describeCause(err) });
    }
  }
  return { target, rules, dryRun: options.dryRun === true, newestVerified: verified, kept: plan.keep, deleted, failed, ignored };
}

export const NOT_OURS = 'not written by dumptruck (no dumptruck metadata)';

/** Reads each key's metadata, a few at a time: the ones dumptruck wrote for `target`, and the rest. */
async function splitOwn(s3: S3Client, bucket: string, target: string, keys: readonly string[]): Promise<{ own: string[]; foreign: string[] }> {
  const own: string[] = [];
  const foreign: string[] = [];
  for (let i = 0; i < keys.length; i += 8) {
    const batch = keys.slice(i, i + 8);
    const results = await Promise.all(batch.map((key) => isOwnBackup(s3, bucket, target, key)));
    batch.forEach((key, j) => (results[j] ? own : foreign).push(key));
  }
  return { own, foreign };
}
