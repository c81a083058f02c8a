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
/** A statement's top-level end (SqlScanner.lastStatementTail) after which psql reads COPY data lines. */
const COPY_FROM_STDIN = /\sFROM\s+stdin\s*;$/i;

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
/**
 * The first HOLD bytes of a line that may be one of OWNERSHIP, or may change standard_conforming_strings
 * (see stringSyntaxProblem): such a line is held whole to decide.
 */
const HELD_START = /^(ALTER |GRANT |REVOKE |(RE)?SET\s)/i;
/** A candidate line longer than this is passed on undecided: memory stays bounded, and pg_dump's are far shorter. */
const MAX_HELD_LINE = 64 * 1024;

/** Pure: whether `line` is exactly one ownership or privilege statement (see OWNERSHIP). */
export function isOwnershipStatement(line: string): boolean {
  const top = SqlScanner.statement(line);
  return top !== undefined && OWNERSHIP.some((re) => re.test(top));
}

/** The only statement on standard_conforming_strings that dropOwnership lets through: pg_dump's own. */
const CONFORMING_ON = /^SET standard_conforming_strings = on;$/i;

/**
 * Pure: why dropOwnership refuses `line` (at the top level, a statement's start), or undefined. With
 * standard_conforming_strings off, a backslash escapes a quote in '...', which SqlScanner does not
 * follow, so it could see a string end where psql sees it go on: the filter would then drop or keep
 * the wrong lines. Refused rather than filtering on regardless (noOwner would silently misbehave) or
 * stopping to filter (the restore would go on with the owners and grants the operator asked to leave out).
 */
export function stringSyntaxProblem(line: string, lineNumber: number): DumptruckError | undefined {
  if (!/standard_conforming_strings/i.test(line)) return undefined;
  const top = SqlScanner.statement(line);
  if (top !== undefined && CONFORMING_ON.test(top)) return undefined;
  return new DumptruckError(
    'RESTORE_FAILED',
    'restore',
    `restore.noOwner cannot filter this plain dump: line ${lineNumber} changes standard_conforming_strings, after which its ownership filter could misread string literals; the restore was stopped there`,
    {
      hint: 'restore it without restore.noOwner (create the roles it refers to first), or restore a custom-format backup (pg_restore --no-owner)',
    },
  );
}

export interface RestrictOptions {
  /** restore.noOwner: drop the dump's top-level ownership and privilege statements (see OWNERSHIP). */
  readonly dropOwnership?: boolean;
  /** The destination server is older than 17: drop the session header's TRANSACTION_TIMEOUT line. */
  readonly dropTransactionTimeout?: boolean;
}

/** The first major version with transaction_timeout, which pg_dump and pg_restore 17+ set. */
export const TRANSACTION_TIMEOUT_SINCE = 17;

/** What psql's input leaves out for a destination server of this major version. */
export function serverOptions(serverMajor: number): RestrictOptions {
  return { dropTransactionTimeout: serverMajor < TRANSACTION_TIMEOUT_SINCE };
}

/**
 * pg_dump and pg_restore 17+ write this line in every script's session header, and a server older
 * than 17 refuses it ("unrecognized configuration parameter"), which stops the whole restore; the
 * setting did not exist there, so leaving it out changes nothing. Exactly this line, at the top level.
 */
const TRANSACTION_TIMEOUT = 'SET transaction_timeout = 0;';

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
 * psql's input for a plain dump (or pg_restore's script of a custom one): `\restrict <key>` first,
 * then the dump without its own `\restrict`/`\unrestrict` lines (and, with dropOwnership, without
 * its ownership and privilege statements; with dropTransactionTimeout, without TRANSACTION_TIMEOUT).
 * Streams: memory is a few bytes per line whatever the line's length (a candidate line: up to
 * MAX_HELD_LINE), and lines may span chunks. Lines inside COPY ... FROM
 * stdin data (up to `\.`) are data, never dropped: COPY writes a carriage return as `\r`, so a
 * row may start `\restrict`, and a row may read `GRANT ...;`.
 *
 * A SqlScanner follows the script outside COPY data, so that only what psql reads at the top level
 * counts: a `\restrict` line or an ownership statement inside a string, quoted name, dollar-quoted
 * body or comment is text, and COPY data starts only after a COPY ... FROM stdin statement that
 * began at the top level at a line's start, decided on that whole statement (a quoted name in it may
 * hold a newline). noOwner is a convenience filter for pg_dump's output, not a security boundary:
 * crafted input can make the scanner and psql's lexer disagree (they differ on corner cases), and
 * what keeps a dump from running meta-commands is psql's restricted mode, which does not depend on
 * the scanner (a `\unrestrict` passed on by mistake fails: it needs our key).
 */
