import { Writable } from 'node:stream';
import { DumptruckError } from '../errors.js';

// What can be proved about an age file without its identity: the header is well formed (the
// version line, one stanza per recipient, the MAC line). The MAC itself needs the file key, so
// only the SHA-256 of the stored bytes proves the rest is unchanged.

const VERSION_LINE = 'age-encryption.org/v1\n';
/** age headers are a few hundred bytes per recipient; anything longer is not one. */
const MAX_HEADER = 64 * 1024;

/** Pure: the header's recipient stanza types (e.g. ["X25519", "X25519"]), or why `head` does not start with an age header. */
export function parseAgeHeader(
  head: Buffer,
): { readonly stanzas: readonly string[] } | { readonly problem: string; readonly truncated?: boolean } {
  const text = head.subarray(0, MAX_HEADER).toString('latin1');
  if (!text.startsWith(VERSION_LINE.slice(0, Math.min(text.length, VERSION_LINE.length))) || text.length === 0) {
    return { problem: `does not start with an age header ("age-encryption.org/v1"; starts with ${JSON.stringify(text.slice(0, 24))})` };
  }
  const end = text.indexOf('\n---');
  const macEnd = end < 0 ? -1 : text.indexOf('\n', end + 1);
  if (end < 0 || macEnd < 0) {
    return head.length >= MAX_HEADER
      ? { problem: 'has no end to its age header within 64 KiB' }
      : { problem: 'ends inside its age header: the object was cut short', truncated: true };
  }
  if (!/^--- [A-Za-z0-9+/]{43}$/.test(text.slice(end + 1, macEnd))) return { problem: 'has a malformed age header MAC line' };
  const stanzas = text
    .slice(VERSION_LINE.length, end + 1)
    .split('\n')
    .filter((line) => line.startsWith('-> '))
    .map((line) => line.split(' ')[1] ?? '');
  if (stanzas.length === 0) return { problem: 'has an age header without any recipient stanza' };
  return { stanzas };
}

/** Reads an age file to the end, keeping only its first bytes, and fails at the end unless they hold a well-formed header. */
export class AgeHeaderCheck extends Writable {
  private head = Buffer.alloc(0);
  stanzas: readonly string[] = [];

  constructor(private readonly key: string) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.head.length < MAX_HEADER) this.head = Buffer.concat([this.head, chunk.subarray(0, MAX_HEADER - this.head.length)]);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    const parsed = parseAgeHeader(this.head);
    if ('problem' in parsed) {
      callback(new DumptruckError(parsed.truncated ? 'TRUNCATED' : 'NOT_A_DUMP', 'verify', `${this.key} ${parsed.problem}`));
      return;
    }
    this.stanzas = parsed.stanzas;
    callback();
  }
}
