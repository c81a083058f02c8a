import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { CompressionAlgorithm } from '../types.js';
import { createGzip, createParallelZstd, zstdParams } from './pgzip.js';
import { createZstdDecompress } from './unzstd.js';

export interface CompressionOptions {
  readonly algorithm: CompressionAlgorithm;
  /** gzip 1-9 (6 matches `gzip -6`), zstd 1-19 (3 matches `zstd`). */
  readonly level: number;
  /** Blocks on several cores (default) or Node's single stream of the same format. */
  readonly parallel: boolean;
  readonly workers?: number | undefined;
  readonly blockSize?: number | undefined;
}

/** The compression stage for plain dumps. Every path writes one standard .gz or .zst stream. */
export function createCompressor(options: CompressionOptions): Transform {
  const tuning = {
    level: options.level,
    ...(options.workers === undefined ? {} : { concurrency: options.workers }),
    ...(options.blockSize === undefined ? {} : { blockSize: options.blockSize }),
  };
  if (options.algorithm === 'gzip') return createGzip({ ...tuning, parallel: options.parallel });
  if (options.parallel) return createParallelZstd(tuning);
  return zlib.createZstdCompress({ params: zstdParams(options.level) });
}

/**
 * The reverse of createCompressor, for everything that reads a plain dump back (verify, restore).
 * zstd goes frame by frame: Node's own decoder stops after the first of dumptruck's frames.
 */
export function createDecompressor(algorithm: CompressionAlgorithm): Transform {
  return algorithm === 'zstd' ? createZstdDecompress() : zlib.createGunzip();
}
