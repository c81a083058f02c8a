import { MAX_PART_BYTES, MIN_PART_BYTES } from '../storage/limits.js';

export { MAX_PART_BYTES, MIN_PART_BYTES } from '../storage/limits.js';

const MIB = 1024 * 1024;

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
}

export interface PartPlan {
  readonly partSize: number;
  readonly partsInFlight: number;
  /** The largest stream this plan can store; beyond it the job fails early with TOO_LARGE. */
  readonly maxBytes: number;
  /** True when the part size the store's limit demands does not fit in the memory budget. */
  readonly overBudget: boolean;
}

/**
 * Chooses the part size from the database size so a dump never runs into the store's part
 * limit (lib-storage's 5 MiB default caps a stream at ~48 GiB on AWS, and at ~5 GiB on stores
 * with a 1,000-part limit), then fits the parts in flight into the memory budget. The limit wins
 * over the budget: an over-budget backup is slower to start, a capped one is lost.
 */
export function planParts(input: PartPlanInput): PartPlan {
  const headroom = input.headroom ?? 4;
  const needed = Math.ceil((Math.max(input.estimatedBytes, 1) * headroom) / input.maxParts);
  const partSize = Math.min(MAX_PART_BYTES, roundUp(Math.max(MIN_PART_BYTES, needed), MIB));
  // lib-storage holds one part being filled plus the ones uploading.
  const affordable = Math.floor(input.memoryBudgetBytes / partSize) - 1;
  const partsInFlight = Math.max(1, Math.min(input.partsInFlight, affordable));
  return {
    partSize,
    partsInFlight,
    maxBytes: partSize * input.maxParts,
    overBudget: partSize * (partsInFlight + 1) > input.memoryBudgetBytes,
  };
}

function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}
