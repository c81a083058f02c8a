import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backupHmac, flagHmac, provenance, verifiedHmac, verifiedTrusted } from '../../src/storage/hmac.js';

const SECRET = 'k'.repeat(32);
const KEY = 'p/app/2026/01/02/app_20260102T030405Z.sql.gz';
const SHA = 'a'.repeat(64);

describe('backupHmac', () => {
  it('is HMAC-SHA256 of a versioned [key, sha256] pair, hex', () => {
    expect(backupHmac(SECRET, KEY, SHA)).toBe('69882df96ae6b98c1d776b19e1b689b0b73eb47b4c8b22c370a2afb712457ddd');
    expect(backupHmac(SECRET, KEY, SHA)).toBe(expectedFor(KEY, SHA));
    // The checksum's case does not matter; the key's does.
    expect(backupHmac(SECRET, KEY, SHA.toUpperCase())).toBe(backupHmac(SECRET, KEY, SHA));
  });

  it('changes with the secret, the key and the checksum, and cannot be shifted between the two fields', () => {
    const base = backupHmac(SECRET, KEY, SHA);
    expect(backupHmac('x'.repeat(32), KEY, SHA)).not.toBe(base);
    expect(backupHmac(SECRET, KEY.replace('2026', '2099'), SHA)).not.toBe(base);
    expect(backupHmac(SECRET, KEY, 'b'.repeat(64))).not.toBe(base);
    expect(backupHmac(SECRET, 'ab', 'c')).not.toBe(backupHmac(SECRET, 'a', 'bc'));
  });
});

describe('provenance', () => {
  const good = backupHmac(SECRET, KEY, SHA);
  it.each([
    ['trusted: the HMAC of this key and checksum', SHA, good, 'trusted'],
    ['trusted, whatever the hex case', SHA, good.toUpperCase(), 'trusted'],
    ['unsigned: no HMAC', SHA, undefined, 'unsigned'],
    ['unsigned: an empty HMAC', SHA, '', 'unsigned'],
    ['forged: another checksum', 'b'.repeat(64), good, 'forged'],
    ['forged: no checksum', undefined, good, 'forged'],
    ['forged: not hex', SHA, 'z'.repeat(64), 'forged'],
    ['forged: too short', SHA, good.slice(0, 62), 'forged'],
    ['forged: one digit off', SHA, `${good.slice(0, 63)}${good.endsWith('0') ? '1' : '0'}`, 'forged'],
  ] as const)('%s', (_name, sha, recorded, expected) => {
    expect(provenance(SECRET, KEY, sha, recorded)).toBe(expected);
  });

  it('an HMAC copied to another key, or checked with another secret, is forged', () => {
    expect(provenance(SECRET, KEY.replace('2026/01/02', '2099/01/02'), SHA, good)).toBe('forged');
    expect(provenance('y'.repeat(32), KEY, SHA, good)).toBe('forged');
  });
});

describe('verified markers', () => {
  it('are signed over [purpose, key, checksum], apart from backups and flags', () => {
    expect(verifiedHmac(SECRET, KEY, SHA)).toBe(
      createHmac('sha256', SECRET).update(`["dumptruck-verified-v1","verified","${KEY}","${SHA}"]`).digest('hex'),
    );
    expect(verifiedHmac(SECRET, KEY, SHA.toUpperCase())).toBe(verifiedHmac(SECRET, KEY, SHA));
    expect(verifiedHmac(SECRET, KEY, SHA)).not.toBe(backupHmac(SECRET, KEY, SHA));
    expect(verifiedHmac(SECRET, KEY, SHA)).not.toBe(flagHmac(SECRET, KEY, [SHA]));
  });

  it('are trusted only for the same key, checksum and secret, and only as 64 lower-case hex digits', () => {
    const good = verifiedHmac(SECRET, KEY, SHA);
    expect(verifiedTrusted(SECRET, KEY, SHA, good)).toBe(true);
    expect(verifiedTrusted(SECRET, KEY, 'b'.repeat(64), good)).toBe(false);
    expect(verifiedTrusted(SECRET, KEY.replace('2026', '2099'), SHA, good)).toBe(false);
    expect(verifiedTrusted('y'.repeat(32), KEY, SHA, good)).toBe(false);
    expect(verifiedTrusted(SECRET, KEY, SHA, backupHmac(SECRET, KEY, SHA))).toBe(false);
    for (const recorded of [undefined, '', 42, good.slice(0, 62), good.toUpperCase(), 'z'.repeat(64)]) {
      expect(verifiedTrusted(SECRET, KEY, SHA, recorded)).toBe(false);
    }
  });
});

function expectedFor(key: string, sha: string): string {
  return createHmac('sha256', SECRET).update(`["dumptruck-backup-v1","${key}","${sha}"]`).digest('hex');
}
