import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Counts the bytes passing through, and hashes them when asked. */
export class Meter extends Transform {
  bytes = 0;
  private readonly hash;

  constructor(options: { readonly sha256?: boolean; readonly limitBytes?: number; readonly onLimit?: () => Error } = {}) {
    super();
    this.hash = options.sha256 ? createHash('sha256') : undefined;
    this.limit = options.limitBytes ?? Infinity;
    this.onLimit = options.onLimit;
  }

  private readonly limit: number;
  private readonly onLimit: (() => Error) | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(this.onLimit?.() ?? new Error('byte limit exceeded'));
      return;
    }
    this.hash?.update(chunk);
    callback(null, chunk);
  }

  /** Hex digest; valid once the stream has ended. */
  digest(): string {
    if (!this.hash) throw new Error('Meter was created without sha256');
    return this.hash.digest('hex');
  }
}

/**
 * Passes data through but holds back the end of the stream until `verdict` settles.
 *
 * gzip ends its output cleanly even when pg_dump dies halfway, and the uploader completes the
 * object as soon as its body ends. Holding the end until pg_dump's exit status is known means a
 * truncated dump is never completed: a rejected verdict errors the body and the upload aborts.
 */
export class Gate extends Transform {
  constructor(private readonly verdict: () => Promise<void>) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.verdict().then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }
}
