import { describe, expect, it } from 'vitest';
import { CLOCK_SKEW_MS, datedInFuture } from '../../src/storage/catalog.js';

describe('datedInFuture', () => {
  const now = new Date('2026-11-22T03:00:00Z');
  const key = (stamp: string) => `p/app/2026/11/22/app_${stamp}.sql.gz`;
  it.each([
    ['an hour ago', key('20261122T020000Z'), false],
    ['now', key('20261122T030000Z'), false],
    ['within the 5-minute clock-skew allowance', key('20261122T030500Z'), false],
    ['one second beyond it', key('20261122T030501Z'), true],
    ['next year', 'p/app/2027/01/01/app_20270101T000000Z.dump', true],
    ['a key without a date', 'p/app/notes.txt', false],
  ])('%s', (_name, k, expected) => {
    expect(datedInFuture(k, now)).toBe(expected);
  });

  it('allows 5 minutes', () => {
    expect(CLOCK_SKEW_MS).toBe(300_000);
  });
});
