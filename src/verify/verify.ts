import { spawn as nodeSpawn } from 'node:child_process';
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Env } from '../config/load.js';
import type { Config, TargetConfig } from '../config/schema.js';
import { CancelledError, DumptruckError, InputError, describeCause, toDumptruckError } from '../errors.js';
import type { locatePgDump } from '../pipeline/probe.js';
import { AGE_BIN, AGE_DECRYPT_ARGS, decryptFailure, startAge, type AgeSpawn } from '../pipeline/age.js';
import { Meter, READ_COLLECT_BYTES } from '../pipeline/streams.js';
import { createDecompressor } from '../pipeline/compress.js';
import { resolveHmacKey, resolvePassword } from '../secrets/index.js';
import { backupKind, isBackupKeyOf, targetPrefix } from '../storage/keys.js';
import type { CompressionAlgorithm, DumpFormat, RestoreReport, VerifyReport } from '../types.js';
import { provenance, type Provenance } from '../storage/hmac.js';
import { META } from '../storage/metadata.js';
import { manifestKey, readStoredBackup, type BackupFacts } from '../storage/manifest.js';
import { getPinned, hashObject, type PinnedObject } from '../storage/pinned.js';
import { pipelineBody } from '../storage/body.js';
import { AgeHeaderCheck } from './age-header.js';
import { CustomMagicCheck, PlainDumpCheck } from './dump-shape.js';
import { FailSoft } from './fork.js';
import { RestrictedPsqlInput, newRestrictKey, serverOptions } from './restrict.js';
import { markerKey, writeVerifiedMarker } from './marker.js';
import { DatabaseServer, SCRATCH_SERVER, scratchDatabaseName } from './scratch.js';
export type { RestoreReport, VerifyReport } from '../types.js';
import {
  describeExit,
  locatePgTools,
  needsScriptRestore,
  psqlRestoreArgs,
  requireRestrictedPsql,
  startArchiveRestore,
  startTool,
  toolName,
  type PgTools,
  type ToolSpawn,
} from './tools.js';
import { lookupTarget } from '../config/targets.js';
import { scrubSecrets } from '../redact.js';

/** Findings about the object itself (not about the scratch server or the tools). */
const DAMAGED: ReadonlySet<string> = new Set(['CORRUPTED', 'TRUNCATED', 'SWAPPED', 'NOT_A_DUMP']);

export interface VerifyDeps {
  readonly config: Config;
  readonly s3: S3Client;
  /** Where password sources of kind `env` are read (verify.password). */
  readonly env: Env;
  readonly now?: () => Date;
  readonly locatePgDump?: typeof locatePgDump;
  readonly spawn?: ToolSpawn;
  /** Random part of the scratch database name; tests pin it. */
  readonly randomSuffix?: () => string;
  /** The age binary that decrypts encrypted backups; default `age` on PATH. */
  readonly ageBin?: string;
  /** psql's `\restrict` key for one restore; default: 32 random bytes. */
  readonly restrictKey?: () => string;
}

export interface VerifyOptions {
  /** Restore into a throwaway database on verify.restoreUrl. Default: whenever verify.restoreUrl is set. */
  readonly restore?: boolean;
  /** Aborting stops the download and the restore; the scratch database is dropped all the same. */
  readonly signal?: AbortSignal;
  /** application_name of the connections, for pg_stat_activity. */
  readonly jobId?: string;
  /**
   * Accept an object without dumptruck's HMAC (written before backups were signed). Only for an
   * exact key an operator named; an HMAC that does not match is refused all the same.
   */
  readonly trustLegacy?: boolean;
}

