import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RestrictedPsqlInput, isRestrictLine, newRestrictKey, parsePsqlVersion, restrictedModeProblem } from '../../src/verify/restrict.js';

const KEY = 'abc123';

/** The transform's whole output for `input` fed in the given pieces. */
async function through(pieces: readonly (string | Buffer)[]): Promise<string> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p))),
    new RestrictedPsqlInput(KEY),
    new Writable({ write: (chunk: Buffer, _e, cb) => (out.push(chunk), cb()) }),
  );
  return Buffer.concat(out).toString('latin1');
}

/** Every way of cutting `text` into two pieces, and one byte at a time. */
function splits(text: string): string[][] {
  const out = [[text], [...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

const DUMP = [
  '--',
  '-- PostgreSQL database dump',
  '--',
  '',
  '\\restrict pgdumpkey123',
  '',
  'SET x = 1;',
  'COPY public.t (a, b) FROM stdin;',
  '\\restrict\tdata row: a value that starts with a carriage return',
  '\\unrestrict not a command either, but COPY would write \\\\ here',
  '\\.',
  'select 1;',
  '--',
  '-- PostgreSQL database dump complete',
  '--',
  '',
  '\\unrestrict pgdumpkey123',
  '',
].join('\n');

// Our \restrict first; lines 5 and 17 (the dump's own \restrict and \unrestrict) dropped; the COPY rows kept.
const EXPECTED = [`\\restrict ${KEY}`, ...DUMP.split('\n').filter((_line, i) => i !== 4 && i !== 16)].join('\n');

describe('RestrictedPsqlInput', () => {
  it("starts with our \\restrict, drops the dump's own \\restrict/\\unrestrict lines and keeps COPY data, however the input is cut", async () => {
    for (const pieces of splits(DUMP)) expect(await through(pieces)).toBe(EXPECTED);
  });

  it('an empty input still gets the \\restrict line', async () => {
    expect(await through([])).toBe(`\\restrict ${KEY}\n`);
  });

  it('a last line without a newline is decided at the end: dropped when it is \\unrestrict, kept otherwise', async () => {
    for (const pieces of splits('a\n\\unrestrict k')) expect(await through(pieces)).toBe(`\\restrict ${KEY}\na\n`);
    for (const pieces of splits('a\n\\unrestrict')) expect(await through(pieces)).toBe(`\\restrict ${KEY}\na\n`);
    for (const pieces of splits('a\n\\unrestric')) expect(await through(pieces)).toBe(`\\restrict ${KEY}\na\n\\unrestric`);
    for (const pieces of splits('\\.')) expect(await through(pieces)).toBe(`\\restrict ${KEY}\n\\.`);
  });

  it('keeps lines that only look alike: other words, leading space, a longer word, CRLF endings are handled', async () => {
    const input = ['\\restricted x', ' \\restrict x', '\\restrictx', 'x \\unrestrict y', '\\! touch /tmp/x', '\\unrestrict k\r', ''].join(
      '\n',
    );
    expect(await through([input])).toBe(
      [`\\restrict ${KEY}`, '\\restricted x', ' \\restrict x', '\\restrictx', 'x \\unrestrict y', '\\! touch /tmp/x', ''].join('\n'),
    );
  });

  it('a COPY block ends only at \\.; after it, \\restrict lines are dropped again', async () => {
    const input = 'COPY a FROM stdin;\n\\restrict 1\n\\.x\n\\.\n\\restrict 2\n';
    for (const pieces of splits(input))
      expect(await through(pieces)).toBe(`\\restrict ${KEY}\nCOPY a FROM stdin;\n\\restrict 1\n\\.x\n\\.\n`);
  });

  it('streams a long line as it comes: nothing of it is held back beyond its first bytes', async () => {
    const t = new RestrictedPsqlInput(KEY);
    const seen: Buffer[] = [];
    t.on('data', (c: Buffer) => seen.push(c));
    const mib = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 8; i++) {
      await new Promise<void>((done) => t.write(mib, () => done()));
      // The line has not ended, yet every byte written so far has come out.
      expect(Buffer.concat(seen).length).toBe(`\\restrict ${KEY}\n`.length + (i + 1) * mib.length);
    }
    t.end('\n');
  });

  it('refuses a key psql would not take', () => {
    expect(() => new RestrictedPsqlInput('a b')).toThrow(/alphanumeric/);
  });
});

describe('isRestrictLine', () => {
  it.each([
    ['\\restrict abc', false, true],
    ['\\unrestrict abc', false, true],
    ['\\restrict', true, true],
    ['\\unrestrict', true, true],
    ['\\restrict\r', true, true],
    ['\\restrict', false, undefined],
    ['\\un', false, undefined],
    ['\\', false, undefined],
    ['', false, undefined],
    ['', true, false],
    ['\\restricted', false, false],
    ['\\unrestrictx', false, false],
    ['\\r', true, false],
    ['restrict abc', false, false],
    ['\\! ls', false, false],
  ] as const)('%j (line ended: %s) -> %s', (head, complete, expected) => {
    expect(isRestrictLine(head, complete)).toBe(expected);
  });
});

describe('psql restricted mode', () => {
  it.each([
    ['psql (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)', true],
    ['psql (PostgreSQL) 15.13', false],
    ['psql (PostgreSQL) 13.22', true],
    ['psql (PostgreSQL) 13.21', false],
    ['psql (PostgreSQL) 14.19', true],
    ['psql (PostgreSQL) 14.18', false],
    ['psql (PostgreSQL) 16.10', true],
    ['psql (PostgreSQL) 16.9', false],
    ['psql (PostgreSQL) 17.6', true],
    ['psql (PostgreSQL) 17.5', false],
    ['psql (PostgreSQL) 18.0', true],
    ['psql (PostgreSQL) 18beta1', false],
    ['psql (PostgreSQL) 18beta2', false],
    ['psql (PostgreSQL) 18beta3', true],
    ['psql (PostgreSQL) 18rc1', true],
    ['psql (PostgreSQL) 18devel', false],
    ['psql (PostgreSQL) 15beta1', false],
    ['psql (PostgreSQL) 19devel', true],
    ['psql (PostgreSQL) 12.22', false],
    ['', false],
  ] as const)('%j: supported %s', (output, supported) => {
    expect(restrictedModeProblem(output) === undefined).toBe(supported);
  });

  it('says what is wrong and how to fix it', () => {
    expect(restrictedModeProblem('psql (PostgreSQL) 15.13 (Debian)')).toMatchObject({
      code: 'PSQL_TOO_OLD',
      stage: 'verify',
      message:
        'psql 15.13 has no restricted mode (\\restrict), and without it psql would run meta-commands such as \\! found in a dump; no restore was attempted',
      hint: 'upgrade postgresql-client to 13.22, 14.19, 15.14, 16.10, 17.6, 18 or newer (or point targets.<name>.pgDump at such an installation)',
    });
    expect(restrictedModeProblem('')!.message).toMatch(
      /^cannot tell whether psql has restricted mode \(\\restrict\): psql --version said ""/,
    );
    expect(parsePsqlVersion('psql (PostgreSQL) 16.10')).toEqual({ major: 16, minor: 10 });
    expect(parsePsqlVersion('psql (PostgreSQL) 18beta2')).toEqual({ major: 18, minor: 0, pre: { kind: 'beta', n: 2 } });
    expect(restrictedModeProblem('psql (PostgreSQL) 18beta2')!.message).toMatch(/^psql 18beta2 has no restricted mode/);
  });

  it('restrict keys are random, 64 hex characters', () => {
    const a = newRestrictKey();
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(newRestrictKey()).not.toBe(a);
  });
});
