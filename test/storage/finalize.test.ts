import { describe, expect, it } from 'vitest';
import { copyRanges } from '../../src/storage/finalize.js';

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

describe('copyRanges', () => {
  it('covers every byte exactly once with 512 MiB parts by default', () => {
    const ranges = copyRanges(6 * GIB + 1, 10_000, 5 * GIB);
    expect(ranges.length).toBe(13);
    expect(ranges[0]).toEqual([0, 512 * MIB - 1]);
    expect(ranges.at(-1)).toEqual([12 * 512 * MIB, 6 * GIB]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1);
  });

  it('grows parts to stay within the store part limit', () => {
    const ranges = copyRanges(1000 * GIB, 1000, 5 * GIB);
    expect(ranges.length).toBeLessThanOrEqual(1000);
    expect(ranges[0]![1] + 1).toBe(Math.ceil((1000 * GIB) / 1000));
  });

  it('never goes below the 5 MiB minimum part, even when asked to', () => {
    expect(copyRanges(8 * MIB, 10_000, MIB)).toEqual([
      [0, 5 * MIB - 1],
      [5 * MIB, 8 * MIB - 1],
    ]);
  });
});