/**
 * Proves that a stored backup is what it claims to be, in one streamed pass over the object: it
 * belongs to `target` (metadata), its bytes hash to the SHA-256 recorded at backup time, it
 * decompresses to the end and is a complete pg_dump (plain: header and "dump complete" trailer;
 * custom: PGDMP magic, every data block read by pg_restore, and `pg_restore --list`), and, with
 * a scratch server, it restores. On success a `.verified` marker is written beside it. Throws a
 * DumptruckError of stage `verify` naming what is wrong: CORRUPTED, TRUNCATED, SWAPPED,
 * NOT_A_DUMP, RESTORE_FAILED (or VERIFY_FAILED when the check itself could not run).
 */
export async function verifyBackup(deps: VerifyDeps, target: string, key: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const now = deps.now ?? (() => new Date());
  const { config, s3 } = deps;
  const bucket = config.storage.bucket;
  const targetConfig = lookupTarget(config, target);
  if (!isBackupKeyOf(config.storage.prefix, target, key)) {
    throw new InputError(
      `${JSON.stringify(key)} is not a backup key of ${target}`,
      `keys start with ${targetPrefix(config.storage.prefix, target)}; list them with: list ${target}`,
    );
  }
  const restoreUrl = config.verify.restoreUrl;
  if (options.restore && restoreUrl === undefined) {
    throw new InputError(
      'a restore test needs verify.restoreUrl',
      'set verify.restoreUrl (and verify.password) to a scratch PostgreSQL server',
    );
  }
  // isBackupKeyOf accepted the key, so its suffix is one of ours.
  const { format, algorithm = 'gzip', encrypted } = backupKind(key)!;
  const decompress = algorithm === 'zstd' ? 'zstd -d' : 'gunzip';
  const identitySource = encrypted ? identitySourceOf(config, targetConfig) : undefined;
  // Without the private key an encrypted backup can be checked only as ciphertext.
  const decryptable = !encrypted || identitySource !== undefined;
  const restore = decryptable && (options.restore ?? restoreUrl !== undefined);
  const started = now();
  const appName = `dumptruck-verify-${options.jobId ?? 'cli'}`;
  const secrets: string[] = [];

  try {
    const hmacKey = await resolveHmacKey(config.storage.hmacKey, { env: deps.env });
    secrets.push(hmacKey);
    const stored = await readStoredBackup(s3, bucket, key, { signal: options.signal, hint: `list backups with: list ${target}` });
    const facts = stored.facts;
    // Before anything reads the bytes: only what dumptruck wrote is handed to psql or pg_restore.
    const untrusted =
      facts &&
      provenanceProblem(target, key, provenance(hmacKey, key, facts.sha256, facts.hmac), options.trustLegacy === true, facts.recordedIn);
    if (untrusted) throw untrusted;
    const identity = identityProblem(target, key, facts, stored.size);
    if (identity) throw identity;
    const recordedIn = facts!.recordedIn;
    const expectedSha = facts!.sha256!;
    const checks = [
      `${recordedIn} names target ${target}`,
      facts!.hmac === undefined
        ? 'no HMAC (written before backups were signed), trusted by the operator for this key'
        : `HMAC of key and sha256 (in its ${recordedIn}) matches storage.hmacKey`,
      `size matches the ${stored.size} bytes stored`,
    ];

    const tools = (format === 'custom' && decryptable) || restore ? await locatePgTools(targetConfig.pgDump, deps.locatePgDump) : undefined;
    if (format === 'plain' && restore)
      await requireRestrictedPsql(deps.spawn, tools!.psql, { parent: deps.env, password: undefined, appName });
    const password = restore ? await verifyPassword(config, deps.env) : undefined;
    if (password) secrets.push(password);
    const ageIdentity = identitySource
      ? await resolvePassword(target, identitySource, { env: deps.env }, identityPath(targetConfig, target))
      : undefined;
    if (ageIdentity) secrets.push(ageIdentity);
    const ctx: PassContext = {
      deps,
      bucket,
      key,
      format,
      algorithm,
      tools,
      appName,
      password,
      identity: ageIdentity,
      encrypted,
      signal: options.signal,
      restrictKey: (deps.restrictKey ?? newRestrictKey)(),
    };

    let pass: PassResult;
    let restoreReport: RestoreReport | undefined;
    if (restore) {
      // The bytes psql or pg_restore will execute are checked before a byte reaches them, and then read pinned to that version.
      const pin = await hashObject(s3, bucket, key, options.signal);
      verdict(key, expectedSha, { sha256: pin.sha256, storedBytes: 0, dumpedBytes: 0, sideError: undefined }, recordedIn);
      const scratch = new DatabaseServer(restoreUrl!, password, appName, SCRATCH_SERVER);
      const serverMajor = await scratch.serverMajor();
      const script = format === 'custom' && needsScriptRestore(tools!, serverMajor);
      // psql runs pg_restore's script of the archive: the same refusal as for a plain dump.
      if (script) await requireRestrictedPsql(deps.spawn, tools!.psql, { parent: deps.env, password: undefined, appName });
      const database = scratchDatabaseName(target, deps.randomSuffix?.());
      await scratch.create(database);
      let failure: unknown;
      try {
        const restoreStart = now();
        pass = await streamPass({ ...ctx, restoreInto: scratch.urlFor(database), serverMajor, pin });
        verdict(key, expectedSha, pass, recordedIn);
        const tables = await scratch.countRows(database);
        restoreReport = {
          database,
          tables,
          rows: tables.reduce((n, t) => n + t.rows, 0),
          durationMs: now().getTime() - restoreStart.getTime(),
        };
      } catch (err) {
        failure = err;
        throw err;
      } finally {
        // Whatever happened, the throwaway database goes; a failure to drop it is reported
        // unless the verification had already failed for a reason that matters more.
        await scratch.drop(database).catch((dropError: unknown) => {
          if (failure === undefined) throw dropError;
        });
      }
      checks.push(
        `sha256 matches ${recordedIn}`,
        ...decrypted(ctx),
        format === 'plain'
          ? `${decompress} | psql -v ON_ERROR_STOP=1 restored it`
          : script
            ? `pg_restore -f - | psql -v ON_ERROR_STOP=1 restored it (PostgreSQL ${serverMajor}: without SET transaction_timeout)`
            : 'pg_restore --exit-on-error restored it',
      );
    } else if (!decryptable) {
      pass = await streamPass(ctx);
      verdict(key, expectedSha, pass, recordedIn);
      checks.push(`sha256 matches ${recordedIn}`, `age header well formed (${pass.stanzas?.length ?? 0} recipient stanzas)`);
    } else {
      pass = await streamPass(ctx);
      verdict(key, expectedSha, pass, recordedIn);
      checks.push(
        `sha256 matches ${recordedIn}`,
        ...decrypted(ctx),
        format === 'plain' ? `${decompress} reads it to the end` : 'pg_restore reads every block',
      );
    }
    if (decryptable) checks.push(format === 'plain' ? 'pg_dump header and "dump complete" trailer present' : 'PGDMP magic present');
    const partial = decryptable
      ? undefined
      : 'encrypted with age and no encrypt.identity configured: decryption, decompression and restore checks need the identity';

    let archiveEntries: number | undefined;
    if (format === 'custom' && decryptable) {
      const listing = await listArchive(ctx, targetConfig);
      archiveEntries = listing.entries;
      checks.push(`pg_restore --list: ${listing.entries} entries, database ${listing.dbname}`);
    }

    const finished = now();
    const report: VerifyReport = {
      target,
      bucket,
      key,
      format,
      storedBytes: pass.storedBytes,
      sha256: pass.sha256,
      dumpedBytes: pass.dumpedBytes,
      checks,
      ...(archiveEntries === undefined ? {} : { archiveEntries }),
      ...(restoreReport ? { restore: restoreReport } : {}),
      ...(encrypted ? { encrypted } : {}),
      ...(partial ? { partial } : {}),
      verifiedAt: finished,
      durationMs: finished.getTime() - started.getTime(),
    };
    // A marker says "this restores"; a check of the ciphertext alone has not shown that.
    if (!partial) await writeVerifiedMarker(s3, bucket, report, hmacKey);
    return report;
  } catch (err) {
    if (options.signal?.aborted) throw abortReason(options.signal);
    const e = toDumptruckError(err, 'VERIFY_FAILED', 'verify', `verifying ${key}`);
    // A backup found damaged is no longer one retention may keep as "the newest verified".
    if (DAMAGED.has(e.code)) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: markerKey(key) })).catch(() => undefined);
    const message = scrubSecrets(e.message, secrets);
    throw message === e.message
      ? e
      : new DumptruckError(e.code, e.stage, message, { stderrTail: e.stderrTail, tool: e.tool, hint: e.hint });
  }
}

