import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/schema.js';
import { InputError, describeCause } from '../errors.js';
import { resolveHmacKey } from '../secrets/index.js';
import type { Env } from '../types.js';
import { keyTime, targetPrefix } from '../storage/keys.js';
import { listAll, listBackups } from '../storage/listing.js';
import { manifestKey } from '../storage/manifest.js';
import { flagMarkerKey } from '../verify/anomaly.js';
import { markerKey, newestVerified } from '../verify/marker.js';
import type { PruneReport, RetentionItem } from '../types.js';
import { isFutureKey, planRetention } from './plan.js';
import { countedBackups } from './trusted.js';

export type { PruneReport } from '../types.js';
import { lookupTarget } from '../config/targets.js';

export interface PruneDeps {
  readonly config: Config;
  readonly s3: S3Client;
  /** Where storage.hmacKey is read from when its source is `env`. */
  readonly env: Env;
  readonly now?: () => Date;
}

/**
 * Applies targets.<name>.retention: lists the target's backups, manifests and markers, plans
 * (planRetention) over the complete ones (manifest, or old-style metadata) and deletes what the
 * plan says, and deletes incomplete dumps (dumptruck's, without a manifest) older than
 * storage.incompleteGrace. A backup goes as a whole: manifest first (from then on it is only an
 * incomplete dump, never a manifest without its dump), then the dump, then its markers. Objects
 * dumptruck did not write are ignored. A dry run only reports. One DeleteObject per key:
 * DeleteObjects needs a Content-MD5 that several S3-compatible stores reject in the SDK's newer
 * checksum modes, and prunes are small.
 */
export async function pruneTarget(deps: PruneDeps, target: string, options: { readonly dryRun?: boolean } = {}): Promise<PruneReport> {
  const { config, s3 } = deps;
  const rules = lookupTarget(config, target).retention;
  if (!rules) throw new InputError(`${target} has no retention rules`, `set targets.${target}.retention: { keepLast: N, keepDays: D }`);
  const bucket = config.storage.bucket;
  const all = await listAll(s3, bucket, targetPrefix(config.storage.prefix, target));
  const keys = new Set(all.map((o) => o.key));
  const now = (deps.now ?? (() => new Date()))();
  // Oldest first, as the store lists them: the report names ignored objects in that order.
  const backups = (await listBackups(s3, bucket, config.storage.prefix, target, all)).reverse();
  const hmacKey = await resolveHmacKey(config.storage.hmacKey, { env: deps.env });
  const { counted, unproven } = await countedBackups(
    s3,
    bucket,
    backups.filter((b) => (b.state === 'complete' || b.state === 'legacy') && !isFutureKey(b.key, now)),
    keys,
    hmacKey,
  );
  const countedKeys = new Set(counted.map((c) => c.object.key));
  const flaggedKeys = new Set(counted.filter((c) => c.flagged).map((c) => c.object.key));
  // A future-dated key is never deleted nor counted (planRetention ignores it), whatever it holds.
  const own = backups.filter((b) => countedKeys.has(b.key) || isFutureKey(b.key, now)).map((b) => b.key);
  const foreign = backups.filter((b) => b.state === 'foreign' && !isFutureKey(b.key, now)).map((b) => b.key);
  const flagged = (key: string) => flaggedKeys.has(key);
  // Newest first, as newestVerified reads them.
  const { key: verified, unproven: unprovenMarkers } = await newestVerified(
    s3,
    bucket,
    [...counted].reverse().flatMap((c) => (c.flagged || isFutureKey(c.object.key, now) ? [] : [{ key: c.object.key, sha256: c.sha256 }])),
    keys,
    hmacKey,
  );
  const plan = planRetention(
    own.map((key) => ({ key, flagged: flagged(key) })),
    rules,
    now,
    verified,
    new Set(unprovenMarkers),
  );
  // Judged by when the dump was stored, not by its key's start time: a long run's dump is young when its manifest is due.
  const stale: RetentionItem[] = backups
    .filter(
      (b) =>
        b.state === 'incomplete' &&
        !isFutureKey(b.key, now) &&
        now.getTime() - b.lastModified.getTime() >= config.storage.incompleteGraceMs,
    )
    .map((b) => ({
      key: b.key,
      time: keyTime(b.key) ?? b.lastModified,
      ageDays: (now.getTime() - b.lastModified.getTime()) / DAY_MS,
      flagged: false,
      reasons: [],
    }));
  const ignored = [
    ...plan.ignored,
    ...foreign.map((key) => ({ key, why: NOT_OURS })),
    ...unproven.map((b) => ({ key: b.key, why: NOT_SIGNED })),
    ...unprovenMarkers.map((key) => ({ key: markerKey(key), why: MARKER_NOT_SIGNED })),
  ];
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
      for (const marker of [markerKey(item.key), flagMarkerKey(item.key)]) {
        if (keys.has(marker)) await del(marker).catch(() => undefined);
      }
    } catch (err) {
      failed.push({ key: item.key, message: describeCause(err) });
    }
  }
  return { target, rules, dryRun: options.dryRun === true, newestVerified: verified, kept: plan.keep, deleted, failed, ignored };
}

const DAY_MS = 86_400_000;

export const NOT_OURS = 'not written by dumptruck (no dumptruck metadata)';
export const NOT_SIGNED = 'not signed by this dumptruck (no valid HMAC): never counted, never deleted';
export const MARKER_NOT_SIGNED =
  'a .verified marker not proven signed by this dumptruck for this backup: its backup is kept, but it is not the newest verified (verify it again)';
