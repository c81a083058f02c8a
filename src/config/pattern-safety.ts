// Would this regular expression backtrack catastrophically on a hostile message? Teams' alert
// patterns run on the event loop against text anyone in an alerts channel can post, and
// JavaScript cannot interrupt a running match, so a pattern that can take exponential or
// high-polynomial time is refused when the config is loaded rather than time-boxed later.
//
// A conservative check of the three shapes behind nearly every ReDoS: a repeat inside a repeat
// (`(a+)+`, `(\s*x?)*`), a repeated choice whose branches can match the same text (`(\w|\d)+`),
// and two unbounded repeats of overlapping characters with nothing required between them
// (`\s*:?\s*`, `.*\s+`). It may refuse a pattern that is in fact fine; the message says how to
// rewrite it. Whatever passes still runs over bounded text (SCAN_LIMITS in src/alerts/words.ts).
// Pure; `source` has already compiled with the `iu` flags.

interface Item {
  /** Source text of the item without its quantifier. */
  readonly body: string;
  readonly min: number;
  readonly max: number;
  /** Alternatives of a group (lookarounds included); absent for a single atom. */
  readonly alternatives?: readonly Alternative[];
  /** Lookarounds, anchors and \b: they match no characters. */
  readonly zeroWidth: boolean;
}

interface Alternative {
  readonly source: string;
  readonly items: readonly Item[];
}

/** Why `source` may backtrack catastrophically, or undefined when it passes. */
export function catastrophicReason(source: string): string | undefined {
  const probes = [...new Set([...PROBES, ...source])];
  return checkAlternatives(new Parser(source).alternatives(), probes);
}

/** Characters tried when deciding whether two parts can match the same text: spacing of every kind, word characters, punctuation, Hangul. */
const PROBES = [
  ' ',
  '\t',
  '\n',
  '\r',
  '\v',
  '\u1680',
  '\u2028',
  '\u3000',
  '\ufeff',
  'a',
  'z',
  'A',
  '0',
  '9',
  '_',
  '-',
  '.',
  ':',
  '/',
  '가',
  'é',
];

function checkAlternatives(alternatives: readonly Alternative[], probes: readonly string[]): string | undefined {
  for (const alternative of alternatives) {
    let previous: Item | undefined;
    for (const item of alternative.items) {
      const inner = item.alternatives && checkGroup(item, probes);
      if (inner) return inner;
      if (item.max === Infinity) {
        if (previous && overlap(previous.body, item.body, probes)) {
          return `two unbounded repeats (${show(previous)} and ${show(item)}) can match the same characters with nothing required between them`;
        }
        previous = item;
      } else if (!nullable(item)) {
        previous = undefined;
      }
    }
  }
  return undefined;
}

function checkGroup(group: Item, probes: readonly string[]): string | undefined {
  const alternatives = group.alternatives!;
  if (group.max > 1) {
    // Bounded inside bounded (`(\d{1,3}\.){3}`) is a fixed amount of work; anything else multiplies.
    const repeat = innerRepeat(alternatives, (inner) => (group.max === Infinity ? inner.max > 1 : inner.max === Infinity));
    if (repeat) return `a repeated group ${show(group)} contains another repeat (${show(repeat)})`;
  }
  if (group.max === Infinity && alternatives.length > 1) {
    for (let i = 0; i < alternatives.length; i++) {
      for (let j = i + 1; j < alternatives.length; j++) {
        if (overlap(alternatives[i]!.source, alternatives[j]!.source, probes)) {
          return `a repeated group ${show(group)} has alternatives that can match the same text ("${alternatives[i]!.source}" and "${alternatives[j]!.source}")`;
        }
      }
    }
  }
  return checkAlternatives(alternatives, probes);
}