/** Where a backup's HMAC is read from, as messages name it. */
function hmacPlace(key: string, recordedIn: BackupFacts['recordedIn']): string {
  return recordedIn === 'manifest' ? manifestKey(key) : `x-amz-meta-${META.hmac}`;
}

/** Pure: why an object is not to be read as a backup, from what its HMAC says; undefined when it may be. */
export function provenanceProblem(
  target: string,
  key: string,
  found: Provenance,
  trustLegacy: boolean,
  recordedIn: BackupFacts['recordedIn'] = 'metadata',
): DumptruckError | undefined {
  if (found === 'trusted' || (found === 'unsigned' && trustLegacy)) return undefined;
  if (found === 'forged') {
    return new DumptruckError(
      'UNTRUSTED',
      'verify',
      `${key} is not a backup dumptruck wrote: its HMAC (${hmacPlace(key, recordedIn)}) does not match its key and SHA-256, so it was not restored`,
      {
        hint: `the object or its ${recordedIn} was written by someone else, or copied from another key; or this dumptruck has a different storage.hmacKey than the one that wrote it`,
      },
    );
  }
  return new DumptruckError(
    'UNTRUSTED',
    'verify',
    `${key} carries no dumptruck HMAC (${hmacPlace(key, recordedIn)}), so it was not restored: it was not written by dumptruck, or was written before backups were signed`,
    {
      hint: `if you know it is a backup dumptruck wrote before signing, verify that one object from a terminal with: dumptruck verify ${target} ${key} --trust-legacy`,
    },
  );
}

