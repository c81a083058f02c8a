import { keyTime } from '../storage/keys.js';
import type { IgnoredItem, KeepReason, RetentionItem, RetentionRules } from '../types.js';

export type { IgnoredItem, KeepReason, RetentionItem, RetentionRules } from '../types.js';

/** Pure: `keepLast 7, keepDays 30`, as reports name the rules. */
export function describeRules(rules: RetentionRules): string {
  return [
    rules.keepLast === undefined ? '' : `keepLast ${rules.keepLast}`,
    rules.keepDays === undefined ? '' : `keepDays ${rules.keepDays}`,
  ]
    .filter(Boolean)
    .join(', ');
}

/** A backup as retention sees it. */
export interface RetentionCandidate {
  readonly key: string;
  /** Empty, much smaller than usual, or its verification failed (a `.flagged` marker): it never fills keepLast/keepDays. */
  readonly flagged?: boolean;
}

export interface RetentionPlan {
  /** Newest first. */
  readonly keep: readonly RetentionItem[];
  /** Newest first. */
  readonly delete: readonly RetentionItem[];
  /** Keys dated in the future: never counted, never deleted. */
  readonly ignored: readonly IgnoredItem[];
}

const DAY_MS = 86_400_000;
/** Clock skew between hosts that may write backups; a key dated later than this is not a real backup. */
export const MAX_SKEW_MS = 5 * 60_000;

/** Pure: whether a backup key is dated beyond `now` plus the clock skew allowed (a planted object, or a host with a wrong clock). */
export function isFutureKey(key: string, now: Date): boolean {
  const time = keyTime(key);
  return time !== undefined && time.getTime() > now.getTime() + MAX_SKEW_MS;
}

export const FUTURE = 'dated in the future';

/**
 * Pure: which of a target's backups the rules keep and which go. Ages come from the UTC time in
 * each key (not LastModified, which the metadata copy and replication rewrite); keys without one
 * are not backups and are left out of the plan. A backup exactly keepDays old is no longer
 * younger than keepDays, so it goes.
 *
 * A key dated in the future would otherwise be "the newest" and fill keepLast, pushing out the
 * backup just written: such keys are left out (and left alone). Flagged backups do not count for
 * keepLast or keepDays, so a run of suspect backups never pushes a good one out.
 */
export function planRetention(
  objects: readonly RetentionCandidate[],
  rules: RetentionRules,
  now: Date,
  newestVerifiedKey: string | undefined,
  /**
   * Backups newer than the newest verified one whose `.verified` marker could not be proven (see
   * newestVerified): kept, so that a marker overwritten by someone who can write to the bucket,
   * or one written before markers were signed, never makes its backup deletable.
   */
  unprovenMarkers: ReadonlySet<string> = new Set(),
): RetentionPlan {
  const ignored: IgnoredItem[] = [];
  const dated: { key: string; time: Date; flagged: boolean }[] = [];
  for (const o of objects) {
    const time = keyTime(o.key);
    if (time === undefined) continue;
    if (isFutureKey(o.key, now)) ignored.push({ key: o.key, why: FUTURE });
    else dated.push({ key: o.key, time, flagged: o.flagged === true });
  }
  dated.sort((a, b) => b.time.getTime() - a.time.getTime() || (a.key < b.key ? 1 : -1));
  const keep: RetentionItem[] = [];
  const drop: RetentionItem[] = [];
  let good = 0;
  dated.forEach((o, index) => {
    const ageMs = now.getTime() - o.time.getTime();
    const reasons: KeepReason[] = [];
    if (index === 0 || (!o.flagged && good === 0)) reasons.push('newest');
    if (!o.flagged) {
      if (rules.keepLast !== undefined && good < rules.keepLast) reasons.push('last');
      if (rules.keepDays !== undefined && ageMs < rules.keepDays * DAY_MS) reasons.push('days');
      good++;
    }
    if (o.key === newestVerifiedKey && !o.flagged) reasons.push('verified');
    if (unprovenMarkers.has(o.key)) reasons.push('unproven verified marker');
    (reasons.length > 0 ? keep : drop).push({ key: o.key, time: o.time, ageDays: ageMs / DAY_MS, flagged: o.flagged, reasons });
  });
  return { keep, delete: drop, ignored };
}
