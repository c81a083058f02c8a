import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

// What psql reads during a restore. psql obeys meta-commands (`\!` runs a shell command), so a
// planted dump could run code on the bot's host. The stream starts with `\restrict <key>`: from
// there psql refuses every meta-command except `\unrestrict <key>`, and the key is random per
// restore, so the dump cannot know it. The dump's own `\restrict`/`\unrestrict` lines (pg_dump
// 17.6+ writes them) are dropped: one of them carrying our key is impossible, any other would
// only end our restriction or fail.
//
// Placeholder for the merge with h-verify's line-aware version (src/verify/): one function, one
// module, so the lead folds them into one.

/** A fresh key: letters and digits only, as psql accepts them. */
export function restrictKey(): string {
  return randomBytes(24).toString('hex');
}

const RESTRICT_LINE = /^\\(un)?restrict(\s|$)/;

/** psql's input: `\restrict <key>` first, then the dump with its own `\restrict`/`\unrestrict` lines removed. */
export function restrictedPsqlInput(key: string = restrictKey()): Transform {
  if (!/^[A-Za-z0-9]+$/.test(key)) throw new Error('restrict key must be letters and digits');
  let pending = '';
  let started = false;
  const filter = (text: string) =>
    text
      .split('\n')
      .filter((line) => !RESTRICT_LINE.test(line))
      .join('\n');
  return new Transform({
    // Lines are whole only at '\n': the tail of each chunk waits for the next one.
    transform(chunk: Buffer, _enc, callback: TransformCallback) {
      const head = started ? '' : `\\restrict ${key}\n`;
      started = true;
      const text = pending + chunk.toString('latin1');
      const cut = text.lastIndexOf('\n');
      pending = text.slice(cut + 1);
      if (cut < 0) return callback(null, head === '' ? undefined : Buffer.from(head, 'latin1'));
      // latin1 both ways keeps every byte as it was (a UTF-8 dump passes through untouched).
      callback(null, Buffer.from(head + filter(text.slice(0, cut)) + '\n', 'latin1'));
    },
    flush(callback: TransformCallback) {
      const head = started ? '' : `\\restrict ${key}\n`;
      const rest = RESTRICT_LINE.test(pending) ? '' : pending;
      callback(null, head + rest === '' ? undefined : Buffer.from(head + rest, 'latin1'));
    },
  });
}
