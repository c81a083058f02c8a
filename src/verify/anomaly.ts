import { formatBytes } from '../config/units.js';
import type { BackupWarning } from '../types.js';

export interface SizeRules {
  /** Flag a backup smaller than threshold x the median of the previous ones (0.5: less than half). */
  readonly threshold: number;
  /** How many previous backups the median is taken over. */
  readonly window: number;
  /** Fewer dumped (uncompressed) bytes than this is an empty dump. */
  readonly emptyBelow: number;
}

/** Pure: the median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Pure: whether a new backup looks wrong by its size. `previousStoredBytes` are the stored sizes
 * of the target's earlier backups of the same format, newest first; the first `window` count.
 * An empty dump wins over a shrunk one (it is the more specific finding). Without earlier
 * backups only the empty check applies.
 */
export function sizeAnomaly(current: { readonly storedBytes: number; readonly dumpedBytes: number }, previousStoredBytes: readonly number[], rules: SizeRules): BackupWarning | undefined {
  if (current.dumpedBytes < rules.emptyBelow) {
    return {
      kind: 'empty',
      dumpedBytes: current.dumpedBytes,
      emptyBelow: rules.emptyBelow,
      message: `the dump is empty: ${current.dumpedBytes} bytes (less than ${formatBytes(rules.emptyBelow)}), a database without tables or data?`,
    };
  }
  const window = previousStoredBytes.slice(0, rules.window);
  if (window.length === 0) return undefined;
  const medianBytes = median(window);
  if (medianBytes <= 0 || current.storedBytes >= rules.threshold * medianBytes) return undefined;
  const ratio = current.storedBytes / medianBytes;
  return {
    kind: 'shrunk',
    storedBytes: current.storedBytes,
    medianBytes,
    compared: window.length,
    ratio,
    threshold: rules.threshold,
    message: `much smaller than usual: ${formatBytes(current.storedBytes)} stored, ${Math.round(ratio * 100)}% of the median ${formatBytes(medianBytes)} of the previous ${window.length} backup${window.length === 1 ? '' : 's'} (threshold ${Math.round(rules.threshold * 100)}%)`,
  };
}
