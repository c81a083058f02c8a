// One module of coded errors. Every failure a user can see is one of these, so that the CLI,
// Slack and logs render it the same way and secrets can be scrubbed in one place.
import { Redactor } from './redact.js';

/** Without the process's redactor, secret-shaped text (tokens, `password=`, URL credentials) still goes. */
const SHAPES_ONLY = new Redactor();

/** Where in a backup (or a command) the failure happened. Shown to users as-is. */
export type Stage =
  | 'config'
  | 'input'
  | 'auth'
  | 'secret'
  | 'connect'
  | 'version'
  | 'dump'
  | 'compress'
  // age encryption of the stream (the `age` child process)
  | 'encrypt'
  | 'upload'
  | 'finalize'
  | 'storage'
  | 'queue'
  | 'verify'
  // a restore into a database (issue 15): creating it, streaming the backup in, cleaning up
  | 'restore'
  // a provider DB snapshot (RDS): creating, following, listing or pruning it
  | 'snapshot'
  | 'state'
  | 'cancelled'
  | 'timeout'
  | 'internal';

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'BAD_INPUT'
  | 'UNKNOWN_TARGET'
  | 'NOT_ALLOWED'
  | 'SECRET_UNAVAILABLE'
  | 'CONNECT_FAILED'
  | 'PG_DUMP_TOO_OLD'
  | 'PG_DUMP_NOT_FOUND'
  | 'DUMP_FAILED'
  | 'COMPRESS_FAILED'
  | 'ENCRYPT_FAILED'
  | 'UPLOAD_FAILED'
  | 'TOO_LARGE'
  | 'FINALIZE_FAILED'
  | 'STORAGE_FAILED'
  | 'NOT_FOUND'
  | 'QUEUE_FULL'
  | 'CANCELLED'
  | 'TIMED_OUT'
  // verify: what is wrong with a stored backup, each its own code so that reports can say it plainly
  | 'CORRUPTED'
  | 'TRUNCATED'
  | 'SWAPPED'
  | 'NOT_A_DUMP'
  | 'RESTORE_FAILED'
  /** An encrypted backup the configured identity cannot open: not damage to the object. */
  | 'WRONG_IDENTITY'
  | 'VERIFY_FAILED'
  /** Not provably a backup dumptruck wrote (no HMAC, or one that does not match): never read into psql or pg_restore. */
  | 'UNTRUSTED'
  /** A dump without its manifest: the run died between the upload and the manifest. */
  | 'INCOMPLETE'
  /** psql without restricted mode (\restrict): it would run a dump's meta-commands. */
  | 'PSQL_TOO_OLD'
  // snapshot: the provider's refusals, each in plain words
  | 'RDS_NOT_CONFIGURED'
  | 'RDS_INSTANCE_NOT_FOUND'
  | 'RDS_SNAPSHOT_QUOTA'
  | 'RDS_INSTANCE_STATE'
  | 'RDS_ACCESS_DENIED'
  | 'SNAPSHOT_FAILED'
  // restore: refusals and failures, each in plain words
  /** The destination database already exists and replacing it was not asked for (or not allowed). */
  | 'DESTINATION_EXISTS'
  /** The object is not one dumptruck wrote (see src/restore/trust.ts). */
  | 'NOT_TRUSTED'
  /** The server lacks roles the dump refers to. */
  | 'MISSING_ROLES'
  /** Another kind of operation (a dump, a snapshot) holds the target: one at a time per database. */
  | 'TARGET_BUSY'
  | 'STATE_UNAVAILABLE'
  | 'STATE_NOT_ALLOWED'
  | 'INTERNAL';

export interface DumptruckErrorOptions {
  readonly cause?: unknown;
  /** Last lines of a program's stderr, already scrubbed of secrets. */
  readonly stderrTail?: string;
  /** The program that wrote stderrTail (pg_restore, psql, age); default pg_dump. */
  readonly tool?: string;
  /** A short hint on what would work instead. */
  readonly hint?: string;
}

export class DumptruckError extends Error {
  override readonly name: string = 'DumptruckError';
  readonly stderrTail: string | undefined;
  readonly tool: string | undefined;
  readonly hint: string | undefined;

  constructor(
    readonly code: ErrorCode,
    readonly stage: Stage,
    message: string,
    options: DumptruckErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.stderrTail = options.stderrTail;
    this.tool = options.tool;
    this.hint = options.hint;
  }
}

/** Bad config: carries every problem found, each already prefixed by its path. */
export class ConfigError extends DumptruckError {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super('CONFIG_INVALID', 'config', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

/** Bad user input: an ephemeral reply in Slack, exit code 2 on the CLI. Nothing is changed. */
export class InputError extends DumptruckError {
  override readonly name = 'InputError';
  constructor(message: string, hint?: string, code: ErrorCode = 'BAD_INPUT') {
    super(code, 'input', message, hint === undefined ? {} : { hint });
  }
}

export class CancelledError extends DumptruckError {
  override readonly name = 'CancelledError';
  constructor(reason = 'cancelled') {
    super('CANCELLED', 'cancelled', reason);
  }
}

export class TimeoutError extends DumptruckError {
  override readonly name = 'TimeoutError';
  constructor(message: string) {
    super('TIMED_OUT', 'timeout', message);
  }
}

export function isDumptruckError(err: unknown): err is DumptruckError {
  return err instanceof DumptruckError;
}

/** Wraps anything thrown into a DumptruckError of the given stage, keeping the original as cause. */
export function toDumptruckError(err: unknown, code: ErrorCode, stage: Stage, prefix?: string): DumptruckError {
  if (err instanceof DumptruckError) return err;
  const detail = describeCause(err);
  return new DumptruckError(code, stage, prefix ? `${prefix}: ${detail}` : detail, { cause: err });
}

/** A one-line description of a thrown value, for messages; AWS errors carry their code. */
export function describeCause(err: unknown): string {
  if (err instanceof Error) {
    const aws = err as Error & { Code?: string; $metadata?: { httpStatusCode?: number } };
    const status = aws.$metadata?.httpStatusCode;
    const code = aws.Code ?? (err.name !== 'Error' ? err.name : undefined);
    const parts = [err.message || code || 'unknown error'];
    if (code && err.message && !err.message.includes(code)) parts.unshift(`${code}:`);
    if (status) parts.push(`(HTTP ${status})`);
    return parts.join(' ');
  }
  return String(err);
}

/** The one place an error becomes user-facing text (CLI, Slack). */
export function userMessage(err: unknown, redactor: Redactor = SHAPES_ONLY): string {
  const e = err instanceof DumptruckError ? err : toDumptruckError(err, 'INTERNAL', 'internal');
  const lines = [`${e.stage} failed: ${e.message}`];
  if (e.stage === 'input' || e.stage === 'config' || e.stage === 'cancelled' || e.stage === 'timeout') {
    lines[0] = e.message;
  }
  if (e.hint) lines.push(e.hint);
  if (e.stderrTail) lines.push(`${e.tool ?? 'pg_dump'} said:\n${e.stderrTail}`);
  return redactor.text(lines.join('\n'));
}