/**
 * Pure: what the backup's record (manifest, or metadata of an old-style object) and the dump's
 * size say before a byte is read. No record at all: the run never completed. Another target's
 * backup moved under this key keeps its own record, so it is caught here as SWAPPED.
 */
export function identityProblem(target: string, key: string, facts: BackupFacts | undefined, size: number): DumptruckError | undefined {
  if (facts === undefined) {
    return new DumptruckError(
      'INCOMPLETE',
      'verify',
      `${key} has no manifest (${manifestKey(key)}): its backup never completed, so it is not a backup to verify or restore`,
      {
        hint: 'a run that died after the upload and before its manifest leaves this; prune deletes it after storage.incompleteGrace',
      },
    );
  }
  const owner = facts.target;
  if (owner === undefined || facts.sha256 === undefined) {
    return new DumptruckError(
      'VERIFY_FAILED',
      'verify',
      `${key} has no dumptruck metadata (x-amz-meta-target, x-amz-meta-sha256): it was not written by dumptruck, or its metadata was lost`,
    );
  }
  if (owner !== target) {
    return new DumptruckError(
      'SWAPPED',
      'verify',
      `${key} holds a backup of target "${owner}", not of "${target}": the object was replaced`,
    );
  }
  const format = backupKind(key)?.format;
  if (facts.format !== undefined && facts.format !== format) {
    return new DumptruckError(
      'SWAPPED',
      'verify',
      `${key} holds a ${facts.format}-format dump under a ${format}-format key: the object was replaced`,
    );
  }
  const stored = facts.storedBytes;
  if (stored !== undefined && size < stored) {
    return new DumptruckError('TRUNCATED', 'verify', `${key} is ${size} bytes, but ${stored} were stored: the object was cut short`);
  }
  if (stored !== undefined && size > stored) {
    return new DumptruckError('CORRUPTED', 'verify', `${key} is ${size} bytes, but ${stored} were stored: the object was changed`);
  }
  return undefined;
}

