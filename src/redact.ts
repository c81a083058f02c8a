// The one redactor: what must never reach a log line, a Slack message or an error text, found two ways: by what a value looks like (Slack tokens,
// presigned-URL signatures, `password=...`), and by the exact values of the secrets this process
// holds (the signing secret and AWS secret key look like any other hex or base64).

export const REDACTED = '[redacted]';

/** Object keys whose values are secrets wherever they appear (`secretId`, `secretName` are not). */
const SECRET_KEY =
  /pass(word|wd|phrase)?$|secret(?!_?(id|name|arn)$)|token|authorization|cookie|credential|signature|private_?key|api_?key/i;

const PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  // Slack tokens: keep the prefix, it says which token was involved.
  [/\b(xox[abposer]-|xapp-)[A-Za-z0-9-]+/g, `$1${REDACTED}`],
  // SigV4, in presigned URLs (X-Amz-Signature=, X-Amz-Credential=) and Authorization headers (Signature=, Credential=).
  [/\b((?:X-Amz-)?(?:Signature|Credential|Security-Token)=)[^&\s"',\\]+/gi, `$1${REDACTED}`],
  [/\b(Bearer\s+)[^\s"',\\]+/gi, `$1${REDACTED}`],
  // `password=...`, `PGPASSWORD=...`, `password: '...'` in free text; not after a dot:
  // `targets.app-db.password: environment variable X is not set` names a config key, not a value.
  [/(?<!\.)(password\s*[=:]\s*)(?!\[redacted\])("[^"\\]*"|'[^'\\]*'|[^\s"',;&\\]+)/gi, `$1${REDACTED}`],
  // age private keys (bech32, either case), native and plugin ones: an identity read from a file
  // or a secret manager is not in the environment, so it is recognised by its shape too.
  [/\bAGE-SECRET-KEY-1[0-9A-Z]+/gi, REDACTED],
  // AGE-PLUGIN-<NAME>-1...: the name may hold hyphens too; one class keeps the scan linear.
  [/\bAGE-PLUGIN-[0-9A-Z-]+/gi, REDACTED],
  // postgres://user:secret@host
  [/(\/\/[^:/@\s"]+:)[^@/\s"]+@/g, `$1${REDACTED}@`],
];

/** Environment variables whose values are secrets: tokens, secret keys, passwords. */
const SECRET_ENV = /(TOKEN|SECRET|SECRET_KEY|SECRET_ACCESS_KEY|PASSWORD|PASSWD|_PW|PRIVATE_KEY|API_KEY|HMAC_KEY)$/i;
/** Shorter values are not redacted by value: they would mangle ordinary words. */
const MIN_VALUE_LENGTH = 4;

export class Redactor {
  private readonly values = new Set<string>();

  constructor(values: Iterable<string | undefined> = []) {
    this.add(...values);
  }

  /**
   * A redactor that also removes `values` (a job's password), leaving this one as it was: the
   * process's redactor is built once at start, and a job's secret must not outlive the job.
   */
  with(...values: ReadonlyArray<string | undefined>): Redactor {
    return new Redactor(this.values).add(...values);
  }

  /** Values to redact wherever they appear, from now on (the process's own secrets, at start). */
  add(...values: ReadonlyArray<string | undefined>): this {
    for (const v of values) {
      if (v === undefined || v.length < MIN_VALUE_LENGTH) continue;
      this.values.add(v);
      // In a JSON line the value appears escaped.
      const escaped = JSON.stringify(v).slice(1, -1);
      if (escaped !== v) this.values.add(escaped);
    }
    return this;
  }

  /** Text with every known secret and every secret-shaped token replaced. Keeps JSON valid. */
  text(input: string): string {
    let out = input;
    // Patterns first: they keep a token's prefix, which says which token it was.
    for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
    // Longest first, so a value containing a shorter one is removed whole.
    for (const v of [...this.values].sort((a, b) => b.length - a.length)) {
      if (out.includes(v)) out = out.split(v).join(REDACTED);
    }
    return out;
  }

  /** A copy of plain objects and arrays with secret-named keys redacted; other values unchanged. */
  object<T>(value: T, depth = 0): T {
    if (depth > 8 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v: unknown) => this.object(v, depth + 1)) as T;
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? REDACTED : this.object(v, depth + 1);
    }
    return out as T;
  }
}

/** The secrets the environment holds: SLACK_*_TOKEN, SLACK_SIGNING_SECRET, AWS_SECRET_ACCESS_KEY, NCLOUD_SECRET_KEY, DUMPTRUCK_HMAC_KEY, *_PASSWORD... */
export function secretsInEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  return Object.entries(env)
    .filter(([name, value]) => value !== undefined && SECRET_ENV.test(name))
    .map(([, value]) => value as string);
}

/** `text` with `secrets` and every secret-shaped token redacted: for code that holds a job's secrets as a list. */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  return new Redactor(secrets).text(text);
}
