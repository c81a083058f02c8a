import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DumptruckError } from '../errors.js';
import { SqlScanner } from './sql-scan.js';

// psql obeys backslash meta-commands in its input (`\! cmd` runs a shell command), so a dump fed
// to it could run anything on this host. psql's restricted mode (`\restrict <key>`, since the
// 2025-08 minor releases) refuses every meta-command until `\unrestrict <same key>`. The stream
// psql reads therefore starts with `\restrict` and a random key of our own that the object's
// author cannot know, and the dump's own `\restrict`/`\unrestrict` lines (pg_dump writes them
// since those releases, with its own key) are dropped: psql would refuse them while restricted.

/** A fresh key per restore: 32 random bytes, hex (psql takes alphanumeric keys). */
export function newRestrictKey(): string {
  return randomBytes(32).toString('hex');
}

/** The first psql release of each major with `\restrict`; 18 and later have it from .0. */
const FIRST_WITH_RESTRICT: Readonly<Record<number, number>> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };

export interface PsqlVersion {
  readonly major: number;
  readonly minor: number;
  /** A pre-release build ("18beta2", "19devel"): `\restrict` arrived in 18's third beta. */
  readonly pre?: { readonly kind: 'beta' | 'rc' | 'devel'; readonly n: number };
}

/** Pure: the version from `psql --version` ("psql (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)", "psql (PostgreSQL) 18beta2"). */
export function parsePsqlVersion(output: string): PsqlVersion | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+)|(beta|rc|devel)(\d*))?/.exec(output);
  if (!m) return undefined;
  const major = Number(m[1]);
  if (m[3]) return { major, minor: 0, pre: { kind: m[3] as 'beta' | 'rc' | 'devel', n: Number(m[4] || 0) } };
  return { major, minor: Number(m[2] ?? 0) };
}

/** Pure: whether this psql build has restricted mode. */
function hasRestrict(v: PsqlVersion): boolean {
  // Released the same day as 17.6 (2025-08-14) in 18beta3; 18's earlier betas and devel builds lack it,
  // and every later major branched after it.
  if (v.major === 18 && v.pre) return v.pre.kind === 'rc' || (v.pre.kind === 'beta' && v.pre.n >= 3);
  if (v.major >= 18) return true;
  const first = FIRST_WITH_RESTRICT[v.major];
  return first !== undefined && !v.pre && v.minor >= first;
}

const shown = (v: PsqlVersion) => (v.pre ? `${v.major}${v.pre.kind}${v.pre.n || ''}` : `${v.major}.${v.minor}`);

/** Pure: why this psql cannot be given a dump safely, or undefined when it has restricted mode. */
export function restrictedModeProblem(versionOutput: string): DumptruckError | undefined {
  const v = parsePsqlVersion(versionOutput);
  if (v && hasRestrict(v)) return undefined;
  const what = v
    ? `psql ${shown(v)} has no restricted mode (\\restrict)`
    : `cannot tell whether psql has restricted mode (\\restrict): psql --version said ${JSON.stringify(versionOutput.trim().slice(0, 80))}`;
  return new DumptruckError(
    'PSQL_TOO_OLD',
    'verify',
    `${what}, and without it psql would run meta-commands such as \\! found in a dump; no restore was attempted`,
    {
      hint: 'upgrade postgresql-client to 13.22, 14.19, 15.14, 16.10, 17.6, 18 or newer (or point targets.<name>.pgDump at such an installation)',
    },
  );
}

const RESTRICT_WORDS = ['\\restrict', '\\unrestrict'] as const;
/** Bytes held at the start of a line: enough to tell `\unrestrict ` and `\.` apart from anything else. */
const HOLD = RESTRICT_WORDS[1].length + 1;
const COPY_END = ' FROM stdin;';

/**
 * What restore.noOwner drops from a plain dump, as pg_restore --no-owner --no-privileges leaves
 * them out of a custom one: owners (`ALTER ... OWNER TO`, `SET SESSION AUTHORIZATION`) and
 * privileges (GRANT, REVOKE, ALTER DEFAULT PRIVILEGES). Matched on a line's top level
 * (SqlScanner.statement: literals and quoted names as `Q`), so a table named "x OWNER TO y" is
 * no match; `ALTER SEQUENCE ... OWNED BY` is not ownership and stays.
 */
const OWNERSHIP = [
  /^ALTER [A-Z][A-Z ]* .+ OWNER TO [^ ;]+;$/,
  /^ALTER DEFAULT PRIVILEGES .+;$/,
  /^(GRANT|REVOKE) .+;$/,
  /^(SET|RESET) SESSION AUTHORIZATION\b[^;]*;$/,
];
/** The first HOLD bytes of a line that may be one of OWNERSHIP: such a line is held whole to decide. */
const OWNERSHIP_START = /^(ALTER |GRANT |REVOKE |SET SESSION |RESET SESSIO)/;
/** A candidate line longer than this is passed on undecided: memory stays bounded, and pg_dump's are far shorter. */
const MAX_HELD_LINE = 64 * 1024;

/** Pure: whether `line` is exactly one ownership or privilege statement (see OWNERSHIP). */
export function isOwnershipStatement(line: string): boolean {
  const top = SqlScanner.statement(line);
  return top !== undefined && OWNERSHIP.some((re) => re.test(top));
}

export interface RestrictOptions {
  /** restore.noOwner: drop the dump's top-level ownership and privilege statements (see OWNERSHIP). */
  readonly dropOwnership?: boolean;
}