interface PassContext {
  readonly deps: VerifyDeps;
  readonly bucket: string;
  readonly key: string;
  readonly format: DumpFormat;
  /** How a plain dump was compressed (from its key's suffix). */
  readonly algorithm: CompressionAlgorithm;
  readonly tools: PgTools | undefined;
  readonly appName: string;
  readonly password: string | undefined;
  /** The age identity (private key) that decrypts an encrypted backup. */
  readonly identity: string | undefined;
  readonly encrypted: boolean;
  readonly signal: AbortSignal | undefined;
  /** Restore into this database URL (on the scratch server); absent: only read and check. */
  readonly restoreInto?: string;
  /** The scratch server's major version, with restoreInto: before 17, pg_dump 17+'s transaction_timeout setting is left out. */
  readonly serverMajor?: number;
  /** psql's input starts with `\restrict <this>`: no meta-command in the dump runs. */
  readonly restrictKey: string;
  /** The version a first pass hashed: read only that one (a restore). */
  readonly pin?: PinnedObject;
}

interface PassResult {
  readonly sha256: string;
  readonly storedBytes: number;
  readonly dumpedBytes: number;
  /** What the decompress/check/restore side found; the checksum decides first. */
  readonly sideError: unknown;
  /** An encrypted backup checked without its identity: the header's recipient stanza types. */
  readonly stanzas?: readonly string[];
}

/** Pure: the verdict of one pass. A checksum mismatch is the cause; whatever gunzip or pg_restore then hit is its symptom. */
export function verdict(key: string, expectedSha: string, pass: PassResult, recordedIn: BackupFacts['recordedIn'] = 'metadata'): void {
  if (pass.sha256 !== expectedSha) {
    const symptom =
      pass.sideError === undefined
        ? ''
        : ` (and then: ${pass.sideError instanceof Error ? pass.sideError.message : String(pass.sideError)})`;
    throw new DumptruckError(
      'CORRUPTED',
      'verify',
      `${key}: SHA-256 of the stored bytes is ${pass.sha256}, ${recordedIn} says ${expectedSha}: the object changed after it was written${symptom}`,
    );
  }
  if (pass.sideError !== undefined) {
    const e = toDumptruckError(pass.sideError, 'VERIFY_FAILED', 'verify', key);
    throw e.message.startsWith(key)
      ? e
      : new DumptruckError(e.code, e.stage, `${key}: ${e.message}`, { cause: e, stderrTail: e.stderrTail, tool: e.tool, hint: e.hint });
  }
}

export interface Side {
  readonly head: Writable;
  readonly done: Promise<void>;
  bytes(): number;
  kill(): void;
}

/** One read of the object: SHA-256 of every byte, and the bytes into the format's checks (and the restore). */
async function streamPass(ctx: PassContext): Promise<PassResult> {
  const object = ctx.pin
    ? await getPinned(ctx.deps.s3, ctx.bucket, ctx.pin, 'verify', ctx.signal)
    : await ctx.deps.s3
        .send(new GetObjectCommand({ Bucket: ctx.bucket, Key: ctx.key }), { abortSignal: ctx.signal })
        .catch((err: unknown) => {
          throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${ctx.key}`);
        });
  const meter = new Meter({ sha256: true, collectEveryBytes: READ_COLLECT_BYTES });
  const header = ctx.encrypted && ctx.identity === undefined ? new AgeHeaderCheck(ctx.key) : undefined;
  const side = header ? headerSide(header) : decrypting(ctx, ctx.format === 'plain' ? plainSide(ctx) : customSide(ctx));
  const sink = new FailSoft(side.head, side.done);
  try {
    await pipeline(pipelineBody(object.Body), meter, sink, ...(ctx.signal ? [{ signal: ctx.signal }] : []));
  } catch (err) {
    side.kill();
    await side.done.catch(() => undefined);
    throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${ctx.key}`);
  }
  return {
    sha256: meter.digest(),
    storedBytes: meter.bytes,
    dumpedBytes: side.bytes(),
    sideError: sink.error,
    ...(header ? { stanzas: header.stanzas } : {}),
  };
}

