import { describe, expect, it } from 'vitest';
import { isOurs, snapshotIdentifier, snapshotTags, tagValue } from '../../src/snapshots/names.js';

// RDS: 1-255 letters, digits and hyphens, first a letter, no double hyphen, no trailing hyphen.
const RDS_SNAPSHOT_ID = /^[a-z](?!.*--)[a-z0-9-]{0,254}(?<!-)$/;
const at = new Date('2024-05-01T03:04:05.678Z');

describe('snapshotIdentifier', () => {
  it('names the target and the UTC time, then the milliseconds and the run token, lowercase as RDS keeps it', () => {
    expect(snapshotIdentifier('app-db', at, 'c0ffee')).toBe('dumptruck-app-db-20240501t030405z-678-c0ffee');
  });

  it('two runs in the same second get two identifiers', () => {
    const same = new Date('2024-05-01T03:04:05.000Z');
    expect(snapshotIdentifier('app-db', same, 'aaaaaa')).not.toBe(snapshotIdentifier('app-db', same, 'bbbbbb'));
    expect(snapshotIdentifier('app-db', same, 'aaaaaa')).not.toBe(
      snapshotIdentifier('app-db', new Date('2024-05-01T03:04:05.001Z'), 'aaaaaa'),
    );
  });

  it('turns target names RDS would refuse into valid identifiers, and keeps the time and token whatever the length', () => {
    for (const target of ['app_db', 'a--b', 'db-', '9lives', 'x', 'a'.repeat(63), 'a_-_b', '_', 'a'.repeat(300), `${'a'.repeat(219)}-b`]) {
      const id = snapshotIdentifier(target, at, 'c0ffee');
      expect(id, target).toMatch(RDS_SNAPSHOT_ID);
      expect(id.length).toBeLessThanOrEqual(255);
      expect(id, target).toMatch(/-20240501t030405z-678-c0ffee$/);
    }
    expect(snapshotIdentifier('app_db', at, 'c0ffee')).toBe('dumptruck-app-db-20240501t030405z-678-c0ffee');
    expect(snapshotIdentifier('a--b', at, 'c0ffee')).toBe('dumptruck-a-b-20240501t030405z-678-c0ffee');
    expect(snapshotIdentifier('_', at, 'c0ffee')).toBe('dumptruck-20240501t030405z-678-c0ffee');
    expect(snapshotIdentifier('a'.repeat(300), at, 'c0ffee')).toHaveLength(255);
  });

  it('refuses a malformed run token rather than write a name nothing would parse', () => {
    expect(() => snapshotIdentifier('app-db', at, 'C0FFEE')).toThrow('run token must be 6 hex digits, got "C0FFEE"');
  });
});

describe('tags', () => {
  it('carry the audit trail: target, creator, who asked and from where, the job', () => {
    expect(snapshotTags('app-db', { kind: 'slack', by: 'U0123', detail: 'C0OPS' }, 'ab12cd34')).toEqual([
      { Key: 'dumptruck:target', Value: 'app-db' },
      { Key: 'dumptruck:created-by', Value: 'dumptruck' },
      { Key: 'dumptruck:requested-by', Value: 'slack:U0123' },
      { Key: 'dumptruck:source', Value: 'C0OPS' },
      { Key: 'dumptruck:job', Value: 'ab12cd34' },
    ]);
    expect(snapshotTags('app-db', { kind: 'cli', by: 'alice' }, 'j')[3]).toEqual({ Key: 'dumptruck:source', Value: 'cli' });
  });

  it('values keep to the characters RDS allows, at most 256', () => {
    expect(tagValue('catch-up for the missed 2024-05-01T02:00:00.000Z run (0 2 * * *)')).toBe(
      'catch-up for the missed 2024-05-01T02:00:00.000Z run _0 2 _ _ __',
    );
    expect(tagValue('x'.repeat(300))).toHaveLength(256);
    expect(tagValue('')).toBe('-');
  });

  it('ours means created by dumptruck for this very target', () => {
    expect(isOurs({ 'dumptruck:created-by': 'dumptruck', 'dumptruck:target': 'app-db' }, 'app-db')).toBe(true);
    expect(isOurs({ 'dumptruck:created-by': 'dumptruck', 'dumptruck:target': 'other' }, 'app-db')).toBe(false);
    expect(isOurs({ 'dumptruck:target': 'app-db' }, 'app-db')).toBe(false);
    expect(isOurs({}, 'app-db')).toBe(false);
  });
});
