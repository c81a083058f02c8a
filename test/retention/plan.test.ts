import { describe, expect, it } from 'vitest';
import { planRetention } from '../../src/retention/plan.js';
import { objectKey } from '../../src/storage/keys.js';

const now = new Date('2026-11-22T03:00:00Z');
const day = 86_400_000;
/** A key for a backup `days` before now. */
const ago = (days: number, target = 'app') => objectKey('p', target, new Date(now.getTime() - days * day), 'plain');
const keys = (items: readonly { key: string }[]) => items.map((i) => i.key);

describe('planRetention', () => {
  // Ten daily backups, 0.5 to 9.5 days old, listed in no particular order.
  const daily = [3.5, 0.5, 9.5, 1.5, 7.5, 2.5, 5.5, 4.5, 8.5, 6.5].map((d) => ({ key: ago(d) }));

  it('keepLast keeps exactly the newest N and deletes the rest, newest first', () => {
    const plan = planRetention(daily, { keepLast: 3 }, now, undefined);
    expect(keys(plan.keep)).toEqual([ago(0.5), ago(1.5), ago(2.5)]);
    expect(keys(plan.delete)).toEqual([3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5].map((d) => ago(d)));
    expect(plan.keep.map((i) => i.reasons)).toEqual([['newest', 'last'], ['last'], ['last']]);
    expect(plan.delete.every((i) => i.reasons.length === 0)).toBe(true);
  });

  it('keepDays keeps what is younger than D days; exactly D days old goes', () => {
    const objects = [{ key: ago(0) }, { key: ago(1) }, { key: ago(2.999) }, { key: ago(3) }, { key: ago(3.001) }];
    const plan = planRetention(objects, { keepDays: 3 }, now, undefined);
    expect(keys(plan.keep)).toEqual([ago(0), ago(1), ago(2.999)]);
    expect(keys(plan.delete)).toEqual([ago(3), ago(3.001)]);
    expect(plan.delete.map((i) => Math.round(i.ageDays))).toEqual([3, 3]);
  });

  it('keeps an object when any rule keeps it', () => {
    const plan = planRetention(daily, { keepLast: 2, keepDays: 4 }, now, undefined);
    expect(keys(plan.keep)).toEqual([0.5, 1.5, 2.5, 3.5].map((d) => ago(d)));
    expect(plan.keep.map((i) => i.reasons)).toEqual([['newest', 'last', 'days'], ['last', 'days'], ['days'], ['days']]);
    expect(keys(plan.delete)).toEqual([4.5, 5.5, 6.5, 7.5, 8.5, 9.5].map((d) => ago(d)));
  });

  it('keeps the backups whose .verified marker could not be proven, with that reason', () => {
    const plan = planRetention(daily, { keepLast: 1 }, now, ago(8.5), new Set([ago(0.5), ago(4.5)]));
    expect(plan.keep.map((i) => [i.key, i.reasons])).toEqual([
      [ago(0.5), ['newest', 'last', 'unproven verified marker']],
      [ago(4.5), ['unproven verified marker']],
      [ago(8.5), ['verified']],
    ]);
    expect(keys(plan.delete)).toEqual([1.5, 2.5, 3.5, 5.5, 6.5, 7.5, 9.5].map((d) => ago(d)));
  });

  it('never deletes the newest verified backup', () => {
    const plan = planRetention(daily, { keepLast: 2 }, now, ago(6.5));
    expect(keys(plan.keep)).toEqual([ago(0.5), ago(1.5), ago(6.5)]);
    expect(plan.keep.at(-1)!.reasons).toEqual(['verified']);
    expect(keys(plan.delete)).not.toContain(ago(6.5));
  });

  it('never deletes the newest backup, even when every backup is older than keepDays', () => {
    const old = [{ key: ago(40) }, { key: ago(50) }];
    const plan = planRetention(old, { keepDays: 30 }, now, undefined);
    expect(keys(plan.keep)).toEqual([ago(40)]);
    expect(plan.keep[0]!.reasons).toEqual(['newest']);
    expect(keys(plan.delete)).toEqual([ago(50)]);
  });

  it('dates backups by the time in their key and leaves keys without one out', () => {
    const plan = planRetention(
      [{ key: ago(1) }, { key: 'p/app/notes.txt' }, { key: `${ago(9)}.verified` }, { key: ago(9) }],
      { keepLast: 1 },
      now,
      undefined,
    );
    expect(keys(plan.keep)).toEqual([ago(1)]);
    expect(keys(plan.delete)).toEqual([ago(9)]);
    expect(plan.keep[0]!.time.toISOString()).toBe(new Date(now.getTime() - day).toISOString().replace(/\.\d{3}Z$/, '.000Z'));
  });

  it('an empty target plans nothing', () => {
    expect(planRetention([], { keepLast: 1 }, now, undefined)).toEqual({ keep: [], delete: [], ignored: [] });
  });

  it('flagged backups never fill keepLast: after a shrink, the good backups before it stay', () => {
    // Four good backups, then four flagged ones (a truncated table), newest first in time.
    const objects = [
      ...[0.5, 1.5, 2.5, 3.5].map((d) => ({ key: ago(d), flagged: true })),
      ...[4.5, 5.5, 6.5, 7.5].map((d) => ({ key: ago(d) })),
    ];
    const plan = planRetention(objects, { keepLast: 3 }, now, undefined);
    expect(plan.keep.map((i) => [i.key, i.reasons, i.flagged])).toEqual([
      [ago(0.5), ['newest'], true],
      [ago(4.5), ['newest', 'last'], false],
      [ago(5.5), ['last'], false],
      [ago(6.5), ['last'], false],
    ]);
    expect(keys(plan.delete)).toEqual([1.5, 2.5, 3.5, 7.5].map((d) => ago(d)));
  });

  it('flagged backups are not kept by keepDays, and the newest unflagged backup stays even when older than keepDays', () => {
    const objects = [{ key: ago(1), flagged: true }, { key: ago(2), flagged: true }, { key: ago(40) }, { key: ago(50) }];
    const plan = planRetention(objects, { keepDays: 30 }, now, undefined);
    expect(plan.keep.map((i) => [i.key, i.reasons])).toEqual([
      [ago(1), ['newest']],
      [ago(40), ['newest']],
    ]);
    expect(keys(plan.delete)).toEqual([ago(2), ago(50)]);
  });

  it('never deletes the newest unflagged verified backup; a flagged one is not protected by its marker', () => {
    const objects = [{ key: ago(1) }, { key: ago(2) }, { key: ago(3), flagged: true }, { key: ago(4) }];
    expect(keys(planRetention(objects, { keepLast: 1 }, now, ago(4)).keep)).toEqual([ago(1), ago(4)]);
    expect(keys(planRetention(objects, { keepLast: 1 }, now, ago(3)).keep)).toEqual([ago(1)]);
  });

  it('leaves keys dated in the future out: they are never counted, never deleted, and never push out the newest real backup', () => {
    const future = [1, 2, 3].map((d) => ago(-d));
    const objects = [...future.map((key) => ({ key })), { key: ago(0) }, { key: ago(1) }, { key: ago(2) }];
    const plan = planRetention(objects, { keepLast: 2 }, now, undefined);
    expect(keys(plan.keep)).toEqual([ago(0), ago(1)]);
    expect(plan.keep[0]!.reasons).toEqual(['newest', 'last']);
    expect(keys(plan.delete)).toEqual([ago(2)]);
    expect(plan.ignored).toEqual(future.map((key) => ({ key, why: 'dated in the future' })));
    // Within the clock skew allowed between hosts, a key is still a backup.
    const skewed = objectKey('p', 'app', new Date(now.getTime() + 4 * 60_000), 'plain');
    expect(keys(planRetention([{ key: skewed }, { key: ago(1) }], { keepLast: 1 }, now, undefined).keep)).toEqual([skewed]);
  });
});