/** An encrypted backup without its identity: only its header can be read. */
function headerSide(check: AgeHeaderCheck): Side {
  const done = new Promise<void>((resolve, reject) => {
    check.once('finish', resolve);
    check.once('error', reject);
  });
  return { head: check, done, bytes: () => 0, kill: () => undefined };
}

/** What decrypting needs of a pass: restore's passes have it too. */
export type DecryptContext = Pick<PassContext, 'key' | 'identity' | 'encrypted'> & {
  readonly deps: Pick<VerifyDeps, 'spawn' | 'ageBin' | 'env'>;
};

/** `age --decrypt` in front of `inner` for an encrypted backup (the identity through fd 3); `inner` itself otherwise. */
export function decrypting(ctx: DecryptContext, inner: Side): Side {
  if (!ctx.encrypted) return inner;
  const age = startAge(ctx.deps.spawn ?? (nodeSpawn as unknown as AgeSpawn), ctx.deps.ageBin ?? AGE_BIN, AGE_DECRYPT_ARGS, {
    env: ctx.deps.env,
    identity: ctx.identity,
  });
  // Settled below, after age's verdict. When the reading side fails on its own (psql stopped at an
  // error), nothing reads age's output any more: stop age, and report psql's error, not what age
  // then said about its broken pipe or cut input. When the reading side only saw its input end
  // early, age's own verdict is the cause.
  let innerFailure: unknown;
  inner.done.catch((err: unknown) => {
    innerFailure = err;
    if (!endedEarly(err)) age.kill();
  });
  const done = (async () => {
    const piped = pipeline(age.stage, inner.head).catch(() => undefined);
    const exit = await age.exited;
    const victim = innerFailure !== undefined && !endedEarly(innerFailure) && !/no identity matched/i.test(age.stderrTail());
    const failure = victim ? undefined : decryptFailure(ctx.key, exit, age.stderrTail());
    if (failure) {
      inner.kill();
      await inner.done.catch(() => undefined);
      throw failure;
    }
    await piped;
    await inner.done;
  })();
  return {
    head: age.stage,
    done,
    bytes: inner.bytes,
    kill: () => {
      age.kill();
      inner.kill();
    },
  };
}

/** Whether a stage failed only because its input stopped short (a symptom of what fed it). */
function endedEarly(err: unknown): boolean {
  return /unexpected end|ends early|premature|truncated|cut short/i.test(describeCause(err));
}

/** The checks' words for the decryption step, when there was one. */
function decrypted(ctx: PassContext): string[] {
  return ctx.encrypted ? ['age --decrypt with encrypt.identity authenticated every chunk'] : [];
}

/** Discards what it is given: the check-only pass needs the bytes read, not kept. */
function nullSink(): Writable {
  return new Writable({ write: (_chunk, _enc, callback) => callback() });
}

