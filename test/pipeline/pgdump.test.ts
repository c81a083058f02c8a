import { describe, expect, it } from 'vitest';
import type { DumptruckError } from '../../src/errors.js';
import { pgDumpArgs, pgDumpEnv } from '../../src/pipeline/pgdump.js';
import { checkCompressionSupport, checkPgDumpVersion } from '../../src/pipeline/probe.js';
import { constants } from 'node:buffer';
import { MAX_PART_BYTES, PART_CAP_BYTES, planParts } from '../../src/pipeline/parts.js';

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

describe('pg_dump arguments and environment', () => {
  it('builds an argument array without a password, with a lock wait limit (in ms), per format', () => {
    expect(
      pgDumpArgs({
        url: 'postgres://backup@db:5432/app',
        format: 'plain',
        compression: { algorithm: 'gzip', level: 6 },
        extraArgs: [],
        lockWaitTimeoutMs: 300_000,
      }),
    ).toEqual(['--dbname', 'postgres://backup@db:5432/app', '--no-password', '--lock-wait-timeout=300000', '--format=plain']);
    expect(
      pgDumpArgs({
        url: 'postgres://backup@db/app',
        format: 'custom',
        compression: { algorithm: 'gzip', level: 4 },
        extraArgs: ['--exclude-table-data=audit'],
        lockWaitTimeoutMs: 1500,
      }),
    ).toEqual([
      '--dbname',
      'postgres://backup@db/app',
      '--no-password',
      '--lock-wait-timeout=1500',
      '--format=custom',
      '--compress=4',
      '--exclude-table-data=audit',
    ]);
    expect(
      pgDumpArgs({
        url: 'postgres://backup@db/app',
        format: 'custom',
        compression: { algorithm: 'zstd', level: 3 },
        extraArgs: [],
        lockWaitTimeoutMs: 1000,
      }),
    ).toEqual([
      '--dbname',
      'postgres://backup@db/app',
      '--no-password',
      '--lock-wait-timeout=1000',
      '--format=custom',
      '--compress=zstd:3',
    ]);
    // plain dumps are compressed by dumptruck, whatever the algorithm
    expect(
      pgDumpArgs({
        url: 'postgres://backup@db/app',
        format: 'plain',
        compression: { algorithm: 'zstd', level: 3 },
        extraArgs: [],
        lockWaitTimeoutMs: 1000,
      }),
    ).not.toContainEqual(expect.stringMatching(/^--compress/));
  });

  it('refuses zstd in a custom archive from a pg_dump older than 16, naming the fix', () => {
    const zstd = { algorithm: 'zstd', level: 3 } as const;
    const old = { path: '/usr/lib/postgresql/15/bin/pg_dump', version: '15.18', major: 15 };
    expect(() => checkCompressionSupport(old, 'custom', zstd, 'app')).toThrow(
      expect.objectContaining({
        code: 'PG_DUMP_TOO_OLD',
        stage: 'version',
        message:
          'pg_dump 15.18 (/usr/lib/postgresql/15/bin/pg_dump) cannot compress a custom-format archive with zstd: that needs pg_dump 16 or newer',
        hint: expect.stringContaining('postgresql-client-16'),
      }),
    );
    expect(() => checkCompressionSupport({ ...old, version: '16.4', major: 16 }, 'custom', zstd, 'app')).not.toThrow();
    expect(() => checkCompressionSupport(old, 'plain', zstd, 'app')).not.toThrow();
    expect(() => checkCompressionSupport(old, 'custom', { algorithm: 'gzip', level: 6 }, 'app')).not.toThrow();
  });

  it('gives the child only what pg_dump needs, with the password', () => {
    const env = pgDumpEnv(
      {
        PATH: '/usr/bin',
        SLACK_BOT_TOKEN: 'xoxb-1',
        AWS_SECRET_ACCESS_KEY: 's',
        PGSSLMODE: 'require',
        PGPASSWORD: 'stale',
        LANG: 'C.UTF-8',
      },
      'pw',
      'dumptruck-abc',
    );
    expect(env).toEqual({
      PATH: '/usr/bin',
      PGSSLMODE: 'require',
      LANG: 'C.UTF-8',
      PGAPPNAME: 'dumptruck-abc',
      PGCONNECT_TIMEOUT: '15',
      PGPASSWORD: 'pw',
    });
    expect(pgDumpEnv({ PATH: '/usr/bin', PGPASSWORD: 'stale' }, undefined, 'x')).not.toHaveProperty('PGPASSWORD');
  });

  it('accepts pg_dump of the same or a newer major and refuses an older one', () => {
    const server = { version: '16.2', major: 16, databaseBytes: 0 };
    expect(() => checkPgDumpVersion({ path: 'pg_dump', version: '16.0', major: 16 }, server, 'app')).not.toThrow();
    expect(() => checkPgDumpVersion({ path: 'pg_dump', version: '17.1', major: 17 }, server, 'app')).not.toThrow();
    expect(() => checkPgDumpVersion({ path: '/usr/bin/pg_dump', version: '15.18', major: 15 }, server, 'app')).toThrow(
      'pg_dump 15.18 (/usr/bin/pg_dump) cannot dump PostgreSQL 16.2: pg_dump must be version 16 or newer',
    );
  });
});

