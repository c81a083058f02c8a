import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  RestrictedPsqlInput,
  isOwnershipStatement,
  isRestrictLine,
  newRestrictKey,
  parsePsqlVersion,
  restrictedModeProblem,
  type RestrictOptions,
} from '../../src/verify/restrict.js';

const KEY = 'abc123';

/** The transform's whole output for `input` fed in the given pieces. */
async function through(pieces: readonly (string | Buffer)[], options?: RestrictOptions): Promise<string> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p))),
    new RestrictedPsqlInput(KEY, options),
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

// pg_dump's ownership and privilege statements among look-alikes that are data: a function body,
// multi-line string literals, a comment, a quoted name and a COPY row.
const OWNED = [
  'SET standard_conforming_strings = on;',
  'CREATE SCHEMA app;',
  'ALTER SCHEMA app OWNER TO someone;',
  'CREATE FUNCTION app.f() RETURNS void',
  '    LANGUAGE plpgsql',
  '    AS $_$',
  'BEGIN',
  'GRANT SELECT ON app.t TO someone;',
  'ALTER TABLE app.t OWNER TO someone;',
  'END',
  '$_$;',
  'ALTER FUNCTION app.f() OWNER TO someone;',
  'CREATE TABLE app.t ("GRANT x" text, id integer);',
  'ALTER TABLE app.t OWNER TO "Some One";',
  'ALTER SEQUENCE app.s OWNED BY app.t.id;',
  'ALTER TABLE app."t OWNER TO x" ALTER COLUMN id SET DEFAULT 1;',
  "COMMENT ON TABLE app.t IS 'first line",
  'GRANT ALL ON app.t TO someone;',
  "last';",
  "COMMENT ON COLUMN app.t.id IS E'it\\'s",
  'REVOKE ALL ON app.t FROM PUBLIC;',
  "';",
  '/* a comment',
  'GRANT ALL ON app.t TO someone;',
  '*/',
  'COPY app.t ("GRANT x", id) FROM stdin;',
  'GRANT ALL ON app.t TO someone;\t1',
  '\\.',
  'GRANT SELECT ON TABLE app.t TO someone;',
  'REVOKE ALL ON SCHEMA public FROM PUBLIC;',
  'ALTER DEFAULT PRIVILEGES FOR ROLE someone IN SCHEMA app GRANT SELECT ON TABLES TO someone;',
  'select 1;',
  '',
].join('\n');
const DROPPED = new Set([2, 11, 13, 28, 29, 30]);

describe('RestrictedPsqlInput with dropOwnership (restore.noOwner)', () => {
  it('drops exactly the top-level ownership and privilege statements, however the input is cut', async () => {
    const expected = [`\\restrict ${KEY}`, ...OWNED.split('\n').filter((_line, i) => !DROPPED.has(i))].join('\n');
    for (const pieces of splits(OWNED)) expect(await through(pieces, { dropOwnership: true })).toBe(expected);
  });

  it('without it, they all stay', async () => {
    expect(await through([OWNED])).toBe(`\\restrict ${KEY}\n${OWNED}`);
  });

  it('isOwnershipStatement: a whole statement at the top level, not its look-alikes', () => {
    for (const yes of [
      'ALTER TABLE public.owned OWNER TO app;',
      'ALTER MATERIALIZED VIEW public.v OWNER TO "App Owner";',
      'ALTER FUNCTION public.f(a integer, b text) OWNER TO app;',
      'ALTER LARGE OBJECT 16384 OWNER TO app;',
      'GRANT SELECT ON TABLE public.owned TO reader;',
      'REVOKE ALL ON SCHEMA public FROM PUBLIC;',
      'ALTER DEFAULT PRIVILEGES FOR ROLE app GRANT SELECT ON TABLES TO reader;',
      'SET SESSION AUTHORIZATION app;',
      'RESET SESSION AUTHORIZATION;',
    ])
      expect(isOwnershipStatement(`${yes}\n`), yes).toBe(true);
    for (const no of [
      'ALTER SEQUENCE public.s OWNED BY public.t.id;',
      'ALTER TABLE "x OWNER TO y" ADD COLUMN a integer;',
      'ALTER TABLE t OWNER TO app; DROP TABLE t;',
      'GRANT SELECT ON t TO app',
      'GRANT SELECT ON t TO app; -- and then',
      "COMMENT ON TABLE t IS 'GRANT ALL ON t TO app;';",
      "ALTER TABLE t OWNER TO app; SELECT ';'",
      'CREATE TABLE t (a int);',
    ])
      expect(isOwnershipStatement(no), no).toBe(false);
  });
});

// Review finding 5a: a COPY header whose quoted table name holds a newline still starts COPY data,
// so rows that read like an ownership statement or a \restrict line are data, kept byte for byte.
const QUOTED_COPY = [
  '\\restrict abc',
  'COPY public."a',
  'b" (c) FROM stdin;',
  'GRANT ALL ON t TO x;',
  '\\restrict not a command: a value that starts with a carriage return',
  '\\.',
  'GRANT ALL ON t TO x;',
  '\\unrestrict abc',
  '',
].join('\n');

// Review finding 5b: `COPY y FROM stdin;` inside a multi-line string literal is text, not COPY: the
// ownership lines after the literal are dropped, and so is the dump's \unrestrict.
const COPY_IN_LITERAL = [
  "COMMENT ON TABLE t IS 'a comment that quotes",
  'COPY y FROM stdin;',
  "and ends here';",
  'GRANT ALL ON t TO x;',
  'ALTER TABLE t OWNER TO x;',
  'select 1;',
  '\\unrestrict abc',
  '',
].join('\n');

