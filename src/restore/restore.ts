import type { S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Env } from '../config/load.js';
import type { Config, MirrorConfig, RestoreOptions } from '../config/schema.js';
import { lookupTarget } from '../config/targets.js';
import { CancelledError, DumptruckError, InputError, describeCause, toDumptruckError } from '../errors.js';
import { scrubSecrets } from '../redact.js';
import { Meter, READ_COLLECT_BYTES } from '../pipeline/streams.js';
import { resolveHmacKey, resolvePassword } from '../secrets/index.js';
import { createCatalog } from '../storage/catalog.js';
import { createMirrorClient } from '../storage/client.js';
import { compactTimestamp } from '../storage/keys.js';
import { META } from '../storage/metadata.js';
import { readStoredBackup, type BackupFacts, type StoredBackup } from '../storage/manifest.js';
import { getPinned, hashObject, type PinnedObject } from '../storage/pinned.js';
import { pipelineBody } from '../storage/body.js';
import { FailSoft } from '../verify/fork.js';
import type { RestorePlan, RestoreProgress, RestoreRunReport, RestoreSource } from '../types.js';
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
} from '../verify/tools.js';
import { decrypting, identityPath, identityProblem, identitySourceOf, type Side, type VerifyDeps } from '../verify/verify.js';
import { decodingFor } from './decompress.js';
import { RestrictedPsqlInput, newRestrictKey, serverOptions } from '../verify/restrict.js';
import { DATABASE_NAME, RESTORE_DESTINATION, asideName, isRestoringName, restoringName, restoringPrefix } from './server.js';
import { DatabaseServer, type AdminTimeouts } from '../verify/scratch.js';
import { assertLegacyTrustable, assertTrusted } from './trust.js';

export type { RestorePlan, RestoreProgress, RestoreRunReport, RestoreSource } from '../types.js';

// A backup restored into a database: planned (what, from where, into what; nothing changed yet)
// when it is asked for, run once approved. One streamed pass from the store through
// decompression into psql or pg_restore, no temp file, SHA-256 checked against what was recorded
// at backup time. A failure or cancel drops the half-restored database, and a database that was
// being replaced gets its name back.

export const RESTORE_DEFAULTS: RestoreOptions = {
  approvers: [],
  twoPerson: true,
  approvalExpiry: 3_600_000,
  allowReplace: false,
  noOwner: false,
};

/** What verification needs (config, store, environment, tools, clock), and the mirror's client. */
export interface RestoreDeps extends Omit<VerifyDeps, 'randomSuffix'> {
  /** Random part of the restoring and aside database names; tests pin it. */
  readonly randomSuffix?: () => string;
  /** Statement timeouts on the destination server; default ADMIN_TIMEOUTS. */
  readonly adminTimeouts?: AdminTimeouts;
  /** The mirror's client (`from mirror`); default: built from the mirror's config. */
  readonly mirrorClient?: (mirror: MirrorConfig, env: Env) => S3Client;
}

export interface RestoreAsk {
  readonly target: string;
  /** `latest` or a key of the target. */
  readonly key: string;
  readonly database: string;
  /** Replace an existing database (needs restore.allowReplace). */
  readonly replace?: boolean;
  readonly source?: RestoreSource;
  /** Restore this named unsigned backup from before backups were signed (CLI --trust-legacy only; never `latest`). */
  readonly trustLegacy?: boolean;
}

/** Everything an approver needs to see, and what the restore will do; nothing is changed by planning it. */
export interface RestoreRunOptions {
  readonly signal?: AbortSignal;
  readonly jobId?: string;
  readonly onEvent?: (event: RestoreProgress) => void;
  /** Least time between restore-progress events. Default 1000 ms. */
  readonly progressIntervalMs?: number;
  /** The CLI's --trust-legacy, given again by the caller (never read from a stored plan). */
  readonly trustLegacy?: boolean;
}

