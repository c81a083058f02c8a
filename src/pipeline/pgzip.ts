// Parallel compression, the pigz way: the input is cut into blocks, each block is compressed on
// its own (zlib's async API runs on libuv's threadpool, so blocks compress on several cores at
// once), and the pieces are concatenated in order. Only the block codec differs by format:
// - gzip: raw deflate pieces, each primed with the 32 KiB before it, joined into one deflate
//   stream inside one gzip member: an ordinary .gz file that any gunzip reads;
// - zstd: each block is a complete zstd frame (with its checksum); frames concatenated are a
//   valid .zst stream, which `zstd -d` reads as one.

import os from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { COMPRESSION_LEVELS } from '../config/compression.js';

/** Compresses one block; shaped like `promisify(zlib.deflateRaw)`. Replaceable for tests. */
export type DeflateRaw = (buffer: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>;

interface ParallelOptions {
  /**
   * Uncompressed bytes per independently compressed block. gzip's default is 256 KiB: twice pigz's,
   * since each block pays for a zlib stream and an event-loop round trip (measured ~25% faster than
   * 128 KiB, same size). zstd's is 1 MiB: its frames share no history, so larger blocks compress better.
   */
  readonly blockSize?: number;
  /**
   * Blocks in flight (compressing, or waiting for their turn to be output); this bounds memory to about
   * `concurrency × blockSize` of input plus as much of output. Default `2 × os.availableParallelism()`:
   * a block queued behind each running one keeps the threads busy while the main thread hands out the
   * next (measured ~15-25% faster than one per core). Only UV_THREADPOOL_SIZE (4 by default) compress
   * at once; raise it on machines with more cores.
   */
  readonly concurrency?: number;
  /** Bytes the writable side buffers before `write()` returns false. Default Node's (64 KiB since Node 22). */
  readonly writableHighWaterMark?: number;
  /**
   * Compressed bytes the readable side holds before compression pauses for the consumer.
   * Default Node's (64 KiB since Node 22); one finished block may overshoot it.
   */
  readonly readableHighWaterMark?: number;
}

export interface ParallelGzipOptions extends ParallelOptions {
  /** zlib compression level, 1 (fastest) to 9 (smallest). Default 6, as gzip and pigz. */
  readonly level?: number;
  /** Replaces `zlib.deflateRaw` (promisified); for tests that inject failures. */
  readonly deflate?: DeflateRaw;
}

export interface ParallelZstdOptions extends ParallelOptions {
  /** zstd compression level, 1 to 19 (COMPRESSION_LEVELS). Default 3, as the zstd tool. */
  readonly level?: number;
}

export interface GzipOptions extends ParallelGzipOptions {
  /** true: `createParallelGzip`; false: Node's single-threaded `zlib.createGzip` (only `level` applies). */
  readonly parallel: boolean;
}

export const DEFAULT_LEVEL = COMPRESSION_LEVELS.gzip.default;
export const DEFAULT_BLOCK_SIZE = 256 * 1024;
export const ZSTD_DEFAULT_BLOCK_SIZE = 1024 * 1024;

/** Deflate's window: a block may refer back this far, so this much of the input before it is its dictionary. */
const WINDOW = 32 * 1024;

/**
 * The largest output buffer a block's compression starts with: just under glibc's mmap threshold as
 * dumptruck runs (MALLOC_MMAP_THRESHOLD_=131072, see src/cli/bin.ts). Larger ones are each a fresh
 * mmap, page-faulted in and unmapped again thousands of times per backup; these come from the
 * malloc arena and are reused. Output that does not fit goes on in further buffers.
 */
const OUT_CHUNK_MAX = 127 * 1024;

const defaultDeflate: DeflateRaw = promisify(zlib.deflateRaw);

/** What differs between formats: the bytes around the blocks, and how one block is compressed. */
interface BlockCodec {
  /** Written before the first block. */
  readonly header: Buffer;
  /** Sees every input chunk, in order (gzip's CRC). */
  update(chunk: Buffer): void;
  /** Called in input order, so it may keep state across blocks; the work itself runs off the main thread. */
  /** The block's output, in the pieces it was written in. */
  compress(block: Buffer, final: boolean): Promise<Buffer[]>;
  /** Written after the last block. */
  trailer(): Buffer;
  /** compress() keeps no reference to a block once its promise settles, so the block's memory may be reused. */
  readonly blocksReusable: boolean;
  /** Frees what the codec holds (zstd's contexts): after the last block, or when the stream is destroyed. */
  close(): void;
}

/** One switch for callers: parallel (pigz-like) or Node's single-stream gzip. */
export function createGzip(options: GzipOptions): Transform {
  const { parallel, ...rest } = options;
  return parallel ? createParallelGzip(rest) : zlib.createGzip({ level: rest.level ?? DEFAULT_LEVEL });
}

export function createParallelGzip(options: ParallelGzipOptions = {}): Transform {
  return new ParallelCompressor(
    gzipCodec(
      checkInt('level', options.level ?? DEFAULT_LEVEL, COMPRESSION_LEVELS.gzip.min, COMPRESSION_LEVELS.gzip.max),
      options.deflate ?? defaultDeflate,
    ),
    {
      ...options,
      blockSize: options.blockSize ?? DEFAULT_BLOCK_SIZE,
    },
  );
}

export function createParallelZstd(options: ParallelZstdOptions = {}): Transform {
  const blockSize = checkInt('blockSize', options.blockSize ?? ZSTD_DEFAULT_BLOCK_SIZE, 1, 2 ** 30);
  return new ParallelCompressor(
    zstdCodec(
      checkInt('level', options.level ?? COMPRESSION_LEVELS.zstd.default, COMPRESSION_LEVELS.zstd.min, COMPRESSION_LEVELS.zstd.max),
      blockSize,
    ),
    { ...options, blockSize },
  );
}

function gzipCodec(level: number, deflate: DeflateRaw): BlockCodec {
  let crc = 0;
  let size = 0;
  /** The last (up to) 32 KiB of input already handed to a block: the next block's dictionary. */
  let window: Buffer = Buffer.alloc(0);
  return {
    header: gzipHeader(level),
    update(chunk) {
      crc = zlib.crc32(chunk, crc);
      size += chunk.length;
    },
    compress(block, final) {
      const options: zlib.ZlibOptions = {
        level,
        // Sync flush ends a block on a byte boundary without ending the deflate stream, so blocks concatenate.
        finishFlush: final ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
        // Room for a typical block's output in one buffer (one threadpool trip per block), yet below
        // the malloc mmap threshold: see OUT_CHUNK_MAX.
        chunkSize: Math.min(Math.max(64, block.length + (block.length >> 8) + 64), OUT_CHUNK_MAX),
        ...(window.length > 0 ? { dictionary: window } : {}),
      };
      // A copy, not a view: the block's memory is reused for a later block once this one is compressed.
      window = Buffer.from(block.length >= WINDOW ? block.subarray(-WINDOW) : Buffer.concat([window, block]).subarray(-WINDOW));
      return deflate(block, options).then((out) => [out]);
    },
    trailer: () => gzipTrailer(crc, size),
    blocksReusable: true, // the next block's dictionary is a copy of this one's end
    close() {},
  };
}

/** zstd's parameters for dumptruck's frames, parallel or single-stream. */
export function zstdParams(level: number): Record<number, number> {
  return {
    [zlib.constants.ZSTD_c_compressionLevel]: level,
    // Every frame carries a checksum of its content, so a reader (zstd -d, verify) notices damage.
    [zlib.constants.ZSTD_c_checksumFlag]: 1,
  };
}

function zstdCodec(level: number, blockSize: number): BlockCodec {
  const params = {
    ...zstdParams(level),
    // What a pledged block size used to choose (a 1 MiB block needs a 1 MiB window, not level 3's
    // 2 MiB): the contexts are reused across blocks, so the size is set once here.
    [zlib.constants.ZSTD_c_windowLog]: Math.min(Math.max(Math.ceil(Math.log2(blockSize)), ZSTD_WINDOWLOG_MIN), ZSTD_WINDOWLOG_MAX),
  };
  // Output buffers of a quarter of the block, at most OUT_CHUNK_MAX: a dump compresses ~4.5x, so a
  // typical 1 MiB block's frame fills about two, passed on as they are (encode does not join them).
  const chunkSize = Math.min(Math.max(1024, blockSize >> 2), OUT_CHUNK_MAX);
  /** Encoders not compressing a block now; at most `concurrency` exist. */
  const idle: ZstdFrameEncoder[] = [];
  const all = new Set<ZstdFrameEncoder>();
  return {
    header: Buffer.alloc(0),
    update() {},
    async compress(block) {
      let encoder = idle.pop();
      if (!encoder) all.add((encoder = new ZstdFrameEncoder(params, chunkSize)));
      const out = await encoder.encode(block).catch((error: unknown) => {
        all.delete(encoder);
        encoder.close(); // its context may be mid-frame: never reused
        throw error;
      });
      idle.push(encoder);
      return out;
    },
    trailer: () => Buffer.alloc(0),
    blocksReusable: true,
    close() {
      for (const encoder of all) encoder.close();
      all.clear();
      idle.length = 0;
    },
  };
}

/** zstd's window limits (ZSTD_WINDOWLOG_MIN, and ZSTD_WINDOWLOG_MAX_32 so 32-bit readers cope). */
const ZSTD_WINDOWLOG_MIN = 10;
const ZSTD_WINDOWLOG_MAX = 30;

/**
 * One zstd context that writes one complete frame per block (ZSTD_e_end ends the frame, and the next
 * block starts a new one with no history), kept for the next block. `zlib.zstdCompress` per block
 * would allocate and free a context's tables (~2 MiB at level 3) about 700 times in a 1 GB backup:
 * measured ~0.7 s of system time (page faults of the fresh tables) and ~8% of the process's CPU.
 */
class ZstdFrameEncoder {
  readonly #stream: zlib.ZstdCompress;
  #out: Buffer[] = [];
  #fail: ((error: Error) => void) | undefined;

  constructor(params: Record<number, number>, chunkSize: number) {
    this.#stream = zlib.createZstdCompress({ params, chunkSize });
    // Read in flowing mode: a frame's output has all been seen when its flush calls back.
    this.#stream.on('data', (chunk: Buffer) => this.#out.push(chunk));
    this.#stream.on('error', (error) => this.#fail?.(error));
  }

  /** The frame, in the pieces the stream's output buffers hold: joining them would copy it for nothing. */
  encode(block: Buffer): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      this.#fail = reject;
      this.#stream.write(block);
      this.#stream.flush(zlib.constants.ZSTD_e_end, (error?: Error | null) => {
        this.#fail = undefined;
        const out = this.#out;
        this.#out = [];
        if (error || this.#stream.destroyed) reject(error ?? new Error('zstd encoder closed'));
        else resolve(out);
      });
    });
  }

  close(): void {
    this.#stream.destroy();
  }
}

