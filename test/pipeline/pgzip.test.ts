import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Writable, getDefaultHighWaterMark, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { createCompressor } from '../../src/pipeline/compress.js';
import {
  createGzip,
  createParallelGzip,
  createParallelZstd,
  type DeflateRaw,
  type ParallelGzipOptions,
  type ParallelZstdOptions,
} from '../../src/pipeline/pgzip.js';
import { createZstdDecompress } from '../../src/pipeline/unzstd.js';

/** Deterministic bytes, so a failure reproduces. */
function prng(seed: number): () => number {
  return () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
}

function randomBytes(n: number, seed = 1): Buffer {
  const next = prng(seed);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = next() & 0xff;
  return out;
}

/** pg_dump-like COPY lines: repetitive enough that dictionaries across blocks matter. */
function copyText(n: number): Buffer {
  const next = prng(7);
  const lines: string[] = [];
  let size = 0;
  for (let id = 1; size < n; id++) {
    const line = `${id}\t${next().toString(16).padStart(8, '0')}${next().toString(16)}\t2024-05-0${id % 9} 12:00:${id % 60}\tshipped\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, n);
}

/** Splits `data` into writes of random sizes from 1 byte to `max`. */
function randomChunks(data: Buffer, max: number, seed = 3): Buffer[] {
  const next = prng(seed);
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const size = 1 + (next() % max);
    chunks.push(data.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

async function compress(chunks: Buffer[], stream: Transform): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, collect(out));
  return Buffer.concat(out);
}

function collect(out: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      out.push(chunk);
      callback();
    },
  });
}

function run(command: string, args: string[], input: Buffer): Promise<{ code: number | null; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out) }));
    // A tool that does not read stdin (`zstd -l file`) may exit before the end reaches it: its
    // exit code and output are the result, an EPIPE on its stdin is not.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(input);
  });
}

/** The output must be plain gzip to Node, to gunzip -c and to gunzip -t. */
async function expectGunzipsTo(gz: Buffer, data: Buffer): Promise<void> {
  expect(zlib.gunzipSync(gz).equals(data)).toBe(true);
  const system = await run('gunzip', ['-c'], gz);
  expect(system.code).toBe(0);
  expect(system.stdout.equals(data)).toBe(true);
  expect((await run('gunzip', ['-t'], gz)).code).toBe(0);
}

/** Node's default for byte streams: 16 KiB up to Node 20, 64 KiB since 22. */
const HWM = getDefaultHighWaterMark(false);
const realDeflate: DeflateRaw = promisify(zlib.deflateRaw);

/** One turn of the event loop: every callback, nextTick and promise job queued before it has run. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * The real deflate, watched: quiet() resolves once no block is compressing and a turn has passed
 * without one starting. From then on the stream moves only if someone reads or writes, so a check
 * made then holds however slow the machine is (a fixed sleep would only hope so).
 */
function watchedDeflate(): { readonly deflate: DeflateRaw; readonly started: () => number; quiet(): Promise<void> } {
  const running = new Set<Promise<Buffer>>();
  let started = 0;
  return {
    deflate: (buffer, options) => {
      started++;
      const block = realDeflate(buffer, options);
      running.add(block);
      const done = () => running.delete(block);
      block.then(done, done);
      return block;
    },
    started: () => started,
    async quiet() {
      do {
        await Promise.allSettled([...running]);
        await turn();
      } while (running.size > 0);
    },
  };
}

describe('createParallelGzip round trips', () => {
  const blockSize = 1000; // small, and smaller than deflate's 32 KiB window, to hit the edges
  const cases: [string, Buffer, ParallelGzipOptions?][] = [
    ['empty input', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['exactly one block', copyText(blockSize)],
    ['one block plus one byte', copyText(blockSize + 1)],
    ['many blocks', copyText(100 * blockSize + 17)],
    ['incompressible random data', randomBytes(20 * blockSize + 5)],
    ['blocks larger than the window', copyText(300_000), { blockSize: 40_000 }],
    ['concurrency 1, level 1', copyText(30 * blockSize), { concurrency: 1, level: 1 }],
    ['level 9', copyText(30 * blockSize), { level: 9 }],
  ];

  for (const [name, data, options] of cases) {
    it(`${name}, written whole`, async () => {
      const gz = await compress([data], createParallelGzip({ blockSize, concurrency: 3, ...options }));
      await expectGunzipsTo(gz, data);
    });
  }

  it('many blocks, written in random chunks both smaller and larger than a block', async () => {
    const data = copyText(200 * blockSize + 333);
    const gz = await compress(randomChunks(data, 3 * blockSize), createParallelGzip({ blockSize, concurrency: 4 }));
    await expectGunzipsTo(gz, data);
  });

  it('blocks larger than the window, cut from many writes into reused block buffers', async () => {
    // One block in flight: each block is cut into the buffer of the one before it, after that one
    // was compressed; its dictionary (the previous block's end) must survive that.
    const data = copyText(400_000);
    const gz = await compress(randomChunks(data, 5000, 5), createParallelGzip({ blockSize: 40_000, concurrency: 1 }));
    await expectGunzipsTo(gz, data);
  });

  it('random data in random chunks', async () => {
    const data = randomBytes(50 * blockSize);
    const gz = await compress(randomChunks(data, 2500, 9), createParallelGzip({ blockSize, concurrency: 2 }));
    await expectGunzipsTo(gz, data);
  });

  it('with default options compresses within 2% of zlib gzip', async () => {
    const data = copyText(2_000_000);
    const gz = await compress(randomChunks(data, 100_000), createParallelGzip());
    await expectGunzipsTo(gz, data);
    const reference = zlib.gzipSync(data, { level: 6 }).length;
    expect(gz.length).toBeLessThan(reference * 1.02);
  });

  it('rejects options out of range', () => {
    expect(() => createParallelGzip({ level: 0 })).toThrow(RangeError);
    expect(() => createParallelGzip({ blockSize: 0 })).toThrow(RangeError);
    expect(() => createParallelGzip({ concurrency: 1.5 })).toThrow(RangeError);
  });
});

describe('createParallelGzip failures', () => {
  it('destroys the stream with the error of a block that fails', async () => {
    const failure = new Error('block 3 failed');
    let calls = 0;
    const deflate: DeflateRaw = (buffer, options) => (++calls === 3 ? Promise.reject(failure) : realDeflate(buffer, options));
    const stream = createParallelGzip({ blockSize: 100, concurrency: 2, deflate });
    await expect(compress(randomChunks(copyText(10_000), 300), stream)).rejects.toBe(failure);
    expect(stream.destroyed).toBe(true);
  });

  it('fails on the final block too', async () => {
    const failure = new Error('final block failed');
    const deflate: DeflateRaw = (buffer, options) =>
      options.finishFlush === zlib.constants.Z_FINISH ? Promise.reject(failure) : realDeflate(buffer, options);
    await expect(compress([copyText(550)], createParallelGzip({ blockSize: 100, deflate }))).rejects.toBe(failure);
  });

  it('destroy() mid-stream leaves nothing that fires later', async () => {
    // Blocks that settle only when the test says so, after the stream is gone.
    const settle: (() => void)[] = [];
    const blocks: Promise<Buffer>[] = [];
    const deflate: DeflateRaw = (buffer, options) => {
      const block = new Promise<Buffer>((resolve, reject) => {
        const n = settle.length;
        settle.push(() => (n % 2 === 0 ? realDeflate(buffer, options).then(resolve) : reject(new Error(`late ${n}`))));
      });
      blocks.push(block);
      return block;
    };
    const stream = createParallelGzip({ blockSize: 100, concurrency: 2, deflate });
    const events: string[] = [];
    stream.on('error', (error) => events.push(`error ${error.message}`));
    stream.on('data', () => events.push('data'));
    const writeErrors: (Error | null | undefined)[] = [];
    for (let i = 0; i < 5; i++) stream.write(copyText(150), (error) => writeErrors.push(error));
    await turn();
    expect(settle.length).toBe(2); // the writer is held back: only `concurrency` blocks started

    stream.destroy();
    for (const late of settle) late();
    // Every late block has settled (compressed or failed) and what the stream queued on it has run.
    await Promise.allSettled(blocks);
    await turn();
    expect(blocks).toHaveLength(2);
    expect(events.filter((e) => e !== 'data')).toEqual([]);
    expect(stream.destroyed).toBe(true);
    // Every write's callback ran, with ERR_STREAM_DESTROYED for those not taken in.
    expect(writeErrors).toHaveLength(5);
  });
});

describe('createParallelGzip backpressure', () => {
  it('a consumer that does not read stops the writer, with bounded buffering', async () => {
    const blockSize = 4096;
    const concurrency = 2;
    const watched = watchedDeflate();
    const stream = createParallelGzip({ blockSize, concurrency, deflate: watched.deflate });
    const data = randomBytes(4 << 20); // incompressible, so output fills up as fast as input
    const chunk = 1024;
    let accepted = 0;
    for (let at = 0; at < data.length; at += chunk) {
      accepted += chunk;
      if (!stream.write(data.subarray(at, at + chunk))) {
        let drained = false;
        const onDrain = () => (drained = true);
        stream.once('drain', onDrain);
        await watched.quiet();
        stream.off('drain', onDrain);
        // No drain, and nothing compressing that could bring one: the writer is stopped.
        if (!drained) break;
      }
    }
    // Nothing was read, so all accepted bytes sit in the stream: both high water marks (Node's default each),
    // `concurrency` blocks in and out of compression, less than a block pending, one chunk of overshoot.
    expect(accepted).toBeLessThan(2 * HWM + 2 * concurrency * blockSize + blockSize + chunk);
    // Finished blocks are pushed even past the high water mark, but no new ones start.
    expect(stream.readableLength).toBeLessThan(HWM + concurrency * (blockSize + 100));

    // Reading again lets everything through intact.
    const out: Buffer[] = [];
    const done = pipeline(stream, collect(out));
    const rest = data.subarray(accepted);
    stream.end(rest);
    await done;
    expect(zlib.gunzipSync(Buffer.concat(out)).equals(data)).toBe(true);
  }, 30_000); // a stall here is a backpressure deadlock: fail soon

  it('one large write is not compressed further than the consumer reads', async () => {
    const blockSize = 4096;
    const concurrency = 2;
    const watched = watchedDeflate();
    const stream = createParallelGzip({ blockSize, concurrency, deflate: watched.deflate });
    const data = randomBytes(1 << 20);
    let written = false;
    stream.write(data, () => (written = true));
    await watched.quiet();
    // Compression stopped by itself, a few blocks in: about a readable high water mark's worth, not the whole write.
    expect(watched.started()).toBeGreaterThan(0);
    expect(watched.started()).toBeLessThanOrEqual(HWM / blockSize + concurrency + 1);
    expect(written).toBe(false);
    expect(stream.readableLength).toBeLessThan(HWM + concurrency * (blockSize + 100));

    const out: Buffer[] = [];
    const done = pipeline(stream, collect(out));
    stream.end();
    await done;
    expect(zlib.gunzipSync(Buffer.concat(out)).equals(data)).toBe(true);
  }, 30_000);
});

describe('createGzip', () => {
  it('parallel and single-stream gzip decompress to identical bytes', async () => {
    const data = copyText(500_000);
    const single = await compress(randomChunks(data, 70_000), createGzip({ parallel: false, level: 6 }));
    const parallel = await compress(randomChunks(data, 70_000), createGzip({ parallel: true, blockSize: 50_000 }));
    expect(zlib.gunzipSync(single).equals(data)).toBe(true);
    expect(zlib.gunzipSync(parallel).equals(zlib.gunzipSync(single))).toBe(true);
    expect(createGzip({ parallel: false })).toBeInstanceOf(zlib.Gzip);
  });
});

// Peak memory and page faults (issue 12): a block buffer is allocated per block in flight, not per block.
describe('block buffers are reused', () => {
  const cases: [string, () => Transform][] = [
    ['gzip', () => createParallelGzip({ blockSize: 40_000, concurrency: 2 })],
    ['zstd', () => createParallelZstd({ blockSize: 40_000, concurrency: 2 })],
  ];
  for (const [name, make] of cases) {
    it(`${name}: at most one block buffer per block in flight`, async () => {
      const allocated = vi.spyOn(Buffer, 'allocUnsafeSlow');
      try {
        const data = copyText(400_000);
        const out = await compress(randomChunks(data, 5000, 5), make());
        if (name === 'gzip') await expectGunzipsTo(out, data);
        else await expectUnzstdsTo(out, data);
        const blocks = allocated.mock.calls.filter(([size]) => size === 40_000);
        expect(blocks.length).toBeGreaterThan(0);
        expect(blocks.length).toBeLessThanOrEqual(2);
      } finally {
        allocated.mockRestore();
      }
    });
  }
});

// Page faults (issue 12): a buffer over glibc's mmap threshold as dumptruck runs (128 KiB) is a
// fresh mapping each time, so block output starts in buffers under it.
describe('output buffers stay under the mmap threshold', () => {
  it('gzip: each block is compressed into output buffers under 128 KiB', async () => {
    const sizes: number[] = [];
    const deflate: DeflateRaw = (block, options) => {
      sizes.push(options.chunkSize ?? 0);
      return promisify(zlib.deflateRaw)(block, options);
    };
    const data = randomBytes(3 * 1024 * 1024 + 5);
    await expectGunzipsTo(await compress(randomChunks(data, 64 * 1024), createParallelGzip({ deflate })), data);
    expect(sizes.length).toBeGreaterThan(10);
    expect(sizes.filter((size) => size >= 128 * 1024)).toEqual([]);
  });

  it('zstd: a frame is passed on in the pieces it was written in, none joined into a larger buffer', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const chunks: Buffer[] = [];
    await pipeline(Readable.from(randomChunks(data, 64 * 1024)), createParallelZstd(), collect(chunks));
    await expectUnzstdsTo(Buffer.concat(chunks), data);
    expect(chunks.filter((c) => c.buffer.byteLength >= 128 * 1024).map((c) => c.buffer.byteLength)).toEqual([]);
  });
});

// Peak memory (issue 12): downstream holds compressed chunks until a part is full.
describe('compressed chunks hold only their own bytes', () => {
  it("gzip: no chunk keeps zlib's block-sized output buffer alive", async () => {
    // Very compressible, so that each block's output is a small part of zlib's buffer.
    const data = Buffer.from('42\tlogin\t2025-01-01 00:00:00+00\t{}\n'.repeat(100_000));
    const chunks: Buffer[] = [];
    await pipeline(Readable.from(randomChunks(data, 64 * 1024)), createParallelGzip(), collect(chunks));
    expect(chunks.length).toBeGreaterThan(2);
    // A small chunk may sit in Node's shared pool; none may pin a buffer sized for a whole block.
    expect(chunks.filter((c) => c.buffer.byteLength > Math.max(2 * c.length, Buffer.poolSize))).toEqual([]);
  });
});

/** The output must be one valid zstd stream to the zstd tool (-d and -t) and to our own frame reader. */
async function expectUnzstdsTo(zst: Buffer, data: Buffer): Promise<void> {
  const system = await run('zstd', ['-d', '-c', '-q'], zst);
  expect(system.code).toBe(0);
  expect(system.stdout.equals(data)).toBe(true);
  expect((await run('zstd', ['-t', '-q'], zst)).code).toBe(0);
  expect((await compress(randomChunks(zst, 5000, 11), createZstdDecompress())).equals(data)).toBe(true);
}

describe('createParallelZstd round trips', () => {
  const blockSize = 1000;
  const cases: [string, Buffer, ParallelZstdOptions?][] = [
    ['empty input', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['one byte short of a block', copyText(blockSize - 1)],
    ['exactly one block', copyText(blockSize)],
    ['one block plus one byte', copyText(blockSize + 1)],
    ['exactly three blocks', copyText(3 * blockSize)],
    ['many blocks', copyText(100 * blockSize + 17)],
    ['incompressible random data', randomBytes(20 * blockSize + 5)],
    ['concurrency 1, level 1', copyText(30 * blockSize), { concurrency: 1, level: 1 }],
    ['level 19', copyText(30 * blockSize), { level: 19 }],
  ];

  for (const [name, data, options] of cases) {
    it(`${name}, written whole`, async () => {
      const zst = await compress([data], createParallelZstd({ blockSize, concurrency: 3, ...options }));
      await expectUnzstdsTo(zst, data);
    });
  }

  it('many blocks, written in random chunks both smaller and larger than a block', async () => {
    const data = copyText(200 * blockSize + 333);
    const zst = await compress(randomChunks(data, 3 * blockSize), createParallelZstd({ blockSize, concurrency: 4 }));
    await expectUnzstdsTo(zst, data);
  });

  // Sizes against gzip -6 are for the bench: on this mostly-random test text they are about even.
  it('with default options: 1 MiB frames, each with its checksum', async () => {
    const data = copyText(3_000_000);
    const zst = await compress(randomChunks(data, 100_000), createParallelZstd());
    await expectUnzstdsTo(zst, data);
    const file = join(await mkdtemp(join(tmpdir(), 'dumptruck-zst-')), 'out.zst');
    await writeFile(file, zst);
    const frames = (await run('zstd', ['-l', '-v', file], Buffer.alloc(0))).stdout.toString();
    await rm(dirname(file), { recursive: true });
    expect(frames).toMatch(/# Zstandard Frames: 3\b/);
    expect(frames).toMatch(/Check: XXH64/);
  });

  it('keeps one zstd context per block in flight for the whole stream, and closes them at the end', async () => {
    const created = vi.spyOn(zlib, 'createZstdCompress');
    try {
      const data = copyText(100 * blockSize);
      const zst = await compress(randomChunks(data, 3 * blockSize), createParallelZstd({ blockSize, concurrency: 3 }));
      await expectUnzstdsTo(zst, data);
      expect(created.mock.calls.length).toBeGreaterThan(0);
      expect(created.mock.calls.length).toBeLessThanOrEqual(3);
      for (const { value } of created.mock.results) expect((value as Transform).destroyed).toBe(true);
    } finally {
      created.mockRestore();
    }
  });

  it('closes its zstd contexts when destroyed mid-stream', async () => {
    const created = vi.spyOn(zlib, 'createZstdCompress');
    try {
      const zstd = createParallelZstd({ blockSize, concurrency: 2 });
      zstd.resume();
      zstd.write(copyText(5 * blockSize));
      await new Promise((resolve) => zstd.once('data', resolve));
      zstd.destroy();
      expect(created.mock.calls.length).toBeGreaterThan(0);
      for (const { value } of created.mock.results) expect((value as Transform).destroyed).toBe(true);
    } finally {
      created.mockRestore();
    }
  });

  it('single-stream zstd (parallel: false) decompresses to the same bytes', async () => {
    const data = copyText(500_000);
    const single = await compress(randomChunks(data, 70_000), createCompressor({ algorithm: 'zstd', level: 3, parallel: false }));
    await expectUnzstdsTo(single, data);
  });

  it('rejects levels out of range', () => {
    expect(() => createParallelZstd({ level: 0 })).toThrow(RangeError);
    expect(() => createParallelZstd({ level: 20 })).toThrow(RangeError);
  });
});

describe('createZstdDecompress', () => {
  const data = copyText(50_000);
  const frames = async () => compress([data], createParallelZstd({ blockSize: 4000 }));

  it('reads frames the zstd tool wrote, one or concatenated, and skips skippable frames', async () => {
    const one = (await run('zstd', ['-c', '-q', '-3'], data)).stdout;
    expect((await compress([one], createZstdDecompress())).equals(data)).toBe(true);
    const skippable = Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    const joined = Buffer.concat([one, skippable, one]);
    expect((await compress(randomChunks(joined, 777), createZstdDecompress())).equals(Buffer.concat([data, data]))).toBe(true);
  });

  it('reports a stream cut short anywhere as an unexpected end of file', async () => {
    const zst = await frames();
    for (const cut of [0, 1, 4, 5, 20, Math.floor(zst.length / 2), zst.length - 4, zst.length - 1]) {
      await expect(compress([zst.subarray(0, cut)], createZstdDecompress()), `cut at ${cut}`).rejects.toMatchObject({
        code: 'Z_BUF_ERROR',
        message: 'unexpected end of file',
      });
    }
  });

  it('reports a flipped byte in any frame, and bytes after the last frame, as damage', async () => {
    const zst = await frames();
    for (const at of [zst.length - 2, Math.floor(zst.length / 2)]) {
      const damaged = Buffer.from(zst);
      damaged[at]! ^= 0x01;
      await expect(compress([damaged], createZstdDecompress()), `flip at ${at}`).rejects.toMatchObject({
        code: expect.stringMatching(/^(ZSTD_error_|Z_BUF_ERROR)/),
      });
    }
    await expect(compress([Buffer.concat([zst, Buffer.from('garbage!')])], createZstdDecompress())).rejects.toMatchObject({
      code: 'ZSTD_error_prefix_unknown',
    });
  });
});