export function restoreOptions(config: Config, target: string): RestoreOptions {
  return lookupTarget(config, target).restore ?? RESTORE_DEFAULTS;
}

/** Which store and bucket `source` means for the target. */
function store(deps: RestoreDeps, target: string, source: RestoreSource): { s3: S3Client; bucket: string } {
  if (source === 'primary') return { s3: deps.s3, bucket: deps.config.storage.bucket };
  const own = lookupTarget(deps.config, target).mirror;
  const mirror = own === false ? undefined : (own ?? deps.config.mirror);
  if (!mirror)
    throw new InputError(
      `${target} has no mirror to restore from`,
      'restore from the primary store (leave out `from mirror`), or configure mirror:',
    );
  return { s3: (deps.mirrorClient ?? createMirrorClient)(mirror, deps.env), bucket: mirror.bucket };
}

/** Resolves the backup and checks the destination: what the approval message shows. Changes nothing. */
export async function planRestore(deps: RestoreDeps, ask: RestoreAsk): Promise<RestorePlan> {
  const now = deps.now ?? (() => new Date());
  const options = restoreOptions(deps.config, ask.target);
  const replace = ask.replace === true;
  if (!DATABASE_NAME.test(ask.database)) {
    throw new InputError(
      `${JSON.stringify(ask.database)} is not a database name I restore into`,
      'use lowercase letters, digits, _ and -, starting with a letter or _, at most 63 characters',
    );
  }
  if (replace && !options.allowReplace) {
    throw new InputError(
      `replacing a database is not allowed for ${ask.target}`,
      `an admin sets targets.${ask.target}.restore.allowReplace: true; or restore into a new database`,
      'NOT_ALLOWED',
    );
  }
  if (replace) {
    const refusal = replaceRefusal(deps.config, ask.target, ask.database);
    if (refusal) throw refusal;
  }
  const source = ask.source ?? 'primary';
  const { s3, bucket } = store(deps, ask.target, source);
  const catalog = createCatalog({ s3, storage: { ...deps.config.storage, bucket }, env: deps.env });
  const object = await catalog.resolve(ask.target, ask.key);
  if (ask.trustLegacy && ask.key === 'latest')
    throw new InputError('--trust-legacy needs the exact key of the old backup, not latest', `list them with: list ${ask.target}`);
  if (ask.trustLegacy) assertLegacyTrustable(object.key);
  const { stored, facts } = await trustedBackup(deps, { target: ask.target, key: object.key, s3, bucket, now: now() }, ask.trustLegacy);
  const { metadata } = stored;
  // Refused before anyone is asked to approve: without the identity nothing could be decrypted.
  await ageIdentity(deps, ask.target, object.key);

  const { server } = await destination(deps, ask.target, 'plan');
  const exists = await server.exists(ask.database);
  if (exists && !replace) throw destinationExists(ask.target, ask.database, server.described, options);
  const startedAt = metadata[META.startedAt];
  return {
    target: ask.target,
    key: object.key,
    source,
    bucket,
    storedBytes: stored.size,
    sha256: facts.sha256!,
    backupAt: startedAt ? new Date(startedAt) : object.lastModified,
    database: ask.database,
    server: server.described,
    replace: exists,
    noOwner: options.noOwner,
  };
}

/**
 * The stored backup `key` of `target`, once its provenance (HMAC over key and SHA-256, no future
 * date) and identity (the target's own, complete) are checked: what an untrusted record says is
 * not read further. Run at planning and again before a restore creates anything.
 */
async function trustedBackup(
  deps: RestoreDeps,
  at: { readonly target: string; readonly key: string; readonly s3: S3Client; readonly bucket: string; readonly now: Date },
  trustLegacy: boolean | undefined,
): Promise<{ stored: StoredBackup; facts: BackupFacts }> {
  const stored = await readStoredBackup(at.s3, at.bucket, at.key);
  const { facts } = stored;
  const hmacKey = await resolveHmacKey(deps.config.storage.hmacKey, { env: deps.env });
  assertTrusted({ target: at.target, key: at.key, facts }, at.now, { hmacKey, trustLegacy: trustLegacy === true });
  const problem = identityProblem(at.target, at.key, facts, stored.size);
  if (problem || facts === undefined) throw new DumptruckError('NOT_TRUSTED', 'restore', problem?.message ?? `${at.key} has no manifest`);
  return { stored, facts };
}

