// Where a streamed SQL script stands: inside a string, a quoted identifier, a dollar-quoted body
// or a comment, or at the top level, and whether the next statement starts here. restore.noOwner
// drops a plain dump's ownership and privilege statements, and only a whole line that is such a
// statement at the top level may go: the same words inside a function body or a multi-line
// string literal are data. Fed character by character, so chunks may end anywhere.

type Where =
  | 'code'
  /** A `-` or `/` that may start a comment. */
  | 'dash'
  | 'slash'
  | 'line-comment'
  | 'block'
  | 'block-star'
  | 'block-slash'
  /** '...' (standard_conforming_strings, which pg_dump sets), and the quote that may be doubled. */
  | 'single'
  | 'single-quote'
  /** E'...': backslash escapes. */
  | 'escape'
  | 'escape-backslash'
  | 'escape-quote'
  | 'double'
  | 'double-quote'
  /** `$tag` read so far, before its closing `$`; then inside the body until `$tag$` again. */
  | 'dollar-open'
  | 'dollar';

const IDENT = /[A-Za-z0-9_$\x80-\xff]/;
const TAG_START = /[A-Za-z_\x80-\xff]/;
const TAG = /[A-Za-z0-9_\x80-\xff]/;
const SPACE = /\s/;
/** How much of a statement's end lastStatementTail keeps: enough for ` FROM stdin;` and some spacing. */
const STATEMENT_TAIL = 64;

export class SqlScanner {
  private where: Where = 'code';
  private prev = '';
  private prev2 = '';
  /** The dollar quote's delimiter (`$tag$`), and the body's last characters to find it again. */
  private tag = '';
  private window = '';
  /** Block comments nest. */
  private depth = 0;
  /** Only whitespace and comments since the last top-level `;` (or the start). */
  private fresh = true;
  /** The top level as text: each literal or quoted identifier as `Q`, comments as a space. */
  private skeleton: string | undefined;
  /** The current statement's last top-level characters (as skeleton), and those of the one the last `;` ended. */
  private tail = '';
  private ended = '';

  /** Whether the next character starts a statement: at the top level, after a `;`. */
  get atStatementStart(): boolean {
    return this.fresh && (this.where === 'code' || this.where === 'line-comment');
  }

  /** Whether the next character is at the top level: in no string, quoted name, dollar-quoted body or block comment. */
  get atTopLevel(): boolean {
    return this.where === 'code' || this.where === 'line-comment';
  }

  /**
   * The last top-level characters (at least STATEMENT_TAIL of them, as the skeleton: literals and quoted names
   * `Q`, comments a space) of the statement the last top-level `;` ended, that `;` included.
   */
  get lastStatementTail(): string {
    return this.ended;
  }

  /** `text`: latin1, so UTF-8's bytes above 0x7f are characters that mean nothing here. */
  feed(text: string): void {
    for (const c of text) this.step(c);
  }

  /** Pure: `line`'s top level (see skeleton) when the line is exactly one complete statement, else undefined. */
  static statement(line: string): string | undefined {
    const scanner = new SqlScanner();
    scanner.skeleton = '';
    scanner.feed(line.replace(/\r?\n$/, ''));
    const top = scanner.skeleton.trim();
    const complete = scanner.where === 'code' && top.endsWith(';') && top.indexOf(';') === top.length - 1;
    return complete ? top : undefined;
  }

  private step(c: string): void {
    switch (this.where) {
      case 'code':
        return this.code(c);
      case 'dash':
      case 'slash': {
        const opener = this.where === 'dash' ? '-' : '/';
        this.where = 'code';
        if (c === (opener === '-' ? '-' : '*')) {
          this.where = opener === '-' ? 'line-comment' : 'block';
          this.depth = 1;
          this.emit(' ');
          return;
        }
        this.token(opener);
        return this.step(c);
      }
      case 'line-comment':
        if (c === '\n') this.where = 'code';
        return;
      case 'block':
        if (c === '*') this.where = 'block-star';
        else if (c === '/') this.where = 'block-slash';
        return;
      case 'block-star':
        if (c === '/') this.where = --this.depth === 0 ? 'code' : 'block';
        else if (c !== '*') this.where = 'block';
        return;
      case 'block-slash':
        if (c === '*') {
          this.depth++;
          this.where = 'block';
        } else if (c !== '/') this.where = 'block';
        return;
      case 'single':
      case 'escape':
      case 'double': {
        const quote = this.where === 'double' ? '"' : "'";
        if (c === quote) this.where = `${this.where}-quote` as Where;
        else if (c === '\\' && this.where === 'escape') this.where = 'escape-backslash';
        return;
      }
      case 'escape-backslash':
        this.where = 'escape';
        return;
      case 'single-quote':
      case 'escape-quote':
      case 'double-quote': {
        // A doubled quote is one quote inside; anything else ends the literal and is read again.
        const inside = this.where.slice(0, -'-quote'.length) as Where;
        if (c === (inside === 'double' ? '"' : "'")) {
          this.where = inside;
          return;
        }
        this.where = 'code';
        return this.step(c);
      }
      case 'dollar-open':
        if (c === '$') {
          this.tag += '$';
          this.window = '';
          this.where = 'dollar';
        } else if ((this.tag.length === 1 ? TAG_START : TAG).test(c)) {
          this.tag += c;
        } else {
          // `$1` and the like: no dollar quote after all.
          this.where = 'code';
          this.remember(this.tag.slice(-1));
          this.token(c);
        }
        return;
      case 'dollar':
        this.window = (this.window + c).slice(-this.tag.length);
        if (this.window === this.tag) this.where = 'code';
        return;
    }
  }

  private code(c: string): void {
    if (c === '-') this.where = 'dash';
    else if (c === '/') this.where = 'slash';
    else this.token(c);
  }

  /** A character at the top level that starts no comment. */
  private token(c: string): void {
    if (!SPACE.test(c)) this.fresh = false;
    if (c === "'") {
      this.where = /[Ee]/.test(this.prev) && !IDENT.test(this.prev2) ? 'escape' : 'single';
      this.emit('Q');
    } else if (c === '"') {
      this.where = 'double';
      this.emit('Q');
    } else if (c === '$' && !IDENT.test(this.prev)) {
      this.where = 'dollar-open';
      this.tag = '$';
      this.emit('Q');
    } else {
      this.emit(c);
    }
    if (c === ';') {
      this.fresh = true;
      this.ended = this.tail;
      this.tail = '';
    }
    this.remember(c);
  }

  private remember(c: string): void {
    this.prev2 = this.prev;
    this.prev = c;
  }

  private emit(c: string): void {
    if (this.skeleton !== undefined) this.skeleton += c;
    this.tail += c;
    // Trimmed now and then rather than on every character: a long statement costs no more than a short one.
    if (this.tail.length > 2 * STATEMENT_TAIL) this.tail = this.tail.slice(-STATEMENT_TAIL);
  }
}
