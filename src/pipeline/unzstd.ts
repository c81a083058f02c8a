// Decompresses a stream of concatenated zstd frames, as dumptruck's parallel compressor writes them
// (one frame per block). Node's own zstd decompressor stops at the end of the first frame and
// silently drops the rest (checked on Node 24.21), which would read a whole backup as its first
// megabyte. So this reads the frame layout (RFC 8878: header, block headers, checksum) just enough
// to find where each frame ends, and hands each frame to a fresh node:zlib decompressor, which
// does the real work and checks each frame's content checksum.
//
// Errors carry zlib-style codes: `Z_BUF_ERROR` "unexpected end of file" for a stream that ends
// inside a frame (or holds none), `ZSTD_error_*` for damage.

import { Transform, type TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import zlib from 'node:zlib';

const FRAME_MAGIC = 0xfd2fb528;
/** Skippable frames (0x184D2A50 to 0x184D2A5F) carry no data; a reader passes over them. */
const isSkippable = (magic: number) => magic >>> 4 === 0x184d2a5;

type State = 'magic' | 'descriptor' | 'skippable-size' | 'block-header' | 'checksum' | 'frame-end';

export function createZstdDecompress(): Transform {
  return new ZstdFrames();
}

class ZstdFrames extends Transform {
  #state: State = 'magic';
  /** Bytes of the field being read (magic, descriptor, block header...), and how many it needs. */
  #field: number[] = [];
  #need = 4;
  /** Bytes to pass on without reading them (frame header fields, block bodies, skippable frames). */
  #skip = 0;
  /** Whether the skipped bytes belong to a zstd frame (and go to its decompressor). */
  #skipFeeds = true;
  #hasChecksum = false;
  #lastBlock = false;
  #frames = 0;
  /** Bytes of input read so far, for messages. */
  #offset = 0;
  #inner: zlib.ZstdDecompress | undefined;
  #innerFailed: Promise<never> | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#consume(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    (async () => {
      if (this.#state === 'frame-end' && this.#skip === 0) await this.#endFrame();
      if (this.#state !== 'magic' || this.#field.length > 0 || this.#skip > 0 || this.#frames === 0) {
        throw zlibError('Z_BUF_ERROR', 'unexpected end of file');
      }
    })().then(() => callback(), callback);
  }

  override _read(size: number): void {
    this.#inner?.resume(); // paused while this stream's reader was behind
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inner?.destroy();
    callback(error);
  }

  async #consume(chunk: Buffer): Promise<void> {
    let at = 0;
    for (;;) {
      if (this.#skip === 0 && this.#state === 'frame-end') {
        await this.#endFrame();
        continue;
      }
      if (at >= chunk.length) return;
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - at);
        if (this.#skipFeeds) await this.#feed(chunk.subarray(at, at + n));
        this.#skip -= n;
        this.#offset += n;
        at += n;
        continue;
      }
      const n = Math.min(this.#need - this.#field.length, chunk.length - at);
      const bytes = chunk.subarray(at, at + n);
      // The magic is fed once it is known to start a zstd frame (#startFrame).
      if (this.#state !== 'magic' && this.#state !== 'skippable-size') await this.#feed(bytes);
      this.#field.push(...bytes);
      this.#offset += n;
      at += n;
      if (this.#field.length === this.#need) {
        const field = Buffer.from(this.#field);
        this.#field = [];
        await this.#onField(field);
      }
    }
  }

  async #onField(field: Buffer): Promise<void> {
    const fieldOffset = this.#offset - field.length;
    switch (this.#state) {
      case 'magic': {
        const magic = field.readUInt32LE(0);
        if (magic === FRAME_MAGIC) {
          await this.#startFrame(field);
          this.#read('descriptor', 1);
        } else if (isSkippable(magic)) {
          this.#read('skippable-size', 4);
        } else {
          throw zlibError(
            'ZSTD_error_prefix_unknown',
            `not a zstd frame at byte ${fieldOffset} (magic 0x${magic.toString(16).padStart(8, '0')})`,
          );
        }
        return;
      }
      case 'skippable-size':
        this.#skip = field.readUInt32LE(0);
        this.#skipFeeds = false;
        this.#read('magic', 4);
        return;
      case 'descriptor': {
        const d = field[0]!;
        if (d & 0x08)
          throw zlibError('ZSTD_error_frameParameter_unsupported', `zstd frame header at byte ${fieldOffset - 4} has its reserved bit set`);
        const singleSegment = (d >> 5) & 1;
        this.#hasChecksum = ((d >> 2) & 1) === 1;
        const windowBytes = singleSegment ? 0 : 1;
        const dictionaryBytes = [0, 1, 2, 4][d & 3]!;
        const contentSizeBytes = [singleSegment, 2, 4, 8][d >> 6]!;
        this.#skip = windowBytes + dictionaryBytes + contentSizeBytes;
        this.#skipFeeds = true;
        this.#read('block-header', 3);
        return;
      }
      case 'block-header': {
        const header = field.readUIntLE(0, 3);
        const type = (header >> 1) & 3;
        if (type === 3) throw zlibError('ZSTD_error_corruption_detected', `zstd block at byte ${fieldOffset} has the reserved type`);
        this.#lastBlock = (header & 1) === 1;
        // An RLE block stores one byte, repeated Block_Size times.
        this.#skip = type === 1 ? 1 : header >>> 3;
        this.#skipFeeds = true;
        if (!this.#lastBlock) this.#read('block-header', 3);
        else if (this.#hasChecksum) this.#read('checksum', 4);
        else this.#read('frame-end', 0);
        return;
      }
      case 'checksum':
        this.#read('frame-end', 0);
        return;
      case 'frame-end':
        return;
    }
  }

  #read(state: State, bytes: number): void {
    this.#state = state;
    this.#need = bytes;
  }

  async #startFrame(magic: Buffer): Promise<void> {
    const inner = zlib.createZstdDecompress();
    this.#inner = inner;
    this.#innerFailed = new Promise<never>((_, reject) => inner.once('error', reject));
    this.#innerFailed.catch(() => undefined); // observed through #feed and #endFrame
    inner.on('data', (out: Buffer) => {
      if (!this.push(out)) inner.pause();
    });
    await this.#feed(magic);
  }

  /** Writes part of the current frame to its decompressor; resolves when it was taken (backpressure). */
  async #feed(bytes: Buffer): Promise<void> {
    const inner = this.#inner!;
    await Promise.race([new Promise<void>((resolve) => inner.write(bytes, () => resolve())), this.#innerFailed!]);
  }

  async #endFrame(): Promise<void> {
    const inner = this.#inner!;
    inner.end();
    await Promise.race([finished(inner), this.#innerFailed!]);
    this.#inner = undefined;
    this.#frames += 1;
    this.#read('magic', 4);
  }
}

function zlibError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}
