import { describe, expect, it } from 'vitest';
import { catastrophicReason } from '../../src/config/pattern-safety.js';

describe('catastrophicReason', () => {
  it.each([
    'dump did not finish',
    'BCK-\\d{3}',
    '^\\[TEST\\]',
    'backup.*failed',
    '\\d+\\s*failed',
    '(\\d{1,3}\\.){3}',
    '(a|b)*c',
    '(?<db>[a-z]+)-prod backup failed',
    '[\\s\\S]{0,300}?status',
    '\\p{L}+\\s+\\p{L}+',
    '(?<![a-z])db(?=-)',
  ])('passes %s', (source) => {
    expect(catastrophicReason(source)).toBeUndefined();
  });

  it.each([
    ['(a+)+', 'a repeated group "(a+)+" contains another repeat ("a+")'],
    ['(\\s*x?)*y', 'a repeated group "(\\s*x?)*" contains another repeat ("\\s*")'],
    ['(?:\\s*x){2,5}', 'a repeated group "(?:\\s*x){2,5}" contains another repeat ("\\s*")'],
    ['(?:(?:ab)+c)+', 'a repeated group "(?:(?:ab)+c)+" contains another repeat ("(?:ab)+")'],
    ['(\\w|\\d)+$', 'a repeated group "(\\w|\\d)+" has alternatives that can match the same text ("\\w" and "\\d")'],
    [
      'status\\s*:?\\s*failed',
      'two unbounded repeats ("\\s*" and "\\s*") can match the same characters with nothing required between them',
    ],
    ['backup.*\\s+failed', 'two unbounded repeats (".*" and "\\s+") can match the same characters with nothing required between them'],
    [
      'x[^a]+(?:-)?\\p{Zs}{2,}',
      'two unbounded repeats ("[^a]+" and "\\p{Zs}{2,}") can match the same characters with nothing required between them',
    ],
  ])('refuses %s', (source, why) => {
    expect(catastrophicReason(source)).toBe(why);
  });
});
