import { describe, expect, it } from 'vitest';
import { isOurs, snapshotIdentifier, snapshotTags, tagValue } from '../../src/snapshots/names.js';

// RDS: 1-255 letters, digits and hyphens, first a letter, no double hyphen, no trailing hyphen.
const RDS_SNAPSHOT_ID = /^[a-z](?!.*--)[a-z0-9-]{0,254}(?<!-)$/;
const at = new Date('2024-05-01T03:04:05.678Z');

describe('snapshotIdentifier', () => {
  it('names the target and the UTC time, lowercase as RDS keeps it', () => {
    expect(snapshotIdentifier('app-db', at)).toBe('dumptruck-app-db-20240501t030405z');
  });

  it('turns target names RDS would refuse into valid identifiers', () => {
    for (const target of ['app_db', 'a--b', 'db-', '9lives', 'x', 'a'.repeat(63), 'a_-_b']) {
      const id = snapshotIdentifier(target, at);
      expect(id, target).toMatch(RDS_SNAPSHOT_ID);
      expect(id.length).toBeLessThanOrEqual(255);
    }
    expect(snapshotIdentifier('app_db', at)).toBe('dumptruck-app-db-20240501t030405z');
    expect(snapshotIdentifier('a--b', at)).toBe('dumptruck-a-b-20240501t030405z');
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
