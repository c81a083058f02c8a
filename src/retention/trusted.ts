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
      if (!(await proven(s3, bucket, object.key, hmacKey))) return { object, proven: false, flagged: false };
      const flagged = keys.has(`${object.key}${FLAGGED_SUFFIX}`) && (await signedFlag(s3, bucket, object.key, hmacKey));
      return { object, proven: true, flagged };
    }),
  );
  return {
    counted: judged.filter((j) => j.proven).map(({ object, flagged }) => ({ object, flagged })),
    unproven: judged.filter((j) => !j.proven).map((j) => j.object),
  };
}

async function proven(s3: S3Client, bucket: string, key: string, hmacKey: string): Promise<boolean> {
  let facts;
  try {
    facts = (await readStoredBackup(s3, bucket, key)).facts;
  } catch (err) {
    // Deleted since it was listed, or a damaged manifest: nothing to count.
    if (err instanceof DumptruckError && (err.code === 'NOT_FOUND' || err.code === 'CORRUPTED')) return false;
    throw err;
  }
  if (facts === undefined) return false;
  const found = provenance(hmacKey, key, facts.sha256, facts.hmac);
  // Keys with a run token came after signing, so an unsigned one was planted (as restore/trust.ts says).
  return found === 'trusted' || (found === 'unsigned' && facts.recordedIn === 'metadata' && !hasRunToken(key));
}