/** Never replaced, whatever the config says: the server's own databases. */
const SYSTEM_DATABASES = ['postgres', 'template0', 'template1'];

/** host:port and database of a postgres URL. */
function place(url: string): { readonly server: string; readonly database: string } {
  const u = new URL(url);
  return { server: `${u.hostname}:${u.port || '5432'}`, database: decodeURIComponent(u.pathname.slice(1)) };
}

/**
 * Why `database` may not be replaced by a restore of `target`, or undefined when it may. A
 * requester picks the name, so allowReplace alone must not reach every database on the server:
 * only restore.replaceable (default: the target's own database), never a system database, never
 * a database another target backs up on the same server. Pure.
 */
export function replaceRefusal(config: Pick<Config, 'targets'>, target: string, database: string): DumptruckError | undefined {
  const t = lookupTarget(config, target);
  const options = t.restore ?? RESTORE_DEFAULTS;
  const fresh = 'restore into a new database instead';
  if (SYSTEM_DATABASES.includes(database)) {
    return new InputError(`${database} is a system database; ${SYSTEM_DATABASES.join(', ')} are never replaced`, fresh, 'NOT_ALLOWED');
  }
  const own = place(t.url);
  const destination = place(options.url ?? t.url).server;
  if (own.database !== database || own.server !== destination) {
    const other = Object.entries(config.targets).find(
      ([name, o]) => name !== target && place(o.url).server === destination && place(o.url).database === database,
    );
    if (other) {
      return new InputError(
        `${database} is the database of target ${other[0]}; a restore of ${target} never replaces another target's database`,
        `${fresh}, or restore a backup of ${other[0]}`,
        'NOT_ALLOWED',
      );
    }
  }
  const replaceable = options.replaceable ?? [own.database];
  if (!replaceable.includes(database)) {
    const listed = options.replaceable
      ? `it lists ${replaceable.join(', ') || 'none'}`
      : `by default only ${target}'s own database, ${own.database}`;
    return new InputError(
      `${database} is not in targets.${target}.restore.replaceable (${listed})`,
      `an admin adds it to targets.${target}.restore.replaceable; or ${fresh}`,
      'NOT_ALLOWED',
    );
  }
  return undefined;
}

function destinationExists(target: string, database: string, server: string, options: RestoreOptions): DumptruckError {
  return new DumptruckError(
    'DESTINATION_EXISTS',
    'restore',
    `database ${database} already exists on ${server}; a restore never overwrites a database`,
    {
      hint: options.allowReplace
        ? `pick a new database name, or replace it: /backup restore ${target} <key|latest> into ${database} replace`
        : `pick a new database name (replacing one needs targets.${target}.restore.allowReplace: true)`,
    },
  );
}

/**
 * The private key that decrypts `key` (the same encrypt.identity and secret sources verify uses),
 * or undefined for a backup that is not encrypted. An encrypted backup without one is refused.
 */
async function ageIdentity(deps: RestoreDeps, target: string, key: string): Promise<string | undefined> {
  if (!decodingFor(key).encrypted) return undefined;
  const t = lookupTarget(deps.config, target);
  const source = identitySourceOf(deps.config, t);
  if (source === undefined) {
    throw new InputError(
      `${key} is encrypted with age and no encrypt.identity is configured for ${target}, so it cannot be decrypted; nothing was restored`,
      `an admin sets targets.${target}.encrypt.identity (or the top-level encrypt.identity) to the private key of one of its recipients, from any secret source`,
      'NOT_ALLOWED',
    );
  }
  return resolvePassword(target, source, { env: deps.env }, identityPath(t, target));
}

