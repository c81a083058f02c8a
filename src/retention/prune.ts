import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/schema.js';
import { InputError, describeCause } from '../errors.js';
import { keyTime, targetPrefix } from '../storage/keys.js';
import { listAll, listBackups } from '../storage/listing.js';
import { manifestKey } from '../storage/manifest.js';
import { markerKey, newestVerified } from '../verify/marker.js';
import { planRetention, type RetentionItem, type RetentionRules } from './plan.js';
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
  /** The newest verified backup, which is never deleted; undefined when none is verified. */
  readonly newestVerified: string | undefined;
  readonly kept: readonly RetentionItem[];
  /** Deleted (or, in a dry run, to be deleted), newest first. */
  readonly deleted: readonly RetentionItem[];
  /** Deletions the store refused; the rest went ahead. */
  readonly failed: readonly { readonly key: string; readonly message: string }[];
}

/**
 * Applies targets.<name>.retention: lists the target's backups, manifests and `.verified` markers,
 * plans (planRetention) over the complete backups and deletes what the plan says, and deletes
 * incomplete dumps (no manifest) older than storage.incompleteGrace. A backup goes as a whole:
 * manifest first (from then on it is only an incomplete dump, never a manifest without its dump),
 * then the dump, then its marker. A dry run only reports. One DeleteObject per key: DeleteObjects
 * needs a Content-MD5 that several S3-compatible stores reject in the SDK's newer checksum modes.
 */
export async function pruneTarget(deps: PruneDeps, target: string, options: { readonly dryRun?: boolean } = {}): Promise<PruneReport> {
  const { config, s3 } = deps;
  const rules = lookupTarget(config, target).retention;
  if (!rules) throw new InputError(`${target} has no retention rules`, `set targets.${target}.retention: { keepLast: N, keepDays: D }`);
  const bucket = config.storage.bucket;
  const now = (deps.now ?? (() => new Date()))();
  const all = await listAll(s3, bucket, targetPrefix(config.storage.prefix, target));
  const keys = new Set(all.map((o) => o.key));
  const backups = await listBackups(s3, bucket, config.storage.prefix, target, all);
  const complete = backups.filter((b) => b.state !== 'incomplete').map((b) => b.key);
  const verified = newestVerified(complete, [...keys]);
  const plan = planRetention(
    complete.map((key) => ({ key })),
    rules,
    now,
    verified,
  );
  // Judged by when the dump was stored, not by its key's start time: a long run's dump is young when its manifest is due.
  const stale = backups
    .filter((b) => b.state === 'incomplete' && now.getTime() - b.lastModified.getTime() >= config.storage.incompleteGraceMs)
    .map((b) => ({ key: b.key, time: keyTime(b.key) ?? b.lastModified, ageDays: (now.getTime() - b.lastModified.getTime()) / 86_400_000, reasons: [] }));
  const del = (key: string) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  const deleted: RetentionItem[] = [];
  const failed: { key: string; message: string }[] = [];
  for (const item of [...plan.delete, ...stale]) {
    if (options.dryRun) {
      deleted.push(item);
      continue;
    }
    try {
      if (keys.has(manifestKey(item.key))) await del(manifestKey(item.key));
      await del(item.key);
      deleted.push(item);
      // An orphaned marker is a few harmless bytes; it must not report the deletion as failed.
      if (keys.has(markerKey(item.key))) await del(markerKey(item.key)).catch(() => undefined);
    } catch (err) {
      failed.push({ key: item.key, message: describeCause(err) });
    }
  }
  return { target, rules, dryRun: options.dryRun === true, newestVerified: verified, kept: plan.keep, deleted, failed };
}
