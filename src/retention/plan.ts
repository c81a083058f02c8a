import { keyTime } from '../storage/keys.js';
import type { KeepReason, RetentionItem, RetentionRules } from '../types.js';

export type { KeepReason, RetentionItem, RetentionRules } from '../types.js';

/** Pure: `keepLast 7, keepDays 30`, as reports name the rules. */
export function describeRules(rules: RetentionRules): string {
  return [rules.keepLast === undefined ? '' : `keepLast ${rules.keepLast}`, rules.keepDays === undefined ? '' : `keepDays ${rules.keepDays}`].filter(Boolean).join(', ');
}

export interface RetentionPlan {
  /** Newest first. */
  readonly keep: readonly RetentionItem[];
  /** Newest first. */
  readonly delete: readonly RetentionItem[];
}

const DAY_MS = 86_400_000;

/**
 * Pure: which of a target's backups the rules keep and which go. Ages come from the UTC time in
 * each key (not LastModified, which the metadata copy and replication rewrite); keys without one
 * are not backups and are left out of the plan. A backup exactly keepDays old is no longer
 * younger than keepDays, so it goes.
 */
export function planRetention(objects: readonly { readonly key: string }[], rules: RetentionRules, now: Date, newestVerifiedKey: string | undefined): RetentionPlan {
  const dated = objects
    .map((o) => ({ key: o.key, time: keyTime(o.key) }))
    .filter((o): o is { key: string; time: Date } => o.time !== undefined)
    .sort((a, b) => b.time.getTime() - a.time.getTime() || (a.key < b.key ? 1 : -1));
  const keep: RetentionItem[] = [];
  const drop: RetentionItem[] = [];
  dated.forEach((o, index) => {
    const ageMs = now.getTime() - o.time.getTime();
    const reasons: KeepReason[] = [];
    if (index === 0) reasons.push('newest');
    if (rules.keepLast !== undefined && index < rules.keepLast) reasons.push('last');
    if (rules.keepDays !== undefined && ageMs < rules.keepDays * DAY_MS) reasons.push('days');
    if (o.key === newestVerifiedKey) reasons.push('verified');
    (reasons.length > 0 ? keep : drop).push({ key: o.key, time: o.time, ageDays: ageMs / DAY_MS, reasons });
  });
  return { keep, delete: drop };
}