describe('part planning', () => {
  const base = { maxParts: 10_000, partsInFlight: 2, memoryBudgetBytes: 64 * MIB };

  it('uses the 5 MiB minimum for small databases', () => {
    expect(planParts({ ...base, estimatedBytes: 100 * MIB })).toEqual({ partSize: 5 * MIB, partsInFlight: 2, maxBytes: 5 * MIB * 10_000 });
  });

  it('grows parts with the database so the part limit is never reached, within the memory budget', () => {
    const plan = planParts({ ...base, estimatedBytes: 500 * GIB, memoryBudgetBytes: 512 * MIB });
    expect(plan.partSize).toBe(205 * MIB); // 500 GiB x 4 headroom / 10,000, rounded up to MiB
    expect(plan.maxBytes).toBeGreaterThanOrEqual(4 * 500 * GIB);
    expect(plan.partsInFlight).toBe(1); // 512 MiB holds two parts: one uploading, one filling
  });

  it("fails before dumping when the parts the store's limit demands do not fit the memory budget, naming the fix", () => {
    const tooBig = (input: Parameters<typeof planParts>[0]) => {
      try {
        planParts(input);
      } catch (err) {
        return {
          code: (err as DumptruckError).code,
          stage: (err as DumptruckError).stage,
          message: (err as Error).message,
          hint: (err as DumptruckError).hint,
        };
      }
      throw new Error('expected planParts to refuse');
    };
    expect(tooBig({ ...base, estimatedBytes: 2 * 1024 * GIB })).toEqual({
      code: 'TOO_LARGE',
      stage: 'upload',
      message:
        'a database of 2.0 TiB needs parts of 839 MiB to fit in storage.maxParts 10000 (with 4x headroom); one uploading and one filling take 1.6 GiB, over storage.memoryBudget 64.0 MiB',
      hint: 'raise storage.memoryBudget to at least 1.6 GiB, or storage.maxParts if the store allows more parts than 10000 (smaller parts)',
    });
    // 32 MiB parts are the largest the default 64 MiB budget holds (78.1 GiB at 10,000 parts); a byte more is refused.
    expect(planParts({ ...base, estimatedBytes: 80_000 * MIB })).toEqual({
      partSize: 32 * MIB,
      partsInFlight: 1,
      maxBytes: 32 * MIB * 10_000,
    });
    expect(tooBig({ ...base, estimatedBytes: 80_000 * MIB + 1 }).hint).toBe(
      'raise storage.memoryBudget to at least 66.0 MiB, or storage.maxParts if the store allows more parts than 10000 (smaller parts)',
    );
  });

  it('fails before dumping when a part would be larger than S3 or a Node buffer allow, whatever the budget', () => {
    // A cap below S3's (Node 20's 4 GiB buffers): 1.1 TiB on a 1,000-part store is refused.
    const input = { ...base, maxParts: 1000, estimatedBytes: 1.1 * 1024 * GIB, memoryBudgetBytes: 64 * GIB, maxPartBytes: 4 * GIB };
    expect(() => planParts(input)).toThrow(
      'a database of 1.1 TiB needs parts of 4.5 GiB to fit in storage.maxParts 1000 (with 4x headroom), above the largest part that can be uploaded (4.0 GiB)',
    );
    expect(() => planParts(input)).toThrow(
      expect.objectContaining({
        code: 'TOO_LARGE',
        hint: 'raise storage.maxParts if the store allows more parts than 1000 (AWS S3: 10000), or split the database across targets (dumpArgs)',
      }),
    );
    expect(PART_CAP_BYTES).toBe(Math.min(5 * GIB, constants.MAX_LENGTH));
    // S3's own 5 GiB ceiling applies where buffers may be larger (Node 22+).
    const { maxPartBytes: _cap, ...runtime } = input;
    expect(() => planParts({ ...runtime, estimatedBytes: 1.5 * 1024 * GIB, maxPartBytes: MAX_PART_BYTES })).toThrow(
      /needs parts of 6\.1 GiB .*above the largest part that can be uploaded \(5\.0 GiB\)/,
    );
    expect(() => planParts({ ...runtime, estimatedBytes: 1.5 * 1024 * GIB })).toThrow(/above the largest part that can be uploaded/);
    expect(planParts({ ...input, estimatedBytes: 1000 * GIB }).partSize).toBe(4096 * MIB);
  });

  it('follows a stricter provider part limit', () => {
    const plan = planParts({ ...base, maxParts: 1000, estimatedBytes: 10 * GIB, memoryBudgetBytes: 128 * MIB });
    expect(plan.partSize).toBe(41 * MIB);
    expect(plan.maxBytes).toBeGreaterThanOrEqual(40 * GIB);
  });

  it('fits parts in flight into the memory budget', () => {
    expect(planParts({ ...base, partsInFlight: 8, estimatedBytes: 1 * GIB, memoryBudgetBytes: 32 * MIB })).toMatchObject({
      partSize: 5 * MIB,
      partsInFlight: 5,
    });
  });
});