interface Job {
  out: Buffer[] | undefined;
}

class ParallelCompressor extends Transform {
  readonly #codec: BlockCodec;
  readonly #blockSize: number;
  readonly #concurrency: number;

  /** Input not yet cut into a block. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Blocks in input order; `out` is set when compressed. Output leaves from the front only. */
  #jobs: Job[] = [];
  #finalStarted = false;
  /**
   * Block buffers whose compression is done, for the next blocks cut from several writes (codecs
   * with blocksReusable only). Without reuse every block is a new buffer outside the JS heap, and
   * those bytes are what start V8's full collections during a backup; at most `concurrency` exist.
   */
  #spare: Buffer[] = [];
  readonly #reusable = new WeakSet<Buffer>();
  /** false from a push() that filled the readable buffer until the next _read(): the consumer is behind. */
  #consumerReady = true;

  /** Held until there is room, which is how backpressure reaches the writer. */
  #writeCallback: TransformCallback | undefined;
  #flushCallback: TransformCallback | undefined;
  #advancing = false;
  #again = false;

  constructor(codec: BlockCodec, options: ParallelOptions & { readonly blockSize: number }) {
    super({
      writableHighWaterMark: options.writableHighWaterMark,
      readableHighWaterMark: options.readableHighWaterMark,
    });
    this.#codec = codec;
    this.#blockSize = checkInt('blockSize', options.blockSize, 1, 2 ** 30);
    this.#concurrency = checkInt('concurrency', options.concurrency ?? 2 * os.availableParallelism(), 1, 1024);
    if (codec.header.length > 0) this.push(codec.header);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#codec.update(chunk);
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    this.#writeCallback = callback;
    this.#advance();
  }