async function destination(
  deps: RestoreDeps,
  target: string,
  jobId: string,
): Promise<{ server: DatabaseServer; password: string | undefined }> {
  const t = lookupTarget(deps.config, target);
  const options = t.restore ?? RESTORE_DEFAULTS;
  const url = options.url ?? t.url;
  // restore.password goes with restore.url; without one, the target's own server and password.
  const password = options.url
    ? await resolvePassword(`${target}.restore`, options.password, { env: deps.env })
    : await resolvePassword(target, t.password, { env: deps.env });
  return { server: new DatabaseServer(url, password, `dumptruck-restore-${jobId}`, RESTORE_DESTINATION, deps.adminTimeouts), password };
}

/**
 * Restores `plan` (from planRestore, approved). The backup's provenance and the destination are
 * checked again: the plan may have been edited where it waited, and the database may have
 * appeared since. The restore fills a private `<database>_restoring_<random>` database; only
 * once it succeeded (checksum included) does that take the requested name, and a replaced
 * database is renamed aside just before. A failure or cancel drops that private database and
 * nothing else. Throws a DumptruckError of stage `restore` (CORRUPTED on a checksum mismatch,
 * MISSING_ROLES, RESTORE_FAILED, NOT_TRUSTED) or the abort reason.
 */
export async function runRestore(deps: RestoreDeps, plan: RestorePlan, options: RestoreRunOptions = {}): Promise<RestoreRunReport> {
  const now = deps.now ?? (() => new Date());
  const random = deps.randomSuffix ?? (() => randomBytes(4).toString('hex'));
  const started = now();
  const jobId = options.jobId ?? 'cli';
  const { s3, bucket } = store(deps, plan.target, plan.source);
  // The plan waited in the state database: what it names is trusted only after the same checks as
  // planning, and only the checksum the signed record carries is restored.
  const { facts } = await trustedBackup(deps, { target: plan.target, key: plan.key, s3, bucket, now: started }, options.trustLegacy);
  if (facts.sha256 !== plan.sha256)
    throw new DumptruckError(
      'NOT_TRUSTED',
      'restore',
      `${plan.key} records SHA-256 ${facts.sha256}, the approved plan says ${plan.sha256}: the plan does not describe this backup, so it is not restored`,
    );
  const { server, password } = await destination(deps, plan.target, jobId);
  // Before anything is created: an encrypted backup without its identity is refused here too (the config may have changed since the plan).
  const identity = await ageIdentity(deps, plan.target, plan.key);
  const secrets = [password, identity].filter((s): s is string => s !== undefined);
  const targetConfig = lookupTarget(deps.config, plan.target);
  const tools = await locatePgTools(targetConfig.pgDump, deps.locatePgDump);
  const serverMajor = await server.serverMajor();
  // psql reads the dump (or pg_restore's script of one): one without restricted mode is refused before anything is created.
  if (decodingFor(plan.key).tool === 'psql' || needsScriptRestore(tools, serverMajor)) {
    await requireRestrictedPsql(deps.spawn, tools.psql, { parent: deps.env, password: undefined, appName: `dumptruck-restore-${jobId}` });
  }

  const restore = restoreOptions(deps.config, plan.target);
  const exists = await server.exists(plan.database);
  if (exists && !plan.replace) throw destinationExists(plan.target, plan.database, server.described, restore);
  // Again here: a plan may have been approved under another config.
  if (exists && !restore.allowReplace) throw destinationExists(plan.target, plan.database, server.described, restore);
  const refusal = exists ? replaceRefusal(deps.config, plan.target, plan.database) : undefined;
  if (refusal) throw refusal;
  // psql and pg_restore execute what they read as they read it: the whole object is hashed
  // before anything is created or restored, and the restoring pass reads that version.
  const pin = await hashObject(s3, bucket, plan.key, options.signal);
  if (pin.sha256 !== plan.sha256) throw corrupted(plan, pin.sha256, undefined);
  const temporary = restoringName(plan.database, random());
  // Set once CREATE succeeded, cleared once it took the requested name: the only database cleanup drops.
  let ours: string | undefined;
  try {
    options.signal?.throwIfAborted();
    await server.create(temporary);
    ours = temporary;
    options.onEvent?.({ type: 'restore-started', jobId, plan });
    const pass = await streamInto(deps, plan, {
      server,
      serverMajor,
      database: temporary,
      tools,
      password,
      identity,
      jobId,
      options,
      s3,
      bucket,
      pin,
    });
    // Still checked at the end: a store that ignores If-Match must not slip other bytes through unnoticed.
    if (pass.sha256 !== plan.sha256) throw corrupted(plan, pass.sha256, pass.sideError);
    if (pass.sideError !== undefined) throw pass.sideError;
    const counted = await countBestEffort(server, temporary);
    options.signal?.throwIfAborted();
    const keptAs = await swapIn(
      server,
      plan,
      temporary,
      exists ? asideName(plan.database, compactTimestamp(started), random()) : undefined,
    );
    ours = undefined;
    const leftovers = await leftoverRestores(server, plan.database);
    return {
      plan,
      ...counted,
      dumpedBytes: pass.dumpedBytes,
      durationMs: now().getTime() - started.getTime(),
      ...(keptAs ? { keptAs } : {}),
      ...(leftovers.length > 0 ? { leftovers } : {}),
    };
  } catch (err) {
    const reason = options.signal?.aborted
      ? abortReason(options.signal)
      : toDumptruckError(err, 'RESTORE_FAILED', 'restore', `restoring ${plan.key}`);
    // Only what this restore created goes: the destination and any replaced database were not touched by it.
    const left = ours
      ? await server.drop(ours).then(
          () => undefined,
          (e: unknown) => `${describeCause(e)}; the unfinished restore is left as ${ours}, drop it by hand`,
        )
      : undefined;
    if (left === undefined) throw reason;
    const message = scrubSecrets(`${reason.message}; cleaning up also failed: ${left}`, secrets);
    throw new DumptruckError(reason.code, reason.stage, message, {
      cause: reason,
      stderrTail: reason.stderrTail,
      tool: reason.tool,
      hint: reason.hint,
    });
  }
}

