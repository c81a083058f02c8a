import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { Gate, Meter } from '../../src/pipeline/streams.js';
import { withRecordedGc } from '../helpers/gc.js';

function collect(out: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      out.push(chunk);
      callback();
    },
  });
}

/** Lets every pending callback, nextTick and I/O turn run, so "nothing happened" is a fact, not a guess. */
async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const chunks = [Buffer.from('COPY public.events'), Buffer.alloc(0), Buffer.from(' (id) FROM stdin;\n'), Buffer.alloc(70_000, 7)];
const total = chunks.reduce((n, c) => n + c.length, 0);

describe('Meter', () => {
  it('passes the bytes through unchanged, counts them and hashes them', async () => {
    const meter = new Meter({ sha256: true });
    const out: Buffer[] = [];
    await pipeline(Readable.from(chunks), meter, collect(out));
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);
    expect(meter.bytes).toBe(total);
    expect(meter.digest()).toBe(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
  });

  it('counts without hashing when no sha256 is asked for, and then refuses a digest', async () => {
    const meter = new Meter();
    await pipeline(Readable.from(chunks), meter, collect([]));
    expect(meter.bytes).toBe(total);
    expect(() => meter.digest()).toThrow('Meter was created without sha256');
  });

  it('the SHA-256 of nothing is that of the empty string', async () => {
    const meter = new Meter({ sha256: true });
    await pipeline(Readable.from([]), meter, collect([]));
    expect(meter.bytes).toBe(0);
    expect(meter.digest()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('exactly the limit passes', async () => {
    const meter = new Meter({ limitBytes: total });
    const out: Buffer[] = [];
    await pipeline(Readable.from(chunks), meter, collect(out));
    expect(Buffer.concat(out).length).toBe(total);
  });

  it('one byte over the limit fails with the error of onLimit, and the chunk that crossed it is not passed on', async () => {
    const tooLarge = new Error('the dump outgrew the part limit');
    const meter = new Meter({ limitBytes: total - 1, onLimit: () => tooLarge });
    const out: Buffer[] = [];
    await expect(pipeline(Readable.from(chunks), meter, collect(out))).rejects.toBe(tooLarge);
    expect(Buffer.concat(out).equals(Buffer.concat(chunks.slice(0, 3)))).toBe(true);
  });

  it('without onLimit, the limit fails with a plain error', async () => {
    const meter = new Meter({ limitBytes: 10 });
    await expect(pipeline(Readable.from(chunks), meter, collect([]))).rejects.toThrow('byte limit exceeded');
  });
});

describe('Gate', () => {
  it('passes data through at once but holds the end until the verdict resolves', async () => {
    const verdict = deferred();
    let asked = 0;
    const gate = new Gate(() => {
      asked++;
      return verdict.promise;
    });
    const out: Buffer[] = [];
    let ended = false;
    gate.on('data', (chunk: Buffer) => out.push(chunk));
    gate.on('end', () => (ended = true));

    for (const chunk of chunks) gate.write(chunk);
    await settle();
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);
    // The verdict is only asked for once the input has ended.
    expect(asked).toBe(0);

    gate.end();
    await settle();
    expect(asked).toBe(1);
    expect(ended).toBe(false);

    verdict.resolve();
    await settle();
    expect(ended).toBe(true);
    expect(asked).toBe(1);
  });

  it('a rejected verdict errors the stream with that error instead of ending it', async () => {
    const verdict = deferred();
    const gate = new Gate(() => verdict.promise);
    const out: Buffer[] = [];
    const done = pipeline(Readable.from(chunks), gate, collect(out));
    let settled = false;
    void done.then(
      () => (settled = true),
      () => (settled = true),
    );
    await settle();
    expect(settled).toBe(false);
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);

    const dumpFailed = new Error('pg_dump exited with code 1');
    verdict.reject(dumpFailed);
    await expect(done).rejects.toBe(dumpFailed);
    expect(gate.destroyed).toBe(true);
    expect(gate.readableEnded).toBe(false);
  });
});

describe('collections', () => {
  it('a Meter asks for one each time collectEveryBytes more bytes have passed, on the next turn', async () => {
    const asked: unknown[] = [];
    await withRecordedGc(
      (o) => asked.push(o),
      async () => {
        const { Meter: Fresh } = await import('../../src/pipeline/streams.js');
        const meter = new Fresh({ collectEveryBytes: 7 });
        const out: Buffer[] = [];
        // One chunk per few turns, so that each ask is a collection of its own (asks in one turn share one).
        const chunks = async function* () {
          for (let i = 0; i < 10; i++) {
            await settle(2);
            yield Buffer.from('abc');
          }
        };
        await pipeline(Readable.from(chunks()), meter, collect(out));
        // After 9, 18 and 27 bytes: each time 7 more than the last, counted from where it was asked.
        await settle();
        expect(asked).toEqual([{ type: 'major' }, { type: 'major' }, { type: 'major' }]);
        expect(Buffer.concat(out).toString()).toBe('abc'.repeat(10));
      },
    );
  });

  it('asks made before the collection runs share it', async () => {
    const asked: unknown[] = [];
    await withRecordedGc(
      (o) => asked.push(o),
      async () => {
        const { collectGarbage } = await import('../../src/pipeline/streams.js');
        collectGarbage();
        collectGarbage();
        collectGarbage();
        expect(asked).toEqual([]);
        await settle();
        expect(asked).toHaveLength(1);
        collectGarbage();
        await settle();
        expect(asked).toHaveLength(2);
      },
    );
  });

  it('without --expose-gc, or without collectEveryBytes, nothing is asked', async () => {
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    const out: Buffer[] = [];
    await pipeline(Readable.from([Buffer.alloc(100)]), new Meter({ collectEveryBytes: 1 }), collect(out));
    const asked: unknown[] = [];
    await withRecordedGc(
      (o) => asked.push(o),
      async () => {
        const { Meter: Fresh } = await import('../../src/pipeline/streams.js');
        await pipeline(Readable.from([Buffer.alloc(100)]), new Fresh(), collect(out));
        await settle();
      },
    );
    expect(asked).toEqual([]);
  });
});