export class RestrictedPsqlInput extends Transform {
  /** Bytes of the current line not yet passed on (only at its start, at most HOLD). */
  private held = Buffer.alloc(0);
  /** hold: the line's first bytes, undecided; whole: a candidate ownership line, held to its end. */
  private mode: 'hold' | 'whole' | 'pass' | 'drop' = 'hold';
  /** The current line's first bytes (latin1), to see `COPY` and `\.`. */
  private head = '';
  /** A top-level statement that began at a line's start with COPY is being read: COPY data may follow it. */
  private copyStatement = false;
  private inCopy = false;
  /** Lines read, for error messages. */
  private lines = 0;
  /** Where the script outside COPY data stands (see the class comment). */
  private readonly scanner = new SqlScanner();
  private readonly dropOwnership: boolean;
  private readonly dropTransactionTimeout: boolean;

  constructor(key: string, options: RestrictOptions = {}) {
    super();
    this.dropOwnership = options.dropOwnership === true;
    this.dropTransactionTimeout = options.dropTransactionTimeout === true;
    if (!/^[A-Za-z0-9]+$/.test(key)) throw new DumptruckError('INTERNAL', 'internal', 'a restrict key must be alphanumeric');
    this.push(`\\restrict ${key}\n`);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    const out: Buffer[] = [];
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline + 1;
      try {
        this.feed(chunk.subarray(start, end), newline !== -1, out);
      } catch (err) {
        // A refused line (stringSyntaxProblem): nothing of this chunk reaches psql.
        callback(err as Error);
        return;
      }
      start = end;
    }
    callback(null, out.length === 1 ? out[0] : Buffer.concat(out));
  }

  override _flush(callback: TransformCallback): void {
    // A last line without a newline: decide it now that nothing more can come.
    const out: Buffer[] = [];
    try {
      if (this.mode === 'hold' && this.held.length > 0) this.decide(true, out);
      if (this.mode === 'whole') this.settleWhole(true, out);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback(null, out.length > 0 ? Buffer.concat(out) : undefined);
  }

  /** `piece`: part of the current line, ending it (newline included) when `ends`. */
  private feed(piece: Buffer, ends: boolean, out: Buffer[]): void {
    if (this.head.length < HOLD) this.head += piece.subarray(0, HOLD - this.head.length).toString('latin1');
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
    // The scanner has not seen this line yet: it tells where the line starts.
    const statementStart = !this.inCopy && this.scanner.atStatementStart;
    if (statementStart && /^COPY\s/i.test(this.held.toString('latin1'))) this.copyStatement = true;
    if (!this.inCopy && this.scanner.atTopLevel && isRestrictLine(line, complete) === true) {
      this.mode = 'drop';
    } else if (statementStart && this.mayDrop(line)) {
      // A statement that may be dropped starts here, at the top level: decided once the whole line is read.
      this.mode = 'whole';
      return;
    } else {
      this.mode = 'pass';
      this.pass(this.held, out);
    }
    this.held = Buffer.alloc(0);
  }

  /** Whether a line starting at the top level with `head` may be one this filter drops. */
  private mayDrop(head: string): boolean {
    return (
      (this.dropOwnership && HELD_START.test(head)) ||
      (this.dropTransactionTimeout && head.startsWith('SET ') && TRANSACTION_TIMEOUT.startsWith(head))
    );
  }

  /** The held candidate line: dropped when it is, whole, an ownership statement or TRANSACTION_TIMEOUT; passed on otherwise. */
  private settleWhole(complete: boolean, out: Buffer[]): void {
    const line = this.held.toString('latin1');
    const problem = complete && this.dropOwnership ? stringSyntaxProblem(line, this.lines + 1) : undefined;
    if (problem) throw problem;
    const drop =
      complete &&
      ((this.dropOwnership && isOwnershipStatement(line)) || (this.dropTransactionTimeout && line === `${TRANSACTION_TIMEOUT}\n`));
    if (!drop) this.pass(this.held, out);
    this.mode = drop ? 'drop' : 'pass';
    this.held = Buffer.alloc(0);
  }

  /** Bytes psql gets; outside COPY data they move the scanner on. */
  private pass(bytes: Buffer, out: Buffer[]): void {
    out.push(bytes);
    if (!this.inCopy) this.scanner.feed(bytes.toString('latin1'));
  }

  private endLine(): void {
    this.lines++;
    if (this.inCopy) {
      if (this.head.replace(/\r?\n$/, '') === '\\.') this.inCopy = false;
    } else if (this.copyStatement && this.scanner.atStatementStart) {
      // The COPY statement ended on this line (outside any literal): its data follows when it reads from stdin.
      this.copyStatement = false;
      this.inCopy = COPY_FROM_STDIN.test(this.scanner.lastStatementTail);
    }
    this.mode = 'hold';
    this.head = '';
  }
}
