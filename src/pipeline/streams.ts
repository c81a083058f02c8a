import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * V8's full collection, when the process runs with --expose-gc (the CLI's shebang, npm start and
 * the image's entrypoint, which also turn incremental marking off). A backup or restore streams
 * hundreds of megabytes through buffers that live outside the JS heap; those that stay alive for
 * a while (a part being uploaded, chunks waiting for psql) reach V8's old generation, whose
 * collector cannot tell that they hold megabytes. Left to V8, either it marks the heap back to
 * back (incremental marking under --optimize-for-size: ~90 full collections and 1.7-1.9 s of
 * main-thread time per 1 GB zstd backup, plus its helper threads) or, without incremental
 * marking, ~40 MiB more of dead buffers pile up. Asking for one after each known batch of dead
 * buffers (an uploaded part; some megabytes read) frees them at the rate they are made.
 */
const gc = (globalThis as { gc?: (options: { type: 'major' }) => void }).gc;

let collectionPending = false;

/**
 * Asks for a full collection on the next turn (once the caller has let go of its buffers); asks
 * made before it runs (parts of several jobs done at once) share it. Without --expose-gc, nothing.
 */
export function collectGarbage(): void {
  if (!gc || collectionPending) return;
  collectionPending = true;
  setImmediate(() => {
    collectionPending = false;
    gc({ type: 'major' });
  });
}

/**
 * How often a restore or a verification collects while it reads a stored object: its bytes are
 * compressed, and become ~4x as many in the buffers behind them (decompressed, waiting for psql).
 */
export const READ_COLLECT_BYTES = 16 * 1024 * 1024;

/** Counts the bytes passing through, and hashes them when asked. */
export class Meter extends Transform {
  bytes = 0;
  private readonly hash;
  private readonly limit: number;
  private readonly onLimit: (() => Error) | undefined;
  private readonly collectEvery: number;
  private collectAt: number;

  constructor(
    options: {
      readonly sha256?: boolean;
      readonly limitBytes?: number;
      readonly onLimit?: () => Error;
      /** collectGarbage() each time this many more bytes have passed (see collectGarbage). */
      readonly collectEveryBytes?: number;
    } = {},
  ) {
    super();
    this.hash = options.sha256 ? createHash('sha256') : undefined;
    this.limit = options.limitBytes ?? Infinity;
    this.onLimit = options.onLimit;
    this.collectEvery = options.collectEveryBytes ?? Infinity;
    this.collectAt = this.collectEvery;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(this.onLimit?.() ?? new Error('byte limit exceeded'));
      return;
    }
    this.hash?.update(chunk);
    if (this.bytes >= this.collectAt) {
      this.collectAt = this.bytes + this.collectEvery;
      collectGarbage();
    }
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