  override _flush(callback: TransformCallback): void {
    this.#flushCallback = callback;
    this.#advance();
  }

  override _read(size: number): void {
    super._read(size); // Transform's own bookkeeping
    this.#consumerReady = true;
    this.#advance(); // the consumer made room: compression may go on
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Jobs still running settle into a destroyed stream and are ignored (#advance checks).
    this.#jobs = [];
    this.#pending = [];
    this.#spare = [];
    this.#codec.close();
    this.#flushCallback = undefined;
    const write = this.#writeCallback;
    this.#writeCallback = undefined;
    write?.(); // as zlib does: Writable then reports ERR_STREAM_DESTROYED to that write's caller
    callback(error);
  }

  /**
   * Whether another block may start: fewer than `concurrency` in flight, and the consumer keeps up.
   * The latter is tracked through push()/_read() rather than readableLength, which _read() sees
   * before the bytes being read leave it.
   */
  #hasRoom(): boolean {
    return this.#jobs.length < this.#concurrency && this.#consumerReady;
  }

  /** Moves everything along that can move. Callbacks may re-enter it, so it loops instead of recursing. */
  #advance(): void {
    if (this.#advancing) {
      this.#again = true;
      return;
    }
    this.#advancing = true;
    try {
      do {
        this.#again = false;
        if (this.destroyed) return;
        this.#step();
      } while (this.#again);
    } finally {
      this.#advancing = false;
    }
  }

