// S3's multipart limits: facts about the store, read by the part planner (pipeline/) and by the
// server-side copy that sets metadata (finalize.ts), so they live with the store.
const MIB = 1024 * 1024;
/** S3's minimum part size (all parts but the last). */
export const MIN_PART_BYTES = 5 * MIB;
/** S3's maximum part size. */
export const MAX_PART_BYTES = 5 * 1024 * MIB;
