import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { pipelineBody } from '../../src/storage/body.js';

// A stand-in for an HTTP response: a Readable that holds its data until it is read or destroyed.
function response(chunks: string[]): Readable {
  return Readable.from(
    chunks.map((c) => Buffer.from(c)),
    { objectMode: false },
  );
}

describe('pipelineBody', () => {
  it('passes the bytes through in order', async () => {
    const seen: string[] = [];
    await pipeline(
      pipelineBody(response(['a', 'b', 'c'])),
      new Writable({
        write(chunk, _encoding, callback) {
          seen.push(String(chunk));
          callback();
        },
      }),
    );
    expect(seen.join('')).toBe('abc');
  });

  it('a pipeline that fails downstream destroys the response itself, and settles', { timeout: 5000 }, async () => {
    // Data arrived, more may come: a response that is neither read to its end nor destroyed.
    const source = new Readable({ read() {} });
    source.push('abc');
    const failing = new Writable({ write: (_chunk, _encoding, callback) => callback(new Error('reader stopped')) });
    await expect(pipeline(pipelineBody(source), failing)).rejects.toThrow('reader stopped');
    expect(source.destroyed).toBe(true);
  });

  it("the response's error fails the pipeline with that error", { timeout: 5000 }, async () => {
    const source = new Readable({ read() {} });
    const head = pipelineBody(source);
    const done = pipeline(head, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
    source.destroy(new Error('connection reset'));
    await expect(done).rejects.toThrow('connection reset');
  });
});
