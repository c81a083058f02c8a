import type { Transform } from 'node:stream';
import { createGzip } from './pgzip.js';

export interface CompressionOptions {
  /** gzip level 1-9; 6 matches `gzip -6`. */
  readonly level: number;
  /** pigz-style blocks on several cores (default) or Node's single gzip stream. */
  readonly parallel: boolean;
  readonly workers?: number | undefined;
  readonly blockSize?: number | undefined;
}

/** The gzip stage for plain dumps. Both paths write one standard gzip stream. */
export function createCompressor(options: CompressionOptions): Transform {
  return createGzip({
    level: options.level,
    parallel: options.parallel,
    ...(options.workers === undefined ? {} : { concurrency: options.workers }),
    ...(options.blockSize === undefined ? {} : { blockSize: options.blockSize }),
  });
}
