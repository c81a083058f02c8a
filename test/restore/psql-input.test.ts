import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { restrictedPsqlInput, restrictKey } from '../../src/restore/psql-input.js';

async function through(chunks: readonly string[], key = 'k3y'): Promise<string> {
  return (await buffer(Readable.from(chunks.map((c) => Buffer.from(c, 'utf8'))).pipe(restrictedPsqlInput(key)))).toString('utf8');
}

describe('restrictedPsqlInput', () => {
  it('starts with \\restrict and the key, and passes the dump through byte for byte', async () => {
    expect(await through(['create table t (x text);\n', "insert into t values ('été 🚚');\n"])).toBe("\\restrict k3y\ncreate table t (x text);\ninsert into t values ('été 🚚');\n");
  });

  it("drops the dump's own \\restrict and \\unrestrict lines, also split across chunks", async () => {
    const out = await through(['\\restr', 'ict abc\nselect 1;\n\\unrestrict abc\n\\! id\n', '\\unrestrict k3y']);
    expect(out).toBe('\\restrict k3y\nselect 1;\n\\! id\n');
  });

  it('keeps a last line without newline, and restricts an empty dump too', async () => {
    expect(await through(['select 1;'])).toBe('\\restrict k3y\nselect 1;');
    expect(await through([])).toBe('\\restrict k3y\n');
  });

  it('keys are random letters and digits; anything else is refused', () => {
    expect(restrictKey()).toMatch(/^[0-9a-f]{48}$/);
    expect(restrictKey()).not.toBe(restrictKey());
    expect(() => restrictedPsqlInput('a b')).toThrow(/letters and digits/);
  });
});
