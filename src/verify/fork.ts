import { Writable } from 'node:stream';

/**
 * The end of the download's pipeline: feeds `head` (gunzip -> checks -> psql, or pg_restore) and
 * keeps consuming the download when that side fails. The SHA-256 is computed upstream of it, so
 * a corrupted object is reported as "checksum mismatch" (the cause) rather than as whatever
 * gunzip or psql made of the damage (the symptom). `done` settles when the side has finished
 * (child exited included); its rejection is kept in `error`, never thrown into the pipeline.
 */
export class FailSoft extends Writable {
  error: unknown;
  private release: (() => void) | undefined;

  constructor(
    private readonly head: Writable,
    private readonly done: Promise<void>,
  ) {
    super();
    done.catch((err: unknown) => {
      this.error ??= err;
      this.release?.();
    });
  }

  private get broken(): boolean {
    return this.error !== undefined || this.head.destroyed || this.head.writableEnded;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.broken || this.head.write(chunk)) {
      callback();
      return;
    }
    this.release = () => {
      this.release = undefined;
      callback();
    };
    this.head.once('drain', () => this.release?.());
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.broken) this.head.end();
    this.done.then(
      () => callback(),
      (err: unknown) => {
        this.error ??= err;
        callback();
      },
    );
  }
}
