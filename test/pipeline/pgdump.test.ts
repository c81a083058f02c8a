import { describe, expect, it } from 'vitest';
import { pgDumpArgs, pgDumpEnv } from '../../src/pipeline/pgdump.js';
import { checkCompressionSupport, checkPgDumpVersion } from '../../src/pipeline/probe.js';
import { planParts } from '../../src/pipeline/parts.js';

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

describe('pg_dump arguments and environment', () => {
  it('builds an argument array without a password, with a lock wait limit (in ms), per format', () => {
    expect(pgDumpArgs({ url: 'postgres://backup@db:5432/app', format: 'plain', compression: { algorithm: 'gzip', level: 6 }, extraArgs: [], lockWaitTimeoutMs: 300_000 })).toEqual([
      '--dbname', 'postgres://backup@db:5432/app', '--no-password', '--lock-wait-timeout=300000', '--format=plain',
    ]);
    expect(pgDumpArgs({ url: 'postgres://backup@db/app', format: 'custom', compression: { algorithm: 'gzip', level: 4 }, extraArgs: ['--exclude-table-data=audit'], lockWaitTimeoutMs: 1500 })).toEqual([
      '--dbname', 'postgres://backup@db/app', '--no-password', '--lock-wait-timeout=1500', '--format=custom', '--compress=4', '--exclude-table-data=audit',
    ]);
    expect(pgDumpArgs({ url: 'postgres://backup@db/app', format: 'custom', compression: { algorithm: 'zstd', level: 3 }, extraArgs: [], lockWaitTimeoutMs: 1000 })).toEqual([
      '--dbname', 'postgres://backup@db/app', '--no-password', '--format=custom', '--compress=zstd:3',
    ]);
    // plain dumps are compressed by dumptruck, whatever the algorithm
    expect(pgDumpArgs({ url: 'postgres://backup@db/app', format: 'plain', compression: { algorithm: 'zstd', level: 3 }, extraArgs: [], lockWaitTimeoutMs: 1000 })).not.toContainEqual(expect.stringMatching(/^--compress/));
  });

  it('refuses zstd in a custom archive from a pg_dump older than 16, naming the fix', () => {
    const zstd = { algorithm: 'zstd', level: 3 } as const;
    const old = { path: '/usr/lib/postgresql/15/bin/pg_dump', version: '15.18', major: 15 };
    expect(() => checkCompressionSupport(old, 'custom', zstd, 'app')).toThrow(
      expect.objectContaining({
        code: 'PG_DUMP_TOO_OLD',
        stage: 'version',
        message: 'pg_dump 15.18 (/usr/lib/postgresql/15/bin/pg_dump) cannot compress a custom-format archive with zstd: that needs pg_dump 16 or newer',
        hint: expect.stringContaining('postgresql-client-16'),
      }),
    );
    expect(() => checkCompressionSupport({ ...old, version: '16.4', major: 16 }, 'custom', zstd, 'app')).not.toThrow();
    expect(() => checkCompressionSupport(old, 'plain', zstd, 'app')).not.toThrow();
    expect(() => checkCompressionSupport(old, 'custom', { algorithm: 'gzip', level: 6 }, 'app')).not.toThrow();
  });

  it('gives the child only what pg_dump needs, with the password', () => {
    const env = pgDumpEnv(
      { PATH: '/usr/bin', SLACK_BOT_TOKEN: 'xoxb-1', AWS_SECRET_ACCESS_KEY: 's', PGSSLMODE: 'require', PGPASSWORD: 'stale', LANG: 'C.UTF-8' },
      'pw',
      'dumptruck-abc',
    );
    expect(env).toEqual({ PATH: '/usr/bin', PGSSLMODE: 'require', LANG: 'C.UTF-8', PGAPPNAME: 'dumptruck-abc', PGCONNECT_TIMEOUT: '15', PGPASSWORD: 'pw' });
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
    expect(planParts({ ...base, estimatedBytes: 100 * MIB })).toEqual({ partSize: 5 * MIB, partsInFlight: 2, maxBytes: 5 * MIB * 10_000, overBudget: false });
  });

  it('grows parts with the database so the part limit is never reached', () => {
    const plan = planParts({ ...base, estimatedBytes: 500 * GIB });
    expect(plan.partSize).toBe(205 * MIB); // 500 GiB x 4 headroom / 10,000, rounded up to MiB
    expect(plan.maxBytes).toBeGreaterThanOrEqual(4 * 500 * GIB);
    // the limit wins over the memory budget, and says so
    expect(plan).toMatchObject({ partsInFlight: 1, overBudget: true });
  });

  it('follows a stricter provider part limit', () => {
    const plan = planParts({ ...base, maxParts: 1000, estimatedBytes: 10 * GIB });
    expect(plan.partSize).toBe(41 * MIB);
    expect(plan.maxBytes).toBeGreaterThanOrEqual(40 * GIB);
  });

  it('fits parts in flight into the memory budget', () => {
    expect(planParts({ ...base, partsInFlight: 8, estimatedBytes: 1 * GIB, memoryBudgetBytes: 32 * MIB })).toMatchObject({ partSize: 5 * MIB, partsInFlight: 5, overBudget: false });
  });
});