/**
 * The private databases of earlier restores into `database` that nobody is connected to. A restore
 * whose process died (or whose cleanup failed) leaves one, and nothing else ever drops it: it is
 * reported, not dropped, because a restore run from the CLI does not go through the bot's queue,
 * and one of those may be between two connections to its own. Best effort: a restore that
 * succeeded does not fail over a listing.
 */
async function leftoverRestores(server: DatabaseServer, database: string): Promise<string[]> {
  try {
    const found = await server.databasesStartingWith(restoringPrefix(database));
    return found.filter((d) => d.sessions === 0 && isRestoringName(database, d.name)).map((d) => d.name);
  } catch {
    return [];
  }
}

/**
 * Row counts of the restored database. A count that fails or times out must not throw away a
 * restore that succeeded (counting reads every table whole): the report then says why it has none.
 */
async function countBestEffort(
  server: DatabaseServer,
  database: string,
): Promise<Pick<RestoreRunReport, 'tables' | 'rows' | 'notCounted'>> {
  try {
    const tables = await server.countRows(database);
    return { tables, rows: tables.reduce((n, t) => n + t.rows, 0) };
  } catch (err) {
    return { tables: [], rows: 0, notCounted: describeCause(err) };
  }
}

/** How CLI and Slack word a restore's leftovers (RestoreRunReport.leftovers); `quote` marks up each name. */
export function leftoversText(target: string, names: readonly string[], quote: (name: string) => string = (n) => n): string {
  const them = names.length === 1 ? 'it' : 'them';
  return `also on the server, left by an interrupted restore and with nobody connected: ${names.map(quote).join(', ')}; drop ${them} once no restore of ${target} is running`;
}

