import type { S3Client } from '@aws-sdk/client-s3';
import { DumptruckError } from '../errors.js';
import { provenance } from '../storage/hmac.js';
import { hasRunToken } from '../storage/keys.js';
import { readStoredBackup } from '../storage/manifest.js';
import type { BackupObject } from '../storage/types.js';
import { FLAGGED_SUFFIX, signedFlag } from '../verify/anomaly.js';

// Retention decides what is deleted by what it counts: a planted object that counts as a good
// backup pushes a real one out of keepLast, and a planted flag takes a real one out of it. So
// only what this dumptruck signed counts, and only flags it signed flag.

/** A backup retention may count, and whether a signed flag marker says it is suspect. */
export interface CountedBackup {
  readonly object: BackupObject;
  /** The SHA-256 its signed manifest (or metadata) records. */
  readonly sha256: string;
  readonly flagged: boolean;
}

/**
 * Splits complete and legacy backups into those that count (a manifest, or old-style metadata,
 * with a valid HMAC; or unsigned old-style metadata on a key without a run token: written before
 * backups were signed) and the unproven rest. `keys`: the listing's keys, to find flag markers.
 */
export async function countedBackups(
  s3: S3Client,
  bucket: string,
  backups: readonly BackupObject[],
  keys: ReadonlySet<string>,
  hmacKey: string,
): Promise<{ readonly counted: CountedBackup[]; readonly unproven: BackupObject[] }> {
  const judged = await Promise.all(
    backups.map(async (object) => {
      const sha256 = await provenSha256(s3, bucket, object.key, hmacKey);
      if (sha256 === undefined) return { object, sha256: undefined, flagged: false };
      const flagged = keys.has(`${object.key}${FLAGGED_SUFFIX}`) && (await signedFlag(s3, bucket, object.key, hmacKey));
      return { object, sha256, flagged };
    }),
  );
  return {
    counted: judged.flatMap(({ object, sha256, flagged }) => (sha256 === undefined ? [] : [{ object, sha256, flagged }])),
    unproven: judged.filter((j) => j.sha256 === undefined).map((j) => j.object),
  };
}

/** The SHA-256 a proven backup records; undefined when it is not proven. */
async function provenSha256(s3: S3Client, bucket: string, key: string, hmacKey: string): Promise<string | undefined> {
  let facts;
  try {
    facts = (await readStoredBackup(s3, bucket, key)).facts;
  } catch (err) {
    // Deleted since it was listed, or a damaged manifest: nothing to count.
    if (err instanceof DumptruckError && (err.code === 'NOT_FOUND' || err.code === 'CORRUPTED')) return undefined;
    throw err;
  }
  if (facts === undefined) return undefined;
  const found = provenance(hmacKey, key, facts.sha256, facts.hmac);
  // Keys with a run token came after signing, so an unsigned one was planted (as restore/trust.ts says).
  const isProven = found === 'trusted' || (found === 'unsigned' && facts.recordedIn === 'metadata' && !hasRunToken(key));
  return isProven ? facts.sha256 : undefined;
}