  #step(): void {
    while (this.#jobs[0]?.out !== undefined) for (const piece of this.#jobs.shift()!.out!) this.#consumerReady = this.push(piece);

    if (this.#writeCallback !== undefined) {
      while (this.#pendingBytes >= this.#blockSize && this.#hasRoom()) this.#start(this.#take(this.#blockSize), false);
      if (this.#pendingBytes < this.#blockSize) {
        const callback = this.#writeCallback;
        this.#writeCallback = undefined;
        callback();
        this.#again = true;
      }
    } else if (this.#flushCallback !== undefined) {
      // Writes are over, so less than a block is pending; it becomes the final block, even if empty.
      if (!this.#finalStarted && this.#hasRoom()) {
        this.#finalStarted = true;
        this.#start(this.#take(this.#pendingBytes), true);
      }
      if (this.#finalStarted && this.#jobs.length === 0) {
        const callback = this.#flushCallback;
        this.#flushCallback = undefined;
        const trailer = this.#codec.trailer();
        this.#codec.close();
        callback(null, trailer.length > 0 ? trailer : undefined);
      }
    }
  }

  #start(block: Buffer, final: boolean): void {
    const job: Job = { out: undefined };
    this.#jobs.push(job);
    this.#codec.compress(block, final).then(
      (out) => {
        if (this.#reusable.has(block)) this.#spare.push(block);
        job.out = out.map(ownBytes);
        this.#advance();
      },
      (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
    );
  }

  /** Removes the first `n` pending bytes, copying only when they span several writes. */
  #take(n: number): Buffer {
    this.#pendingBytes -= n;
    const first = this.#pending[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.#pending.shift();
      else this.#pending[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const block = this.#blockBuffer(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#pending[0]!;
      const used = Math.min(head.length, n - filled);
      head.copy(block, filled, 0, used);
      filled += used;
      if (used === head.length) this.#pending.shift();
      else this.#pending[0] = head.subarray(used);
    }
    return block;
  }

  #blockBuffer(n: number): Buffer {
    if (!this.#codec.blocksReusable || n !== this.#blockSize) return Buffer.allocUnsafe(n);
    const spare = this.#spare.pop();
    if (spare !== undefined) return spare;
    const block = Buffer.allocUnsafeSlow(n); // its own memory, never a slice of Node's shared pool
    this.#reusable.add(block);
    return block;
  }
}

/**
 * zlib may return a view into its whole output buffer (for gzip sized for an incompressible block,
 * ~257 KiB) however small the compressed block is. Downstream, lib-storage holds the chunks of a
 * part until the part is full, so a view could pin several times its bytes: a small result is
 * copied out, and the big buffer is garbage at once, while still young and cheap to collect.
 */
function ownBytes(out: Buffer): Buffer {
  return out.buffer.byteLength > 2 * out.length ? Buffer.from(out) : out;
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** RFC 1952 header as zlib writes it: no name, no mtime, OS = Unix. */
function gzipHeader(level: number): Buffer {
  const extraFlags = level === 9 ? 2 : level === 1 ? 4 : 0; // "max compression" / "fastest"
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extraFlags, 3]);
}

/** CRC-32 of the input, then its length mod 2^32, both little-endian. */
function gzipTrailer(crc: number, size: number): Buffer {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size % 2 ** 32, 4);
  return trailer;
}
