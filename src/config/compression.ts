// Compression of a target's backups: `compression:` at the top level, overridden per target.
// Pure rules shared by the schema (level ranges, reported by path) and the runner (what a run uses).
import type { CompressionAlgorithm } from '../types.js';

/** Levels each algorithm accepts, and the default: `gzip -6` and `zstd`'s own 3. */
export const COMPRESSION_LEVELS: Readonly<
  Record<CompressionAlgorithm, { readonly min: number; readonly max: number; readonly default: number }>
> = {
  gzip: { min: 1, max: 9, default: 6 },
  // zstd's "ultra" levels 20-22 want windows of up to 128 MiB for each block in flight.
  zstd: { min: 1, max: 19, default: 3 },
};

export interface Compression {
  readonly algorithm: CompressionAlgorithm;
  readonly level: number;
}

/** Pure: why `level` is not a level of `algorithm`, or undefined when it is (or is unset). */
export function levelProblem(algorithm: CompressionAlgorithm, level: number | undefined): string | undefined {
  const range = COMPRESSION_LEVELS[algorithm];
  if (level === undefined || (level >= range.min && level <= range.max)) return undefined;
  return `${algorithm} levels are ${range.min} to ${range.max}, got ${level}`;
}

/**
 * Pure: what a target's backups use. The target's own settings win; a level set at the top level
 * applies only while the algorithm is the top level's too (gzip's 9 means nothing to zstd).
 */
export function targetCompression(
  top: { readonly algorithm: CompressionAlgorithm; readonly level?: number | undefined },
  own: { readonly algorithm?: CompressionAlgorithm | undefined; readonly level?: number | undefined } | undefined,
): Compression {
  const algorithm = own?.algorithm ?? top.algorithm;
  const level = own?.level ?? (algorithm === top.algorithm ? top.level : undefined) ?? COMPRESSION_LEVELS[algorithm].default;
  return { algorithm, level };
}

/**
 * Pure: how a backup was compressed, for results ("zstd level 3, ratio 4.21x"). Custom archives
 * are compressed inside pg_dump, so dumptruck sees no uncompressed size to give a ratio of.
 * Undefined for a result that does not say.
 */
export function describeCompression(r: {
  readonly format: 'plain' | 'custom';
  readonly compression?: Compression | undefined;
  readonly dumpedBytes: number;
  readonly storedBytes: number;
}): string | undefined {
  if (!r.compression) return undefined;
  const what = `${r.compression.algorithm} level ${r.compression.level}`;
  if (r.format === 'custom') return `${what}, inside pg_dump's archive`;
  return r.storedBytes > 0 ? `${what}, ratio ${(r.dumpedBytes / r.storedBytes).toFixed(2)}x` : what;
}