/** gunzip or zstd -d -> header/trailer check -> psql (restore) or nowhere. */
function plainSide(ctx: PassContext): Side {
  const decompress = createDecompressor(ctx.algorithm);
  const check = new PlainDumpCheck();
  const psql = ctx.restoreInto
    ? startTool(ctx.deps.spawn, ctx.tools!.psql, psqlRestoreArgs(ctx.restoreInto), toolEnv(ctx), { stdin: true })
    : undefined;
  const done = (async () => {
    const sink = psql
      ? ([new RestrictedPsqlInput(ctx.restrictKey, serverOptions(ctx.serverMajor!)), psql.stdin!] as const)
      : ([nullSink()] as const);
    const piped = await pipeline(decompress, check, ...sink).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (piped !== undefined) psql?.kill();
    const decode = piped === undefined ? undefined : decodeError(piped, ctx.algorithm);
    if (decode) throw decode;
    if (psql) {
      const exit = await psql.exited;
      if (exit.code !== 0) throw restoreFailed(ctx, describeExit(ctx.tools!.psql, exit), psql.stderrTail(), 'psql');
    }
    if (piped !== undefined) throw restoreFailed(ctx, describeCause(piped), psql?.stderrTail(), 'psql');
  })();
  return { head: decompress, done, bytes: () => check.bytes, kill: () => psql?.kill() };
}

/**
 * PGDMP check -> pg_restore, into the scratch database or (check only) to /dev/null, reading every
 * data block. pg_restore talks to the server over libpq and has no meta-commands: it gets only
 * the archive on stdin and fixed options, never anything read from the object.
 */
function customSide(ctx: PassContext): Side {
  const check = new CustomMagicCheck();
  const restore = ctx.restoreInto
    ? startArchiveRestore(ctx.deps.spawn, ctx.tools!, ctx.serverMajor!, ['--no-owner'], ctx.restoreInto, toolEnv(ctx), ctx.restrictKey)
    : startTool(ctx.deps.spawn, ctx.tools!.pgRestore, ['--file', '/dev/null'], toolEnv(ctx), { stdin: true });
  const done = (async () => {
    const piped = await pipeline(check, restore.stdin!).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (piped !== undefined && piped instanceof DumptruckError) {
      restore.kill();
      await restore.exited;
      throw piped;
    }
    const exit = await restore.exited;
    if (exit.code === 0 && piped === undefined) return;
    const stderr = restore.stderrTail();
    const tool = toolName(restore.bin());
    const what = describeExit(restore.bin(), exit);
    if (tool === 'pg_restore' && /end of file|could not find block ID|unexpected EOF/i.test(stderr)) {
      throw new DumptruckError('TRUNCATED', 'verify', `${ctx.key}: the archive ends early (${what}): the dump was cut short`, {
        stderrTail: stderr,
        tool,
      });
    }
    if (ctx.restoreInto) throw restoreFailed(ctx, what, stderr, tool);
    throw new DumptruckError('CORRUPTED', 'verify', `${ctx.key}: pg_restore cannot read the archive (${what})`, {
      stderrTail: stderr,
      tool,
    });
  })();
  return { head: check, done, bytes: () => check.bytes, kill: () => restore.kill() };
}

/** zlib's complaints, in the words of a backup: a stream that ends early was cut short; anything else is damage. */
function decodeError(err: unknown, algorithm: CompressionAlgorithm): DumptruckError | undefined {
  if (err instanceof DumptruckError) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !/^(Z|ZSTD)_/.test(code)) return undefined;
  const message = (err as Error).message;
  if (code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(message)) {
    return new DumptruckError('TRUNCATED', 'verify', `the ${algorithm} stream ends early (${message}): the object was cut short`, {
      cause: err,
    });
  }
  return new DumptruckError('CORRUPTED', 'verify', `the ${algorithm} stream does not decompress (${message})`, { cause: err });
}

function restoreFailed(ctx: PassContext, what: string, stderr: string | undefined, tool: string): DumptruckError {
  return new DumptruckError('RESTORE_FAILED', 'verify', `${ctx.key} did not restore: ${what}`, {
    ...(stderr ? { stderrTail: scrubSecrets(stderr, ctx.password ? [ctx.password] : []), tool } : {}),
    hint: "the scratch server needs the roles the dump refers to (or use format: custom, restored with --no-owner), and a PostgreSQL version at least the source's",
  });
}

