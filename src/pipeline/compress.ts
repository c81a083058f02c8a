import { createGzip } from 'node:zlib';
import type { Transform } from 'node:stream';

export interface CompressionOptions {
  /** gzip level 1-9; 6 matches `gzip -6`. */
  readonly level: number;
}

/** The gzip stage for plain dumps. */
export function createCompressor(options: CompressionOptions): Transform {
  return createGzip({ level: options.level });
}