/**
 * Pure: whether a line (its first bytes; `complete` when the line ended within them) is one of
 * the dump's `\restrict`/`\unrestrict` lines; undefined while its first bytes cannot tell yet.
 */
export function isRestrictLine(head: string, complete: boolean): boolean | undefined {
  let undecided = false;
  for (const word of RESTRICT_WORDS) {
    if (head.length > word.length) {
      if (head.startsWith(word) && /[ \t\r]/.test(head[word.length]!)) return true;
    } else if (word.startsWith(head)) {
      if (head === word && complete) return true;
      if (!complete) undecided = true;
    }
  }
  return undecided ? undefined : false;
}

/**
 * psql's input for a plain dump: `\restrict <key>` first, then the dump without its own
 * `\restrict`/`\unrestrict` lines (and, with dropOwnership, without its ownership and privilege
 * statements). Streams: memory is a few bytes per line whatever the line's length (a candidate
 * ownership line: up to MAX_HELD_LINE), and lines may span chunks. Lines inside COPY ... FROM
 * stdin data (up to `\.`) are data, never dropped: COPY writes a carriage return as `\r`, so a
 * row may start `\restrict`.
 */
export class RestrictedPsqlInput extends Transform {
  /** Bytes of the current line not yet passed on (only at its start, at most HOLD). */
  private held = Buffer.alloc(0);
  /** hold: the line's first bytes, undecided; whole: a candidate ownership line, held to its end. */
  private mode: 'hold' | 'whole' | 'pass' | 'drop' = 'hold';
  /** The current line's first and last bytes (latin1), to see `COPY ... FROM stdin;` and `\.`. */
  private head = '';
  private tail = '';
  private inCopy = false;
  /** With dropOwnership: where the script outside COPY data stands, to drop only top-level statements. */
  private readonly scanner: SqlScanner | undefined;

  constructor(key: string, options: RestrictOptions = {}) {
    super();
    this.scanner = options.dropOwnership ? new SqlScanner() : undefined;
    if (!/^[A-Za-z0-9]+$/.test(key)) throw new DumptruckError('INTERNAL', 'internal', 'a restrict key must be alphanumeric');
    this.push(`\\restrict ${key}\n`);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    const out: Buffer[] = [];
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline + 1;
      this.feed(chunk.subarray(start, end), newline !== -1, out);
      start = end;
    }
    callback(null, out.length === 1 ? out[0] : Buffer.concat(out));
  }

  override _flush(callback: TransformCallback): void {
    // A last line without a newline: decide it now that nothing more can come.
    const out: Buffer[] = [];
    if (this.mode === 'hold' && this.held.length > 0) this.decide(true, out);
    if (this.mode === 'whole') this.settleWhole(true, out);
    callback(null, out.length > 0 ? Buffer.concat(out) : undefined);
  }

  /** `piece`: part of the current line, ending it (newline included) when `ends`. */
  private feed(piece: Buffer, ends: boolean, out: Buffer[]): void {
    if (this.head.length < HOLD) this.head += piece.subarray(0, HOLD - this.head.length).toString('latin1');
    this.tail = (this.tail + piece.subarray(-COPY_END.length - 2).toString('latin1')).slice(-COPY_END.length - 2);
    if (this.mode === 'pass') this.pass(piece, out);
    else if (this.mode === 'whole') this.held = Buffer.concat([this.held, piece]);
    else if (this.mode === 'hold') {
      this.held = Buffer.concat([this.held, piece]);
      if (ends || this.held.length >= HOLD) this.decide(ends, out);
    }
    if (this.mode === 'whole' && (ends || this.held.length > MAX_HELD_LINE)) this.settleWhole(ends, out);
    if (ends) this.endLine();
  }

  private decide(complete: boolean, out: Buffer[]): void {
    const line = this.held.toString('latin1').replace(/\r?\n$/, '');
    if (!this.inCopy && isRestrictLine(line, complete) === true) {
      this.mode = 'drop';
    } else if (this.scanner?.atStatementStart && !this.inCopy && OWNERSHIP_START.test(line)) {
      // A statement that may be an ownership one starts here, at the top level: decided once the whole line is read.
      this.mode = 'whole';
      return;
    } else {
      this.mode = 'pass';
      this.pass(this.held, out);
    }
    this.held = Buffer.alloc(0);
  }

  /** The held candidate line: dropped when it is, whole, an ownership statement; passed on otherwise. */
  private settleWhole(complete: boolean, out: Buffer[]): void {
    const drop = complete && isOwnershipStatement(this.held.toString('latin1'));
    if (!drop) this.pass(this.held, out);
    this.mode = drop ? 'drop' : 'pass';
    this.held = Buffer.alloc(0);
  }

  /** Bytes psql gets; outside COPY data they move the scanner on. */
  private pass(bytes: Buffer, out: Buffer[]): void {
    out.push(bytes);
    if (this.scanner && !this.inCopy) this.scanner.feed(bytes.toString('latin1'));
  }

  private endLine(): void {
    const tail = this.tail.replace(/\r?\n$/, '');
    if (this.inCopy) {
      if (this.head.replace(/\r?\n$/, '') === '\\.') this.inCopy = false;
    } else if (this.mode !== 'drop' && this.head.startsWith('COPY ') && tail.endsWith(COPY_END)) {
      this.inCopy = true;
    }
    this.mode = 'hold';
    this.head = '';
    this.tail = '';
  }
}
