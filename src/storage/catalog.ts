import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { DumptruckError, InputError } from '../errors.js';
import { resolveHmacKey, type HmacKeySource } from '../secrets/index.js';
import { provenance } from './hmac.js';
import { fileName, isBackupKeyOf, keyTime, targetPrefix } from './keys.js';
import { listBackups } from './listing.js';
import { readStoredBackup, type BackupFacts } from './manifest.js';
import type { Env } from '../types.js';
import type { BackupCatalog, BackupObject, BackupState, PresignedLink } from './types.js';

/** Pure: a stored dump's state from what it records (see BackupState). */
export function stateOf(facts: BackupFacts | undefined): BackupState {
  return facts === undefined ? 'incomplete' : facts.recordedIn === 'manifest' ? 'complete' : 'legacy';
}

/** What the catalog reads of `storage:`. */
export interface CatalogStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly linkExpiryMs: number;
  readonly hmacKey: HmacKeySource;
}

export interface CatalogDeps {
  readonly s3: S3Client;
  /** config `storage:`; storage/ reads the config's shape without importing config/. */
  readonly storage: CatalogStore;
  /** Where storage.hmacKey is read from when its source is `env`. */
  readonly env: Env;
  readonly now?: () => Date;
}

/** A key dated this far ahead of the clock is still a plausible backup (clocks drift); beyond it, never `latest`. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** Pure: whether a backup key's own date is beyond `now` plus the clock-skew allowance. */
export function datedInFuture(key: string, now: Date): boolean {
  const at = keyTime(key);
  return at !== undefined && at.getTime() > now.getTime() + CLOCK_SKEW_MS;
}

/**
 * Pure: why no download link may be made for `object`. A signature that does not match means the
 * object or its manifest changed after dumptruck wrote it, or someone else wrote both: handing
 * out a link would pass planted data on under dumptruck's name. (Unsigned objects get a link with
 * a warning: backups written before signing are still someone's only copy.)
 */
/** Said with a link to an unsigned backup, in Slack and on the CLI. */
export const UNSIGNED_NOTE =
  'Not signed by this dumptruck: written before backups were signed, or by someone else who can write to the bucket. Check it (verify) before you restore it.';

function linkRefusal(object: BackupObject, target: string): DumptruckError | undefined {
  if (object.provenance !== 'forged') return undefined;
  return new DumptruckError(
    'UNTRUSTED',
    'storage',
    `the signature recorded for ${object.key} does not match it: the object or its manifest was changed after dumptruck wrote it, or someone else wrote them; no link was made`,
    { hint: `check it with: verify ${target} ${object.key}; the newest trusted backup is: link ${target} latest` },
  );
}

export function createCatalog({ s3, storage, env, now = () => new Date() }: CatalogDeps): BackupCatalog {
  const bucket = storage.bucket;

  function list(target: string): Promise<BackupObject[]> {
    return listBackups(s3, bucket, storage.prefix, target);
  }

  async function resolve(target: string, keyOrLatest?: string): Promise<BackupObject> {
    if (keyOrLatest === undefined || keyOrLatest === 'latest') return latest(target);
    if (!isBackupKeyOf(storage.prefix, target, keyOrLatest)) {
      throw new InputError(
        `${JSON.stringify(keyOrLatest)} is not a backup key of ${target}`,
        `keys look like ${targetPrefix(storage.prefix, target)}YYYY/MM/DD/${target}_YYYYMMDDTHHmmssZ.sql.gz; list them with: list ${target}`,
      );
    }
    const stored = await readStoredBackup(s3, bucket, keyOrLatest, { hint: `list backups with: list ${target}` });
    const object = { key: keyOrLatest, size: stored.size, lastModified: stored.lastModified, state: stateOf(stored.facts) };
    if (!stored.facts) return object;
    const hmacKey = await resolveHmacKey(storage.hmacKey, { env });
    return { ...object, provenance: provenance(hmacKey, keyOrLatest, stored.facts.sha256, stored.facts.hmac) };
  }

  /**
   * The newest backup dumptruck provably wrote: anyone who can write to the bucket can plant an
   * object, and a key dated in the future would otherwise stay `latest` for good. Only complete
   * backups count (a dump without its manifest never is); they are checked newest first, one
   * manifest (or, for an old-style object, one HEAD) each, until a signed one is found.
   */
  async function latest(target: string): Promise<BackupObject> {
    const all = await list(target);
    const candidates = all.filter((o) => (o.state === 'complete' || o.state === 'legacy') && !datedInFuture(o.key, now()));
    const hmacKey = candidates.length > 0 ? await resolveHmacKey(storage.hmacKey, { env }) : '';
    for (const o of candidates) {
      const facts = await factsOf(o.key);
      if (facts && provenance(hmacKey, o.key, facts.sha256, facts.hmac) === 'trusted') return { ...o, provenance: 'trusted' };
    }
    if (all.length === 0)
      throw new DumptruckError('NOT_FOUND', 'storage', `no backups of ${target} yet`, { hint: `run one with: backup ${target}` });
    throw new DumptruckError(
      'NOT_FOUND',
      'storage',
      `none of the ${all.length} objects under ${targetPrefix(storage.prefix, target)} is a complete backup signed by this dumptruck`,
      {
        hint: `run one with: backup ${target}; a backup written before signing can only be named by its key (list ${target})`,
      },
    );
  }

  /** What a backup records; undefined when it was deleted since it was listed, or its manifest is damaged. */
  async function factsOf(key: string): Promise<BackupFacts | undefined> {
    try {
      return (await readStoredBackup(s3, bucket, key)).facts;
    } catch (err) {
      if (err instanceof DumptruckError && (err.code === 'NOT_FOUND' || err.code === 'CORRUPTED')) return undefined;
      throw err;
    }
  }

  async function link(key: string): Promise<PresignedLink> {
    const expiresIn = Math.floor(storage.linkExpiryMs / 1000);
    const command = new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      // Browsers save the dump under its own name rather than the last URL segment plus query.
      ResponseContentDisposition: `attachment; filename="${fileName(key)}"`,
    });
    const url = await getSignedUrl(s3, command, { expiresIn });
    return { url, expiresAt: new Date(now().getTime() + expiresIn * 1000) };
  }

  async function linkStored(target: string, keyOrLatest?: string) {
    const object = await resolve(target, keyOrLatest);
    const refusal = linkRefusal(object, target);
    if (refusal) throw refusal;
    return { object, link: await link(object.key) };
  }

  return { list, resolve, link, linkStored };
}
