import { describe, expect, it } from 'vitest';
import {
  compactTimestamp,
  fileName,
  formatOfKey,
  hasRunToken,
  isBackupKeyOf,
  isEncryptedKey,
  keySuffix,
  keyTime,
  objectKey,
  targetPrefix,
} from '../../src/storage/keys.js';

const at = new Date('2026-03-04T05:06:07.890Z');

describe('object keys', () => {
  it('follows the contract for plain and custom dumps', () => {
    expect(objectKey('dumptruck', 'app-db', at, 'plain')).toBe('dumptruck/app-db/2026/03/04/app-db_20260304T050607Z.sql.gz');
    expect(objectKey('dumptruck', 'app-db', at, 'custom')).toBe('dumptruck/app-db/2026/03/04/app-db_20260304T050607Z.dump');
  });

  it('has no leading slash without a prefix, and nested prefixes work', () => {
    expect(objectKey('', 'x', at, 'plain')).toBe('x/2026/03/04/x_20260304T050607Z.sql.gz');
    expect(objectKey('a/b', 'x', at, 'plain')).toBe('a/b/x/2026/03/04/x_20260304T050607Z.sql.gz');
  });

  it('uses UTC whatever the local zone', () => {
    expect(compactTimestamp(new Date('2026-12-31T23:59:59Z'))).toBe('20261231T235959Z');
  });

  it('recognises only its own keys for a target', () => {
    const key = objectKey('p', 'app-db', at, 'plain');
    expect(isBackupKeyOf('p', 'app-db', key)).toBe(true);
    expect(isBackupKeyOf('p', 'app', key)).toBe(false);
    expect(isBackupKeyOf('p', 'app-db', 'p/app-db/../other/2026/03/04/app-db_20260304T050607Z.sql.gz')).toBe(false);
    expect(isBackupKeyOf('p', 'app-db', 'p/other-db/2026/03/04/app-db_20260304T050607Z.sql.gz')).toBe(false);
    expect(isBackupKeyOf('p', 'app-db', `${key}.bak`)).toBe(false);
    expect(targetPrefix('p', 'app-db')).toBe('p/app-db/');
    expect(fileName(key)).toBe('app-db_20260304T050607Z.sql.gz');
  });

  it('encrypted backups end in .age, after the format', () => {
    const date = new Date('2026-03-04T05:06:07Z');
    const plain = objectKey('p', 'app-db', date, 'plain', { encrypted: true });
    const custom = objectKey('p', 'app-db', date, 'custom', { encrypted: true });
    expect([plain, custom]).toEqual([
      'p/app-db/2026/03/04/app-db_20260304T050607Z.sql.gz.age',
      'p/app-db/2026/03/04/app-db_20260304T050607Z.dump.age',
    ]);
    expect([
      isBackupKeyOf('p', 'app-db', plain),
      isBackupKeyOf('p', 'app-db', custom),
      isBackupKeyOf('p', 'app-db', `${plain}.age`),
    ]).toEqual([true, true, false]);
    expect([formatOfKey(plain), formatOfKey(custom), formatOfKey(objectKey('p', 'app-db', date, 'custom'))]).toEqual([
      'plain',
      'custom',
      'custom',
    ]);
    expect([isEncryptedKey(plain), isEncryptedKey(objectKey('p', 'app-db', date, 'plain'))]).toEqual([true, false]);
    expect(keyTime(custom)).toEqual(date);
    // The size check compares a backup only with earlier ones stored the same way.
    expect([keySuffix(plain), keySuffix(custom), keySuffix(objectKey('p', 'app-db', date, 'plain'))]).toEqual([
      '.sql.gz.age',
      '.dump.age',
      '.sql.gz',
    ]);
  });

  it("makes each run's key unique with milliseconds and a run token after the contract's timestamp", () => {
    expect(objectKey('dumptruck', 'app-db', at, 'plain', { runToken: '3f9a1c' })).toBe(
      'dumptruck/app-db/2026/03/04/app-db_20260304T050607Z-890-3f9a1c.sql.gz',
    );
    expect(objectKey('dumptruck', 'app-db', at, 'custom', { runToken: '00ff00' })).toBe(
      'dumptruck/app-db/2026/03/04/app-db_20260304T050607Z-890-00ff00.dump',
    );
    // Two runs in the same second (even the same millisecond) differ by their token.
    expect(objectKey('p', 'x', at, 'plain', { runToken: 'aaaaaa' })).not.toBe(objectKey('p', 'x', at, 'plain', { runToken: 'bbbbbb' }));
    expect(() => objectKey('p', 'x', at, 'plain', { runToken: '../etc' })).toThrow('run token must be 6 hex digits, got "../etc"');
  });

  it('recognises and dates keys with and without the run suffix', () => {
    const unique = objectKey('p', 'app-db', at, 'plain', { runToken: '3f9a1c' });
    const old = objectKey('p', 'app-db', at, 'plain');
    expect(isBackupKeyOf('p', 'app-db', unique)).toBe(true);
    expect(isBackupKeyOf('p', 'app-db', old)).toBe(true);
    expect(keyTime(unique)?.toISOString()).toBe('2026-03-04T05:06:07.890Z');
    expect(keyTime(old)?.toISOString()).toBe('2026-03-04T05:06:07.000Z');
    expect(isBackupKeyOf('p', 'app-db', 'p/app-db/2026/03/04/app-db_20260304T050607Z-890-3F9A1C.sql.gz')).toBe(false);
    expect(isBackupKeyOf('p', 'app-db', 'p/app-db/2026/03/04/app-db_20260304T050607Z-3f9a1c.sql.gz')).toBe(false);
    expect(isBackupKeyOf('p', 'app-db', `${unique}.verified`)).toBe(false);
    expect(keyTime(`${unique}.verified`)).toBeUndefined();
    // Within a second, the later millisecond sorts first in a reverse key sort (newest first).
    const later = objectKey('p', 'app-db', new Date(at.getTime() + 5), 'plain', { runToken: '000000' });
    expect([unique, later].sort().reverse()).toEqual([later, unique]);
  });
});

describe('hasRunToken', () => {
  it('tells keys written with a run token (always signed) from the older second-resolution ones', () => {
    const at = new Date(Date.UTC(2026, 10, 22, 3, 4, 5, 678));
    for (const format of ['plain', 'custom'] as const) {
      expect(hasRunToken(objectKey('p', 'app', at, format, { runToken: '3f9a1c' }))).toBe(true);
      expect(hasRunToken(objectKey('p', 'app', at, format, { runToken: '3f9a1c', algorithm: 'zstd', encrypted: true }))).toBe(true);
      expect(hasRunToken(objectKey('p', 'app', at, format))).toBe(false);
      expect(hasRunToken(objectKey('p', 'app', at, format, { encrypted: true }))).toBe(false);
    }
    // A target whose name looks like a stamp does not give a legacy key a token.
    expect(hasRunToken('p/x_20261122T030405Z-678-3f9a1c/2019/01/01/x_20261122T030405Z-678-3f9a1c_20190101T000000Z.sql.gz')).toBe(false);
  });
});
