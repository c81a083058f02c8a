import { Transform, type TransformCallback } from 'node:stream';
import { DumptruckError } from '../errors.js';

// What a complete pg_dump looks like from its ends. A plain dump starts with pg_dump's header
// comment and ends with its "dump complete" comment (followed, since the 2025 minor releases, by
// an `\unrestrict <key>` line); a dump cut short anywhere lacks the trailer. A custom-format
// archive starts with the magic bytes PGDMP.

const PLAIN_HEADER = '--\n-- PostgreSQL database dump\n--\n';
const PLAIN_TRAILER = '--\n-- PostgreSQL database dump complete\n--';
const CUSTOM_MAGIC = 'PGDMP';
const KEEP = 512;

type ShapeProblem = { readonly code: 'NOT_A_DUMP' | 'TRUNCATED'; readonly message: string };

/** Pure: whether the first bytes seen so far can still be a plain pg_dump. */
export function plainHeadProblem(head: string): ShapeProblem | undefined {
  const n = Math.min(head.length, PLAIN_HEADER.length);
  if (head.slice(0, n) === PLAIN_HEADER.slice(0, n)) return undefined;
  return {
    code: 'NOT_A_DUMP',
    message: `does not start with pg_dump's "-- PostgreSQL database dump" header (starts with ${JSON.stringify(head.slice(0, 40))})`,
  };
}

/** Pure: the reason a whole plain dump, seen by its first and last bytes, is not a complete pg_dump. */
export function plainDumpProblem(head: string, tail: string): ShapeProblem | undefined {
  if (head.length === 0) return { code: 'NOT_A_DUMP', message: 'is empty: a gzip of nothing, not a pg_dump' };
  const headProblem = plainHeadProblem(head);
  if (headProblem) return headProblem;
  const lines = tail.replace(/\r\n/g, '\n').split('\n');
  while (lines.length > 0 && (lines.at(-1)!.trim() === '' || /^\\unrestrict \S+$/.test(lines.at(-1)!))) lines.pop();
  if (head.length < PLAIN_HEADER.length || !lines.join('\n').endsWith(PLAIN_TRAILER)) {
    return { code: 'TRUNCATED', message: 'ends without pg_dump\'s "-- PostgreSQL database dump complete" trailer: the dump was cut short' };
  }
  return undefined;
}

/** Passes a plain dump through, failing as soon as the header is wrong and at the end when the trailer is missing. */
export class PlainDumpCheck extends Transform {
  private head = '';
  private tail = Buffer.alloc(0);
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.head.length < PLAIN_HEADER.length) {
      this.head += chunk.subarray(0, PLAIN_HEADER.length - this.head.length).toString('latin1');
      const problem = plainHeadProblem(this.head);
      if (problem) {
        callback(new DumptruckError(problem.code, 'verify', problem.message));
        return;
      }
    }
    this.tail = Buffer.concat([this.tail, chunk.subarray(-KEEP)]).subarray(-KEEP);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const problem = plainDumpProblem(this.head, this.tail.toString('latin1'));
    callback(problem ? new DumptruckError(problem.code, 'verify', problem.message) : null);
  }
}

/** Passes a custom-format archive through, failing unless it starts with PGDMP. */
export class CustomMagicCheck extends Transform {
  private head = '';
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.head.length < CUSTOM_MAGIC.length) {
      this.head += chunk.subarray(0, CUSTOM_MAGIC.length - this.head.length).toString('latin1');
      if (!CUSTOM_MAGIC.startsWith(this.head)) {
        callback(
          new DumptruckError(
            'NOT_A_DUMP',
            'verify',
            `does not start with the custom-format magic PGDMP (starts with ${JSON.stringify(this.head)})`,
          ),
        );
        return;
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.head === CUSTOM_MAGIC ? null : new DumptruckError('TRUNCATED', 'verify', 'is shorter than a custom-format header'));
  }
}