/** The first item inside these alternatives, at any depth, for which `is` holds. */
function innerRepeat(alternatives: readonly Alternative[], is: (item: Item) => boolean): Item | undefined {
  for (const alternative of alternatives) {
    for (const item of alternative.items) {
      if (is(item)) return item;
      const nested = item.alternatives && innerRepeat(item.alternatives, is);
      if (nested) return nested;
    }
  }
  return undefined;
}

function nullable(item: Item): boolean {
  return item.zeroWidth || item.min === 0 || (item.alternatives?.some((a) => a.items.every(nullable)) ?? false);
}

/** Can both parts match a run of some probe character? A part that cannot be compiled alone (a backreference) counts as overlapping. */
function overlap(a: string, b: string, probes: readonly string[]): boolean {
  try {
    const ra = new RegExp(`^(?:${a})`, 'iu');
    const rb = new RegExp(`^(?:${b})`, 'iu');
    return probes.some((c) => {
      const run = c.repeat(4);
      return ra.test(run) && rb.test(run);
    });
  } catch {
    return true;
  }
}

function show(item: Item): string {
  const quantifier =
    item.max === Infinity
      ? item.min === 0
        ? '*'
        : item.min === 1
          ? '+'
          : `{${item.min},}`
      : item.max === item.min
        ? `{${item.min}}`
        : `{${item.min},${item.max}}`;
  return `"${item.body}${item.min === 1 && item.max === 1 ? '' : quantifier}"`;
}

/** Just enough of the `u`-mode grammar to find items, groups and quantifiers. */
class Parser {
  private i = 0;

  constructor(private readonly source: string) {}

  alternatives(): Alternative[] {
    const alternatives: Alternative[] = [];
    let start = this.i;
    let items: Item[] = [];
    for (;;) {
      const c = this.source[this.i];
      if (c === undefined || c === ')') {
        alternatives.push({ source: this.source.slice(start, this.i), items });
        return alternatives;
      }
      if (c === '|') {
        alternatives.push({ source: this.source.slice(start, this.i), items });
        this.i++;
        start = this.i;
        items = [];
        continue;
      }
      items.push(this.item());
    }
  }

  private item(): Item {
    const start = this.i;
    const c = this.source[this.i++]!;
    let alternatives: Alternative[] | undefined;
    let zeroWidth = c === '^' || c === '$';
    if (c === '(') {
      const prefix = /^\?(?::|<?[=!]|<[^>]*>)/.exec(this.source.slice(this.i))?.[0] ?? '';
      zeroWidth = /[=!]$/.test(prefix);
      this.i += prefix.length;
      alternatives = this.alternatives();
      this.i++; // ')'
    } else if (c === '[') {
      while (this.i < this.source.length && this.source[this.i] !== ']') this.i += this.source[this.i] === '\\' ? 2 : 1;
      this.i++;
    } else if (c === '\\') {
      const e = this.source[this.i++]!;
      zeroWidth = e === 'b' || e === 'B';
      if ('pPk'.includes(e) || (e === 'u' && this.source[this.i] === '{')) this.i = this.source.indexOf(e === 'k' ? '>' : '}', this.i) + 1;
      else if (e === 'u') this.i += 4;
      else if (e === 'x') this.i += 2;
      else if (e === 'c') this.i += 1;
    }
    const body = this.source.slice(start, this.i);
    const { min, max } = this.quantifier();
    return { body, min, max, zeroWidth, ...(alternatives ? { alternatives } : {}) };
  }

  private quantifier(): { min: number; max: number } {
    const c = this.source[this.i];
    let range: { min: number; max: number } = { min: 1, max: 1 };
    if (c === '*') range = { min: 0, max: Infinity };
    else if (c === '+') range = { min: 1, max: Infinity };
    else if (c === '?') range = { min: 0, max: 1 };
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.source.slice(this.i))!;
      const min = Number(m[1]);
      range = { min, max: m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]) };
      this.i += m[0].length - 1;
    } else {
      return range;
    }
    this.i++;
    if (this.source[this.i] === '?') this.i++; // lazy: the same backtracking, in another order
    return range;
  }
}