/** "3 tables, 2505 rows", or that they were not counted and why: how CLI and Slack word a restore's size. */
export function restoredSummary(report: Pick<RestoreRunReport, 'tables' | 'rows' | 'notCounted'>): string {
  if (report.notCounted !== undefined) return `rows not counted (${report.notCounted})`;
  return `${report.tables.length} tables, ${report.rows} rows`;
}

/**
 * Gives the restored `temporary` database the plan's name: two quick renames at the very end.
 * Replacing: the old database goes to `aside` first, and gets its name back if the second rename
 * fails. Returns where the old database is kept. Throws with the databases where they were, except
 * `temporary`, which the caller drops.
 */
async function swapIn(
  server: DatabaseServer,
  plan: RestorePlan,
  temporary: string,
  aside: string | undefined,
): Promise<string | undefined> {
  // A failed first rename leaves the old database under its name, and `aside` is nobody's yet.
  if (aside !== undefined) await server.rename(plan.database, aside);
  try {
    await server.rename(temporary, plan.database);
  } catch (err) {
    const taken =
      aside === undefined && (await server.exists(plan.database).catch(() => false))
        ? new DumptruckError(
            'DESTINATION_EXISTS',
            'restore',
            `database ${plan.database} was created on ${plan.server} while the restore ran; it is left as it is and the restore is dropped`,
            { cause: err, hint: 'restore again into a new database name' },
          )
        : err;
    if (aside === undefined) throw taken;
    await server.rename(aside, plan.database).catch((back: unknown) => {
      throw new DumptruckError(
        'RESTORE_FAILED',
        'restore',
        `${describeCause(err)}; renaming the old database back also failed (${describeCause(back)}): it is now named ${aside}`,
        { cause: err, hint: `rename it back by hand: ALTER DATABASE ${aside} RENAME TO ${plan.database}` },
      );
    });
    throw taken;
  }
  return aside;
}

function corrupted(plan: RestorePlan, sha256: string, sideError: unknown): DumptruckError {
  const symptom = sideError === undefined ? '' : ` (and then: ${describeCause(sideError)})`;
  return new DumptruckError(
    'CORRUPTED',
    'restore',
    `${plan.key}: SHA-256 of the bytes read is ${sha256}, the backup recorded ${plan.sha256}: the object changed after it was written${symptom}`,
  );
}

interface Pass {
  readonly sha256: string;
  readonly dumpedBytes: number;
  readonly sideError: unknown;
}

interface PassContext {
  readonly server: DatabaseServer;
  /** The destination's major version: before 17, pg_dump 17+'s transaction_timeout setting is left out. */
  readonly serverMajor: number;
  /** The private database the restore fills. */
  readonly database: string;
  readonly tools: PgTools;
  readonly password: string | undefined;
  /** The age identity of an encrypted backup. */
  readonly identity: string | undefined;
  readonly jobId: string;
  readonly options: RestoreRunOptions;
  readonly s3: S3Client;
  readonly bucket: string;
  /** The version the first pass hashed. */
  readonly pin: PinnedObject;
}

/** One read of the object: every byte hashed, and decompressed into psql (restricted) or pg_restore. */
async function streamInto(deps: RestoreDeps, plan: RestorePlan, ctx: PassContext): Promise<Pass> {
  const { signal } = ctx.options;
  const object = await getPinned(ctx.s3, ctx.bucket, ctx.pin, 'restore', signal);
  const meter = new Meter({ sha256: true, collectEveryBytes: READ_COLLECT_BYTES });
  const interval = ctx.options.progressIntervalMs ?? 1000;
  let lastEvent = 0;
  meter.on('data', () => {
    const at = Date.now();
    if (at - lastEvent < interval) return;
    lastEvent = at;
    ctx.options.onEvent?.({ type: 'restore-progress', jobId: ctx.jobId, readBytes: meter.bytes });
  });
  // The checksum covers the stored (encrypted) bytes; age decrypts them in front of decompression.
  const side = decrypting(
    { deps, key: plan.key, identity: ctx.identity, encrypted: decodingFor(plan.key).encrypted },
    restoreSide(deps, plan, ctx),
  );
  const sink = new FailSoft(side.head, side.done);
  try {
    await pipeline(pipelineBody(object.Body), meter, sink, ...(signal ? [{ signal }] : []));
  } catch (err) {
    side.kill();
    await side.done.catch(() => undefined);
    throw toDumptruckError(err, 'STORAGE_FAILED', 'storage', `reading ${plan.key}`);
  }
  return { sha256: meter.digest(), dumpedBytes: side.bytes(), sideError: sink.error };
}

