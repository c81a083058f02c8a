import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DumptruckError } from '../../src/errors.js';
import { median, sizeAnomaly } from '../../src/verify/anomaly.js';
import { CustomMagicCheck, PlainDumpCheck, plainDumpProblem, plainHeadProblem } from '../../src/verify/dump-shape.js';
import { scratchDatabaseName, urlForDatabase } from '../../src/verify/scratch.js';
import { identityProblem, verdict } from '../../src/verify/verify.js';

const HEAD = '--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\nSET statement_timeout = 0;\n';
const TAIL = 'SET row_security = off;\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n';

async function through(check: PlainDumpCheck | CustomMagicCheck, chunks: string[]): Promise<unknown> {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  return pipeline(Readable.from(chunks.map((c) => Buffer.from(c, 'latin1'))), check, sink).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('plain dump shape', () => {
  it('accepts a complete dump, with or without the \\unrestrict line', () => {
    expect(plainDumpProblem(HEAD, TAIL)).toBeUndefined();
    expect(plainDumpProblem(HEAD, '--\n-- PostgreSQL database dump complete\n--\n\n')).toBeUndefined();
  });

  it('calls a dump without the trailer truncated', () => {
    expect(plainDumpProblem(HEAD, 'COPY public.events (id) FROM stdin;\n1\n2\n')).toMatchObject({ code: 'TRUNCATED' });
    expect(plainDumpProblem('--\n-- Postgre', '--\n-- Postgre')).toMatchObject({ code: 'TRUNCATED' });
  });

  it('calls anything else not a dump, as soon as the first bytes differ', () => {
    expect(plainHeadProblem('--\n-- Postgre')).toBeUndefined();
    expect(plainHeadProblem('hello')).toMatchObject({ code: 'NOT_A_DUMP' });
    expect(plainDumpProblem('', '')).toEqual({ code: 'NOT_A_DUMP', message: 'is empty: a gzip of nothing, not a pg_dump' });
  });

  it('checks a stream split at any point', async () => {
    const text = `${HEAD}${'x'.repeat(2000)}\n${TAIL}`;
    for (const at of [1, 5, 20, text.length - 30, text.length - 1]) {
      expect(await through(new PlainDumpCheck(), [text.slice(0, at), text.slice(at)])).toBeUndefined();
    }
    const cut = await through(new PlainDumpCheck(), [text.slice(0, text.length - 60)]);
    expect(cut).toBeInstanceOf(DumptruckError);
    expect(cut).toMatchObject({ code: 'TRUNCATED', stage: 'verify' });
    expect(await through(new PlainDumpCheck(), ['PGDMP', 'rest'])).toMatchObject({ code: 'NOT_A_DUMP' });
  });

  it('custom archives start with PGDMP', async () => {
    expect(await through(new CustomMagicCheck(), ['PG', 'DMP\x01\x0e'])).toBeUndefined();
    expect(await through(new CustomMagicCheck(), ['--\n-- PostgreSQL'])).toMatchObject({ code: 'NOT_A_DUMP' });
    expect(await through(new CustomMagicCheck(), ['PGD'])).toMatchObject({ code: 'TRUNCATED' });
  });
});

describe('identity and verdict', () => {
  const key = 'p/app/2026/11/22/app_20261122T020000Z.sql.gz';
  const meta = {
    recordedIn: 'manifest',
    target: 'app',
    sha256: 'a'.repeat(64),
    storedBytes: 1000,
    format: 'plain',
    hmac: 'b'.repeat(64),
  } as const;

  it('passes an object that is what its metadata says', () => {
    expect(identityProblem('app', key, meta, 1000)).toBeUndefined();
  });

  it('names each problem with its own code', () => {
    expect(identityProblem('app', key, { ...meta, target: 'billing' }, 1000)).toMatchObject({
      code: 'SWAPPED',
      stage: 'verify',
      message: `${key} holds a backup of target "billing", not of "app": the object was replaced`,
    });
    expect(identityProblem('app', key, { ...meta, format: 'custom' }, 1000)).toMatchObject({ code: 'SWAPPED' });
    expect(identityProblem('app', key, meta, 999)).toMatchObject({
      code: 'TRUNCATED',
      message: `${key} is 999 bytes, but 1000 were stored: the object was cut short`,
    });
    expect(identityProblem('app', key, meta, 1001)).toMatchObject({ code: 'CORRUPTED' });
    expect(identityProblem('app', key, { ...meta, recordedIn: 'metadata', target: undefined }, 1000)).toMatchObject({
      code: 'VERIFY_FAILED',
    });
    // Neither a manifest nor old-style metadata: a run that died before its manifest.
    expect(identityProblem('app', key, undefined, 1000)).toMatchObject({
      code: 'INCOMPLETE',
      message: `${key} has no manifest (${key}.manifest.json): its backup never completed, so it is not a backup to verify or restore`,
    });
  });

  it('a checksum mismatch is reported as corruption, before what gunzip made of it', () => {
    const symptom = new DumptruckError('TRUNCATED', 'verify', 'the gzip stream ends early');
    expect(() => verdict(key, 'a'.repeat(64), { sha256: 'b'.repeat(64), storedBytes: 1, dumpedBytes: 1, sideError: symptom })).toThrow(
      `${key}: SHA-256 of the stored bytes is ${'b'.repeat(64)}, metadata says ${'a'.repeat(64)}: the object changed after it was written (and then: the gzip stream ends early)`,
    );
    expect(() => verdict(key, 'a'.repeat(64), { sha256: 'a'.repeat(64), storedBytes: 1, dumpedBytes: 1, sideError: symptom })).toThrow(
      `${key}: the gzip stream ends early`,
    );
    expect(() =>
      verdict(key, 'a'.repeat(64), { sha256: 'a'.repeat(64), storedBytes: 1, dumpedBytes: 1, sideError: undefined }),
    ).not.toThrow();
  });
});

describe('size anomaly', () => {
  const rules = { threshold: 0.5, window: 5, emptyBelow: 1024 };

  it('median of odd and even counts', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('flags a backup below threshold x the median of the previous `window`', () => {
    const previous = [1000, 1100, 900, 1050, 950, 10];
    expect(sizeAnomaly({ storedBytes: 499, dumpedBytes: 5000 }, previous, rules)).toEqual({
      kind: 'shrunk',
      storedBytes: 499,
      medianBytes: 1000,
      compared: 5,
      ratio: 0.499,
      threshold: 0.5,
      message: 'much smaller than usual: 499 B stored, 50% of the median 1000 B of the previous 5 backups (threshold 50%)',
    });
    expect(sizeAnomaly({ storedBytes: 500, dumpedBytes: 5000 }, previous, rules)).toBeUndefined();
    expect(sizeAnomaly({ storedBytes: 700, dumpedBytes: 5000 }, previous, { ...rules, threshold: 0.8 })).toMatchObject({
      kind: 'shrunk',
      ratio: 0.7,
    });
  });

  it('only the `window` newest count', () => {
    expect(sizeAnomaly({ storedBytes: 400, dumpedBytes: 5000 }, [500, 10_000, 10_000], { ...rules, window: 1 })).toBeUndefined();
    expect(sizeAnomaly({ storedBytes: 400, dumpedBytes: 5000 }, [500, 10_000, 10_000], { ...rules, window: 3 })).toMatchObject({
      medianBytes: 10_000,
      compared: 3,
    });
  });

  it('an empty dump is flagged even without history, and wins over shrunk', () => {
    expect(sizeAnomaly({ storedBytes: 20, dumpedBytes: 0 }, [], rules)).toMatchObject({ kind: 'empty', dumpedBytes: 0 });
    expect(sizeAnomaly({ storedBytes: 400, dumpedBytes: 693 }, [100_000], rules)).toMatchObject({ kind: 'empty' });
    expect(sizeAnomaly({ storedBytes: 400, dumpedBytes: 5000 }, [], rules)).toBeUndefined();
  });
});

describe('names and markers', () => {
  it('scratch database names fit in 63 bytes', () => {
    expect(scratchDatabaseName('app-db', 'abcd1234')).toBe('dumptruck_verify_app_db_abcd1234');
    expect(scratchDatabaseName('x'.repeat(63), 'abcd1234')).toHaveLength(63);
    expect(urlForDatabase('postgres://v@h:5432/postgres', 'dumptruck_verify_a_1')).toBe('postgres://v@h:5432/dumptruck_verify_a_1');
  });
});
