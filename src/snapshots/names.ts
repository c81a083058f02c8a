import { compactTimestamp, runSuffix } from '../storage/keys.js';
import type { Trigger } from '../types.js';

// Snapshot identifiers and the tags that make a snapshot ours. Pure.

/** Tag keys: the audit trail on every snapshot dumptruck creates, and how retention recognises its own. */
export const TAG = {
  target: 'dumptruck:target',
  createdBy: 'dumptruck:created-by',
  requestedBy: 'dumptruck:requested-by',
  source: 'dumptruck:source',
  job: 'dumptruck:job',
} as const;

/** The value of dumptruck:created-by; the IAM policy's delete condition names it too. */
export const CREATED_BY = 'dumptruck';

export const SNAPSHOT_PREFIX = 'dumptruck-';

/** RDS's longest DB snapshot identifier. */
const MAX_IDENTIFIER = 255;

/**
 * `dumptruck-<target>-<yyyymmddthhmmssz>-<mmm>-<run>` in the form RDS keeps it: lowercase (RDS
 * lowercases identifiers, and following the snapshot compares them), letters, digits and single
 * hyphens, starting with a letter, at most 255 characters. The milliseconds and the run token (as
 * in a backup's key) keep two snapshots of one target started in the same second apart: RDS would
 * refuse the second with DBSnapshotAlreadyExists. Target names may hold `_` and runs of `-`,
 * which RDS refuses; the target tag, not the name, says whose a snapshot is.
 */
export function snapshotIdentifier(target: string, at: Date, runToken: string): string {
  const suffix = `${compactTimestamp(at)}${runSuffix(at, runToken)}`.toLowerCase();
  const room = MAX_IDENTIFIER - SNAPSHOT_PREFIX.length - suffix.length - 1;
  const name = target
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, room)
    .replace(/^-+|-+$/g, '');
  return `${SNAPSHOT_PREFIX}${name ? `${name}-` : ''}${suffix}`;
}

/** RDS tag values: at most 256 of letters, digits, spaces and `_ . : / = + - @`. */
export function tagValue(text: string): string {
  const clean = text.replace(/[^\p{L}\p{N}\s_.:/=+\-@]/gu, '_').slice(0, 256);
  return clean || '-';
}

/** Who asked, as the tag records it: `slack:U0123`, `cli:alice`, `alert:<ts>`, `schedule:scheduler`. */
export function requestedBy(trigger: Trigger): string {
  return `${trigger.kind}:${trigger.by}`;
}

export function snapshotTags(target: string, trigger: Trigger, jobId: string): Array<{ Key: string; Value: string }> {
  return [
    { Key: TAG.target, Value: tagValue(target) },
    { Key: TAG.createdBy, Value: CREATED_BY },
    { Key: TAG.requestedBy, Value: tagValue(requestedBy(trigger)) },
    { Key: TAG.source, Value: tagValue(trigger.detail ?? trigger.kind) },
    { Key: TAG.job, Value: tagValue(jobId) },
  ];
}

/** Ours, and of this target: the only snapshots retention may delete. */
export function isOurs(tags: Readonly<Record<string, string>>, target: string): boolean {
  return tags[TAG.createdBy] === CREATED_BY && tags[TAG.target] === tagValue(target);
}