/** decompress -> (restricted) psql or pg_restore into the new database. */
function restoreSide(deps: RestoreDeps, plan: RestorePlan, ctx: PassContext): Side {
  const decoding = decodingFor(plan.key);
  const decompress = decoding.decompress();
  const counter = new Meter();
  const url = ctx.server.urlFor(ctx.database);
  const env = { parent: deps.env, password: ctx.password, appName: `dumptruck-restore-${ctx.jobId}` };
  const plain = decoding.tool === 'psql';
  // noOwner: pg_restore's switches; for a plain dump its ownership and privilege statements are left out.
  const noOwner = plan.noOwner ? ['--no-owner', '--no-privileges'] : [];
  // ON_ERROR_STOP / --exit-on-error: a restore that hit an error is a failure, never a success.
  const tool = plain
    ? startTool(deps.spawn, ctx.tools.psql, psqlRestoreArgs(url), env, { stdin: true })
    : startArchiveRestore(deps.spawn, ctx.tools, ctx.serverMajor, noOwner, url, env, newRestrictKey());
  const stages = plain
    ? [decompress, counter, new RestrictedPsqlInput(newRestrictKey(), { dropOwnership: plan.noOwner, ...serverOptions(ctx.serverMajor) })]
    : [decompress, counter];
  const done = (async () => {
    const piped = await pipeline([...stages, tool.stdin!] as unknown as [Readable, Writable]).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (piped !== undefined) tool.kill();
    const exit = await tool.exited;
    if (exit.code === 0 && piped === undefined) return;
    // RestrictedPsqlInput refused the dump (restore.noOwner): its reason, not psql's killed exit, says what happened.
    if (piped instanceof DumptruckError && piped.code === 'RESTORE_FAILED') throw piped;
    const stderr = scrubSecrets(tool.stderrTail(), ctx.password ? [ctx.password] : []);
    const roles = [...new Set([...stderr.matchAll(/role "([^"]+)" does not exist/g)].map((m) => m[1]!))];
    if (roles.length > 0) {
      throw new DumptruckError(
        'MISSING_ROLES',
        'restore',
        `${plan.key} refers to role${roles.length > 1 ? 's' : ''} ${roles.join(', ')}, which ${plan.server} does not have`,
        {
          stderrTail: stderr,
          tool: toolName(tool.bin()),
          hint: `create ${roles.length > 1 ? 'them' : 'it'} on ${plan.server} first, or set targets.${plan.target}.restore.noOwner: true to restore without owners and grants`,
        },
      );
    }
    const what =
      piped !== undefined && exit.code === 0
        ? `the backup could not be read to the end (${describeCause(piped)})`
        : describeExit(tool.bin(), exit);
    throw new DumptruckError('RESTORE_FAILED', 'restore', `${plan.key} did not restore into ${plan.database}: ${what}`, {
      ...(stderr ? { stderrTail: stderr, tool: toolName(tool.bin()) } : {}),
    });
  })();
  return { head: decompress, done, bytes: () => counter.bytes, kill: () => tool.kill() };
}

function abortReason(signal: AbortSignal): DumptruckError {
  const reason: unknown = signal.reason;
  return reason instanceof DumptruckError ? reason : new CancelledError();
}