describe('RestrictedPsqlInput follows the script to find COPY data (review finding 5)', () => {
  const lines = (text: string, keep: (i: number) => boolean) =>
    [`\\restrict ${KEY}`, ...text.split('\n').filter((_l, i) => keep(i))].join('\n');

  it('a COPY whose quoted name holds a newline: its rows are kept byte for byte, with and without dropOwnership', async () => {
    // Dropped: the dump's \restrict and \unrestrict lines; with dropOwnership also the GRANT after `\.`.
    for (const pieces of splits(QUOTED_COPY)) {
      expect(await through(pieces)).toBe(lines(QUOTED_COPY, (i) => i !== 0 && i !== 7));
      expect(await through(pieces, { dropOwnership: true })).toBe(lines(QUOTED_COPY, (i) => i !== 0 && i !== 6 && i !== 7));
    }
  });

  it('COPY ... FROM stdin; inside a multi-line literal is no COPY: later ownership lines and \\unrestrict are still dropped', async () => {
    for (const pieces of splits(COPY_IN_LITERAL)) {
      expect(await through(pieces, { dropOwnership: true })).toBe(lines(COPY_IN_LITERAL, (i) => i < 3 || i === 5 || i === 7));
      expect(await through(pieces)).toBe(lines(COPY_IN_LITERAL, (i) => i !== 6));
    }
  });

  it('a \\restrict line inside a literal or block comment is text and stays', async () => {
    const input = "select '\n\\restrict a\n';\n/*\n\\unrestrict b\n*/\n\\unrestrict c\n";
    for (const pieces of splits(input))
      expect(await through(pieces)).toBe(`\\restrict ${KEY}\nselect '\n\\restrict a\n';\n/*\n\\unrestrict b\n*/\n`);
  });

  it('only a statement that starts with COPY at the top level starts COPY data: not COPY TO, not a COPY line in a literal', async () => {
    const input = 'COPY t TO stdout;\n\\restrict k\n';
    for (const pieces of splits(input)) expect(await through(pieces)).toBe(`\\restrict ${KEY}\nCOPY t TO stdout;\n`);
    // A line inside a literal that reads like a COPY header, in a SELECT that happens to end `FROM stdin;`.
    const select = "SELECT 'a\nCOPY y ' AS c FROM stdin;\n\\unrestrict k\n";
    for (const pieces of splits(select)) expect(await through(pieces)).toBe(`\\restrict ${KEY}\nSELECT 'a\nCOPY y ' AS c FROM stdin;\n`);
  });
});

describe('RestrictedPsqlInput with dropOwnership refuses standard_conforming_strings changes (review finding 8)', () => {
  it("refuses a dump that turns it off, before passing that line on; pg_dump's `= on` is fine", async () => {
    const input = 'SET standard_conforming_strings = on;\nselect 1;\nSET standard_conforming_strings = off;\nGRANT ALL ON t TO x;\n';
    for (const pieces of splits(input)) {
      const out: Buffer[] = [];
      const t = new RestrictedPsqlInput(KEY, { dropOwnership: true });
      t.on('data', (c: Buffer) => out.push(c));
      await expect(pipeline(Readable.from(pieces.map((p) => Buffer.from(p, 'latin1'))), t)).rejects.toMatchObject({
        code: 'RESTORE_FAILED',
        message: expect.stringContaining('line 3 changes standard_conforming_strings'),
      });
      expect(Buffer.concat(out).toString('latin1')).not.toContain('off');
    }
    // Without dropOwnership nothing is filtered, so nothing is refused.
    expect(await through([input])).toBe(`\\restrict ${KEY}\n${input}`);
  });

  it('refuses the other spellings too, and leaves the name inside a literal alone', async () => {
    for (const line of [
      "set standard_conforming_strings to 'off';",
      'RESET standard_conforming_strings;',
      'SET standard_conforming_strings\n= off;',
    ])
      await expect(through([`${line}\n`], { dropOwnership: true }), line).rejects.toMatchObject({ code: 'RESTORE_FAILED' });
    const literal = "COMMENT ON TABLE t IS '\nSET standard_conforming_strings = off;\n';\n";
    expect(await through([literal], { dropOwnership: true })).toBe(`\\restrict ${KEY}\n${literal}`);
  });
});

// pg_dump 17+'s session header, with the same line as COPY data and look-alikes around it.
const HEADER17 = [
  'SET statement_timeout = 0;',
  'SET lock_timeout = 0;',
  'SET idle_in_transaction_session_timeout = 0;',
  'SET transaction_timeout = 0;',
  "SET client_encoding = 'UTF8';",
  'SET transaction_timeout = 5;',
  ' SET transaction_timeout = 0;',
  'SET transaction_timeout = 0; ',
  "COMMENT ON TABLE t IS 'x",
  'SET transaction_timeout = 0;',
  "';",
  'COPY public.t (a) FROM stdin;',
  'SET transaction_timeout = 0;',
  '\\.',
  'SET transaction_timeout = 0;',
  '',
].join('\n');

describe('RestrictedPsqlInput with dropTransactionTimeout (a server older than 17)', () => {
  it("drops exactly pg_dump 17+'s `SET transaction_timeout = 0;` lines at the top level, however the input is cut, with and without dropOwnership", async () => {
    const expected = [`\\restrict ${KEY}`, ...HEADER17.split('\n').filter((_line, i) => i !== 3 && i !== 14)].join('\n');
    for (const pieces of splits(HEADER17)) expect(await through(pieces, { dropTransactionTimeout: true })).toBe(expected);
    expect(await through([HEADER17], { dropTransactionTimeout: true, dropOwnership: true })).toBe(expected);
  });

  it('without it (a server of 17 or later), the line stays', async () => {
    expect(await through([HEADER17], { dropOwnership: true })).toBe(`\\restrict ${KEY}\n${HEADER17}`);
  });
});
