import { constants as bufferConstants } from 'node:buffer';
import { formatBytes } from '../config/units.js';
import { DumptruckError } from '../errors.js';
import { MAX_PART_BYTES, MIN_PART_BYTES } from '../storage/limits.js';

export { MAX_PART_BYTES, MIN_PART_BYTES } from '../storage/limits.js';

const MIB = 1024 * 1024;
/** The largest part this process can upload: lib-storage holds a part in one Buffer, and Node 20's largest is 4 GiB. */
export const PART_CAP_BYTES = Math.min(MAX_PART_BYTES, bufferConstants.MAX_LENGTH);

export interface PartPlanInput {
  /** pg_database_size of the source. */
  readonly estimatedBytes: number;
  /** The store's parts-per-upload limit. */
  readonly maxParts: number;
  /** Parts uploaded at once, as configured. */
  readonly partsInFlight: number;
  /** Ceiling for partSize x (partsInFlight + 1). */
  readonly memoryBudgetBytes: number;
  /**
   * How far the dump may outgrow the estimate. pg_database_size counts indexes and dead rows
   * (which are not dumped) but text output of numbers and bytea can be larger than their
   * on-disk form; compression then shrinks it again. 4x covers an incompressible custom-format
   * dump of a database whose text form is twice its size on disk.
   */
  readonly headroom?: number;
  /** The largest part allowed; default PART_CAP_BYTES. */
  readonly maxPartBytes?: number;
}

export interface PartPlan {
  readonly partSize: number;
  readonly partsInFlight: number;
  /** The largest stream this plan can store; beyond it the job fails with TOO_LARGE. */
  readonly maxBytes: number;
}

/**
 * Chooses the part size from the database size so a dump never runs into the store's part
 * limit (lib-storage's 5 MiB default caps a stream at ~48 GiB on AWS, and at ~5 GiB on stores
 * with a 1,000-part limit), then fits the parts in flight into the memory budget.
 *
 * When the part size the store's limit demands does not fit the budget (one part uploading and
 * one filling), or is above the largest part there can be, it fails before pg_dump starts with
 * the setting to change: quietly going over the budget would take hundreds of MiB per backup
 * (839 MiB parts for 2 TiB) or die at Node's buffer limit hours into the dump.
 */
export function planParts(input: PartPlanInput): PartPlan {
  const headroom = input.headroom ?? 4;
  const cap = input.maxPartBytes ?? PART_CAP_BYTES;
  const needed = Math.ceil((Math.max(input.estimatedBytes, 1) * headroom) / input.maxParts);
  const partSize = roundUp(Math.max(MIN_PART_BYTES, needed), MIB);
  const why = `a database of ${formatBytes(input.estimatedBytes)} needs parts of ${formatBytes(partSize)} to fit in storage.maxParts ${input.maxParts} (with ${headroom}x headroom)`;
  if (partSize > cap) {
    throw new DumptruckError('TOO_LARGE', 'upload', `${why}, above the largest part that can be uploaded (${formatBytes(cap)})`, {
      hint: `raise storage.maxParts if the store allows more parts than ${input.maxParts} (AWS S3: 10000), or split the database across targets (dumpArgs)`,
    });
  }
  // lib-storage holds one part being filled plus the ones uploading.
  const affordable = Math.floor(input.memoryBudgetBytes / partSize) - 1;
  if (affordable < 1) {
    throw new DumptruckError(
      'TOO_LARGE',
      'upload',
      `${why}; one uploading and one filling take ${formatBytes(2 * partSize)}, over storage.memoryBudget ${formatBytes(input.memoryBudgetBytes)}`,
      {
        hint: `raise storage.memoryBudget to at least ${formatBytes(2 * partSize)}, or storage.maxParts if the store allows more parts than ${input.maxParts} (smaller parts)`,
      },
    );
  }
  return { partSize, partsInFlight: Math.min(input.partsInFlight, affordable), maxBytes: partSize * input.maxParts };
}

function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}
