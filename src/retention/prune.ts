import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/schema.js';
import { InputError, describeCause } from '../errors.js';
import { isBackupKeyOf, targetPrefix } from '../storage/keys.js';
import { listAll } from '../storage/listing.js';
import { markerKey, newestVerified } from '../verify/marker.js';
import type { PruneReport, RetentionItem } from '../types.js';
import { planRetention } from './plan.js';

export type { PruneReport } from '../types.js';
import { lookupTarget } from '../config/targets.js';

export interface PruneDeps {
  readonly config: Config;
  readonly s3: S3Client;
  readonly now?: () => Date;
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
  const backups = all.filter((o) => isBackupKeyOf(config.storage.prefix, target, o.key)).map((o) => o.key);
  const verified = newestVerified(backups, [...keys]);
  const plan = planRetention(
    backups.map((key) => ({ key })),
    rules,
    (deps.now ?? (() => new Date()))(),
    verified,
  );
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
      if (keys.has(markerKey(item.key))) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: markerKey(item.key) })).catch(() => undefined);
    } catch (err) {
      failed.push({ key: item.key, message: describeCause(err) });
    }
  }
  return { target, rules, dryRun: options.dryRun === true, newestVerified: verified, kept: plan.keep, deleted, failed };
}
