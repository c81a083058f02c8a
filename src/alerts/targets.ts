// Which target an alert is about: the one whose name or an `alertNames` identifier appears in the
// alert as a whole token. Pure.

export interface TargetNames {
  /** The target's own name and its `alertNames`. */
  readonly [target: string]: { readonly alertNames: readonly string[] };
}

export interface NameMatch {
  readonly target: string;
  /** The identifier that matched, as configured. */
  readonly via: string;
}

export type TargetMatch =
  | { readonly kind: 'one'; readonly target: string; readonly via: string }
  /** `seen`: identifier-like words of the alert, to show what could be added to `alertNames`. */
  | { readonly kind: 'none'; readonly seen: readonly string[] }
  | { readonly kind: 'many'; readonly matches: readonly NameMatch[] };

// An identifier ends where a character that could continue it ends: `app-db` is not found in
// `app-db-prod` or `my_app-db`, but is in `app-db.internal`, `id=app-db` and `app-db의` (Korean
// particles attach to the word before them).
const IDENT = 'A-Za-z0-9_-';

/** Case-insensitive whole-token search for every target's names. */
export function matchTarget(words: string, targets: TargetNames): TargetMatch {
  const found: Array<NameMatch & { readonly start: number; readonly end: number }> = [];
  for (const [target, { alertNames }] of Object.entries(targets)) {
    for (const name of new Set([target, ...alertNames])) {
      const re = new RegExp(`(?<![${IDENT}])${escapeRegex(name)}(?![${IDENT}])`, 'giu');
      for (const m of words.matchAll(re)) found.push({ target, via: name, start: m.index, end: m.index + m[0].length });
    }
  }
  // `app-db.prod` (one target's alertName) also holds `app-db` (another's name): the longer
  // identifier is the one the alert names.
  const inside = (a: (typeof found)[number]) =>
    found.some((b) => b.target !== a.target && b.start <= a.start && b.end >= a.end && b.end - b.start > a.end - a.start);
  const kept = found.filter((f) => !inside(f));
  const byTarget = new Map<string, NameMatch>();
  for (const f of kept) if (!byTarget.has(f.target)) byTarget.set(f.target, { target: f.target, via: f.via });
  const matches = [...byTarget.values()];
  if (matches.length === 1) return { kind: 'one', ...matches[0]! };
  if (matches.length > 1) return { kind: 'many', matches };
  return { kind: 'none', seen: identifiersIn(words) };
}

const SEEN_LIMIT = 5;

/** Words that look like database identifiers (`pg-32lqva`, `orders_db`, `db-prod-1`): joined by - or _. */
export function identifiersIn(words: string): string[] {
  const seen: string[] = [];
  for (const m of words.matchAll(new RegExp(`(?<![${IDENT}])[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)+(?![${IDENT}])`, 'g'))) {
    const word = m[0];
    if (word.length < 4 || seen.some((s) => s.toLowerCase() === word.toLowerCase())) continue;
    seen.push(word);
    if (seen.length === SEEN_LIMIT) break;
  }
  return seen;
}

function escapeRegex(text: string): string {
  // Not `-`: with the u flag only syntax characters may be escaped.
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