function toolEnv(ctx: PassContext) {
  return { parent: ctx.deps.env, password: ctx.password, appName: ctx.appName };
}

/**
 * `pg_restore --list` on the archive, streamed: it reads only the header and table of contents,
 * so the download is dropped as soon as it exits. The archive names the database it was dumped
 * from; a different one than the target's URL names means another database's backup.
 */
async function listArchive(ctx: PassContext, target: TargetConfig): Promise<{ entries: number; dbname: string }> {
  const controller = new AbortController();
  const list = startTool(ctx.deps.spawn, ctx.tools!.pgRestore, ['--list'], toolEnv(ctx), { stdin: true, captureStdout: true });
  try {
    const object = await ctx.deps.s3.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: ctx.key }), { abortSignal: controller.signal });
    const body = pipelineBody(object.Body);
    // The listing needs only the archive's header and table of contents: the rest is not read.
    void list.exited.then(() => {
      controller.abort();
      body.destroy();
    });
    const age = ctx.encrypted
      ? startAge(ctx.deps.spawn ?? (nodeSpawn as unknown as AgeSpawn), ctx.deps.ageBin ?? AGE_BIN, AGE_DECRYPT_ARGS, {
          env: ctx.deps.env,
          identity: ctx.identity,
        })
      : undefined;
    void list.exited.then(() => age?.kill());
    const piped = await pipeline([body, ...(age ? [age.stage] : []), list.stdin!]).then(
      () => true,
      () => false,
    );
    // No age outlives the listing: stopped when pg_restore or the download stopped first.
    if (age) {
      if (!piped) age.kill();
      await age.exited;
    }
  } catch (err) {
    list.kill();
    throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${ctx.key}`);
  }
  const exit = await list.exited;
  if (exit.code !== 0) {
    throw new DumptruckError(
      'NOT_A_DUMP',
      'verify',
      `${ctx.key}: pg_restore --list cannot read its table of contents (${describeExit(ctx.tools!.pgRestore, exit)})`,
      {
        stderrTail: list.stderrTail(),
        tool: 'pg_restore',
      },
    );
  }
  const out = list.stdout();
  const dbname = /^;\s+dbname: (.*)$/m.exec(out)?.[1]?.trim() ?? '';
  const entries = out.split('\n').filter((line) => line.trim() !== '' && !line.startsWith(';')).length;
  const expected = decodeURIComponent(new URL(target.url).pathname.slice(1));
  if (dbname !== expected) {
    throw new DumptruckError(
      'SWAPPED',
      'verify',
      `${ctx.key} is a dump of database "${dbname}", but the target's url names "${expected}": the object was replaced`,
    );
  }
  return { entries, dbname };
}

/** The identity that decrypts a target's backups: its own encrypt.identity, else the top-level one (kept for old backups after `encrypt: false`). */
export function identitySourceOf(config: Config, target: TargetConfig) {
  return (target.encrypt ? target.encrypt.identity : undefined) ?? config.encrypt?.identity;
}

export function identityPath(target: TargetConfig, name: string): string {
  return target.encrypt && target.encrypt.identity ? `targets.${name}.encrypt.identity` : 'encrypt.identity';
}

async function verifyPassword(config: Config, env: Env): Promise<string | undefined> {
  try {
    return await resolvePassword('verify', config.verify.password, { env });
  } catch (err) {
    // resolvePassword names a target's password path; this one is verify.password.
    if (err instanceof DumptruckError)
      throw new DumptruckError(err.code, err.stage, err.message.replace(/^targets\.verify\.password/, 'verify.password'), {
        hint: err.hint,
      });
    throw err;
  }
}

function abortReason(signal: AbortSignal): DumptruckError {
  const reason: unknown = signal.reason;
  return reason instanceof DumptruckError ? reason : new CancelledError();
}
