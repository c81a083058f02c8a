import { describe, expect, it } from 'vitest';
import { parseRestoreArgs } from '../../src/cli/restore.js';
import { userMessage } from '../../src/errors.js';
import { decodingFor } from '../../src/restore/decompress.js';
import { asideName, restoringName } from '../../src/restore/server.js';
import { parseCommand } from '../../src/slack/commands/parse.js';

// `/backup restore ...` and `dumptruck restore ...` words, and the small pure pieces of a restore.

const KEY = 'dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz';
const slack = (text: string) => parseCommand(text, ['app-db']);

describe('/backup restore', () => {
  it.each([
    ['restore app-db into app_copy', { key: 'latest', database: 'app_copy', replace: false, fromMirror: false }],
    ['restore app-db latest into app_copy', { key: 'latest', database: 'app_copy', replace: false, fromMirror: false }],
    [`restore app-db \`${KEY}\` INTO app_copy replace`, { key: KEY, database: 'app_copy', replace: true, fromMirror: false }],
    ['restore app-db into app_copy from mirror', { key: 'latest', database: 'app_copy', replace: false, fromMirror: true }],
    ['restore app-db into app replace from mirror', { key: 'latest', database: 'app', replace: true, fromMirror: true }],
  ])('%s', (text, expected) => {
    expect(slack(text)).toEqual({ kind: 'restore', target: 'app-db', ...expected });
  });

  it('refuses a missing destination and stray words, with the usage', () => {
    expect(() => slack('restore app-db latest')).toThrow('into which database?');
    expect(() => slack('restore app-db a b into x')).toThrow('into which database?');
    const stray = (() => {
      try {
        slack('restore app-db into x now please');
      } catch (err) {
        return userMessage(err);
      }
    })();
    expect(stray).toBe(
      'unexpected words after the database: `now please`\nUsage: `/backup restore <target> [key|latest] into <database> [replace] [from mirror]`.',
    );
  });
});

describe('dumptruck restore arguments', () => {
  it('target, optional key, --into, and the flags', () => {
    expect(parseRestoreArgs(['app-db', '--into', 'x'])).toEqual({
      target: 'app-db',
      key: undefined,
      database: 'x',
      yes: false,
      replace: false,
      source: 'primary',
      trustLegacy: false,
    });
    expect(parseRestoreArgs(['app-db', KEY, '--into=x', '--yes', '--replace', '--from-mirror', '--trust-legacy'])).toEqual({
      target: 'app-db',
      key: KEY,
      database: 'x',
      yes: true,
      replace: true,
      source: 'mirror',
      trustLegacy: true,
    });
    expect(() => parseRestoreArgs(['app-db'])).toThrow('restore takes a target, an optional key and --into <database>');
    expect(() => parseRestoreArgs(['app-db', '--into', 'x', '--force'])).toThrow('unknown option "--force"');
  });
});

describe('decodingFor and asideName', () => {
  it('chooses decompression and tool by the key suffix, and refuses others', () => {
    expect(decodingFor('a.sql.gz').tool).toBe('psql');
    expect(decodingFor('a.dump').tool).toBe('pg_restore');
    expect(decodingFor('a.sql.zst').tool).toBe('psql');
    expect(decodingFor('a.sql.gz').encrypted).toBe(false);
    expect(decodingFor('a.sql.zst.age')).toMatchObject({ tool: 'psql', encrypted: true });
    expect(decodingFor('a.dump.age')).toMatchObject({ tool: 'pg_restore', encrypted: true });
    expect(() => decodingFor('x/a.sql.bz2')).toThrow('don\'t know how to restore "a.sql.bz2"');
  });

  it('keeps the renamed-aside and restoring names within 63 bytes, random tail intact', () => {
    expect(asideName('app', '20261128T080000Z', '1f2e3d4c')).toBe('app_before_restore_20261128T080000Z_1f2e3d4c');
    expect(asideName('d'.repeat(63), '20261128T080000Z', '1f2e3d4c')).toMatch(/^d{22}_before_restore_20261128T080000Z_1f2e3d4c$/);
    expect(restoringName('app', '1f2e3d4c')).toBe('app_restoring_1f2e3d4c');
    expect(restoringName('d'.repeat(63), '1f2e3d4c')).toMatch(/^d{44}_restoring_1f2e3d4c$/);
  });
});
