import { spawn as nodeSpawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Env } from '../config/load.js';
import type { Config, EncryptConfig, MirrorConfig, TargetConfig } from '../config/schema.js';
import { CancelledError, DumptruckError, TimeoutError, describeCause, toDumptruckError, userMessage } from '../errors.js';
import { formatDuration } from '../config/units.js';
import { AGE_BIN, ageEncryptArgs, encryptFailure, recipientFingerprint, startAge, type AgeProcess, type AgeSpawn } from '../pipeline/age.js';
import { createCompressor } from '../pipeline/compress.js';
import { planParts } from '../pipeline/parts.js';
import { pgDumpArgs, pgDumpEnv, startDump, type DumpProcess, type SpawnFn } from '../pipeline/pgdump.js';
import { checkCompressionSupport, checkPgDumpVersion, locatePgDump as defaultLocatePgDump, probeServer } from '../pipeline/probe.js';
import { Gate, Meter } from '../pipeline/streams.js';
import { checkBucket, uploadStream, type StreamUpload } from '../pipeline/upload.js';
import { resolveHmacKey, resolvePassword } from '../secrets/index.js';
import { deleteQuietly, replaceMetadata, type FinalizeOptions } from '../storage/finalize.js';
import { createMirrorClient, withAbortSignal } from '../storage/client.js';
import { objectKey } from '../storage/keys.js';
import { backupMetadata, contentTypeFor } from '../storage/metadata.js';
import { createAfterBackup, type AfterBackup } from './after-backup.js';
import type { BackupResult, BackupWarning, JobEvent, MirrorOutcome } from './events.js';
import type { JobHandler } from './queue.js';
import type { BackupRequest, RunBackup, RunOptions } from './types.js';
import { encryptionOf, lookupTarget } from '../config/targets.js';
import { targetCompression, type Compression } from '../config/compression.js';
import { Redactor, scrubSecrets } from '../redact.js';

export interface RunnerDeps {
  readonly config: Config;
  readonly s3: S3Client;
  /** Where password sources of kind `env` are read. */
  readonly env: Env;
  readonly spawn?: SpawnFn;
  readonly now?: () => Date;
  readonly locatePgDump?: typeof defaultLocatePgDump;
  /** How often progress events are emitted while streaming; reporters throttle further. Default 1000 ms. */
  readonly progressIntervalMs?: number;
  readonly finalize?: FinalizeOptions;
  readonly newJobId?: () => string;
  /** The random part of each run's object key (6 hex digits, see objectKey); default: random bytes. */
  readonly newRunToken?: () => string;
  /** Size check, verification and retention once the object is stored; default: as configured (createAfterBackup). */
  readonly afterBackup?: AfterBackup;
  /** Client for a mirror store; default: createMirrorClient (its own endpoint and keys). */
  readonly mirrorClient?: (mirror: MirrorConfig) => S3Client;
  /** Starts the `age` encryption stage; default: node's spawn. */
  readonly ageSpawn?: AgeSpawn;
  /** The age binary; default `age` on PATH. */
  readonly ageBin?: string;
  /**
   * How long cleanup after a failure, cancel or timeout (aborting the multipart uploads, deleting
   * an unlabelled object) may take: it runs after the job's own signal has fired, so it needs a
   * deadline of its own against a stalled store. Default 20 s, within the shutdown's 30 s.
   */
  readonly cleanupTimeoutMs?: number;
}

/** One store a run writes to: the primary bucket, or the mirror. */
interface Destination {
  readonly role: 'primary' | 'mirror';
  /** The job's requests: aborted with the job (cancel, timeout). */
  readonly s3: S3Client;
  /** The store's client itself, for cleanup (which runs once the job's signal has fired) under its own deadline. */
  readonly raw: S3Client;
  readonly bucket: string;
  readonly endpoint?: string | undefined;
  /** A failure of a required destination fails the run; of an optional one, only warns. */
  readonly required: boolean;
}

export const newJobId = (): string => randomBytes(4).toString('hex');
const newRunToken = (): string => randomBytes(3).toString('hex');

const DEFAULT_CLEANUP_TIMEOUT_MS = 20_000;

/** The one backup pipeline: pg_dump -> gzip|zstd -> sha256 -> multipart upload -> metadata. */
/** Backups as a kind of job: register it on a queue with `queue.register('backup', backupJobs(runBackup))`. */
export function backupJobs(runBackup: RunBackup): JobHandler<'backup'> {
  return ({ target, trigger, jobId, signal, onEvent }) => runBackup({ target, trigger, jobId }, { signal, onEvent });
}

export function createBackupRunner(deps: RunnerDeps): RunBackup {
  const now = deps.now ?? (() => new Date());
  const spawn = deps.spawn ?? (nodeSpawn as unknown as SpawnFn);
  const locate = deps.locatePgDump ?? defaultLocatePgDump;
  const afterBackup = deps.afterBackup ?? createAfterBackup({ config: deps.config, s3: deps.s3, env: deps.env, now, locatePgDump: locate });
  const { config, s3 } = deps;
  const bucket = config.storage.bucket;
  const mirrorClients = new Map<MirrorConfig, S3Client>();
  const mirrorClient = (m: MirrorConfig) => {
    let client = mirrorClients.get(m);
    if (!client) mirrorClients.set(m, (client = (deps.mirrorClient ?? ((mc) => createMirrorClient(mc, deps.env)))(m)));
    return client;
  };

  return async function runBackup(request: BackupRequest, options: RunOptions = {}): Promise<BackupResult> {
    const jobId = request.jobId ?? (deps.newJobId ?? newJobId)();
    const emit = (event: JobEvent) => {
      try {
        options.onEvent?.(event);
      } catch {
        // A broken reporter must not break the backup.
      }
    };
    const secrets: string[] = [];
    const signal = options.signal;
    const cleanupMs = deps.cleanupTimeoutMs ?? DEFAULT_CLEANUP_TIMEOUT_MS;
    const destination = (d: Omit<Destination, 's3' | 'raw'>, client: S3Client): Destination => ({
      ...d,
      raw: client,
      s3: signal ? withAbortSignal(client, signal) : client,
    });
    try {
      const target = lookupTarget(config, request.target);
      const compression = targetCompression(config.compression, target.compression);
      throwIfAborted(options.signal);
      const password = await resolvePassword(request.target, target.password, { env: deps.env });
      if (password) secrets.push(password);
      // Before pg_dump starts: a backup that cannot be signed would never be verified or restored.
      const hmacKey = await resolveHmacKey(config.storage.hmacKey, { env: deps.env });
      secrets.push(hmacKey);
      const appName = `dumptruck-${jobId}`;
      const mirror = target.mirror === false ? undefined : (target.mirror ?? config.mirror);
      const destinations: Destination[] = [
        destination({ role: 'primary', bucket, endpoint: config.storage.endpoint, required: true }, s3),
        ...(mirror ? [destination({ role: 'mirror', bucket: mirror.bucket, endpoint: mirror.endpoint, required: mirror.required }, mirrorClient(mirror))] : []),
      ];
      // The probe's connection has timeouts of its own; the race only stops waiting for it on a cancel.
      const [server, dumpBin, reachable] = await untilAborted(
        Promise.all([probeServer(target.url, password, appName), locate(target.pgDump), preflight(destinations)]),
        signal,
      );
      checkPgDumpVersion(dumpBin, server, request.target);
      checkCompressionSupport(dumpBin, target.format, compression, request.target);
      throwIfAborted(options.signal);

      const plan = planParts({
        estimatedBytes: server.databaseBytes,
        maxParts: config.storage.maxParts,
        partsInFlight: config.storage.partsInFlight,
        memoryBudgetBytes: config.storage.memoryBudgetBytes,
      });
      const startedAt = now();
      const encryption = encryptionOf(config, target);
      const key = objectKey(config.storage.prefix, request.target, startedAt, target.format, {
        algorithm: compression.algorithm,
        runToken: (deps.newRunToken ?? newRunToken)(),
        encrypted: encryption !== undefined,
      });
      emit({
        type: 'started',
        jobId,
        info: {
          target: request.target,
          key,
          estimatedBytes: server.databaseBytes,
          partSize: plan.partSize,
          partsInFlight: plan.partsInFlight,
          pgDumpVersion: dumpBin.version,
          serverVersion: server.version,
        },
      });

      const dump = startDump(
        spawn,
        dumpBin.path,
        pgDumpArgs({ url: target.url, format: target.format, compression, extraArgs: target.dumpArgs, lockWaitTimeoutMs: target.lockWaitTimeout }),
        pgDumpEnv(deps.env, password, appName),
      );
      const streamed = await streamToBucket({
        deps,
        target,
        compression,
        targetName: request.target,
        key,
        plan,
        dump,
        encryption,
        secrets,
        destinations: reachable.usable,
        signal,
        cleanupMs,
        onProgress: (dumpedBytes, storedBytes) => {
          const elapsedMs = now().getTime() - startedAt.getTime();
          emit({
            type: 'progress',
            jobId,
            progress: { dumpedBytes, storedBytes, elapsedMs, bytesPerSecond: elapsedMs > 0 ? (dumpedBytes * 1000) / elapsedMs : 0, estimatedBytes: server.databaseBytes },
          });
        },
      });

      const finishedAt = now();
      const result: BackupResult = {
        target: request.target,
        bucket,
        key,
        format: target.format,
        compression,
        storedBytes: streamed.storedBytes,
        dumpedBytes: streamed.dumpedBytes,
        sha256: streamed.sha256,
        startedAt,
        finishedAt,
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        pgDumpVersion: dumpBin.version,
        serverVersion: server.version,
        partSize: plan.partSize,
        parts: Math.max(1, Math.ceil(streamed.storedBytes / plan.partSize)),
        ...(encryption ? { encryption: { recipients: encryption.recipients.map(recipientFingerprint) } } : {}),
      };
      const metadata = backupMetadata(result, request.trigger, hmacKey);
      const finalizeOn = async (d: Destination) => {
        await replaceMetadata(d.s3, d.bucket, key, result.storedBytes, metadata, contentTypeFor(target.format, compression.algorithm, encryption !== undefined), {
          ...deps.finalize,
          maxParts: config.storage.maxParts,
        });
      };
      const failures = new Map(reachable.failed);
      for (const [d, err] of streamed.failed) failures.set(d, err);
      const stored = reachable.usable.filter((d) => !failures.has(d));
      try {
        throwIfAborted(options.signal);
        for (const d of stored) {
          try {
            await finalizeOn(d);
          } catch (err) {
            const error = toDumptruckError(err, 'FINALIZE_FAILED', 'finalize', `setting metadata on ${describeDestination(d)}${key}`);
            if (d.required) throw error;
            failures.set(d, error);
            await deleteQuietly(cleanupClient(d, cleanupMs), d.bucket, key);
          }
        }
        throwIfAborted(options.signal);
      } catch (err) {
        // The dump is complete but not labelled (or the run was cancelled): an object without
        // its checksum is not a backup anyone should trust, so it goes, from every store.
        await Promise.all(stored.map((d) => deleteQuietly(cleanupClient(d, cleanupMs), d.bucket, key)));
        throw isCancel(err) ? err : toDumptruckError(err, 'FINALIZE_FAILED', 'finalize', `setting metadata on ${key}`);
      }
      const mirrored = destinations.find((d) => d.role === 'mirror');
      const mirrorOutcome: MirrorOutcome | undefined = mirrored && {
        bucket: mirrored.bucket,
        endpoint: mirrored.endpoint,
        stored: !failures.has(mirrored),
        ...(failures.has(mirrored) ? { error: userMessage(failures.get(mirrored)!, new Redactor(secrets)) } : {}),
      };
      const mirrorWarnings: BackupWarning[] = mirrorOutcome && !mirrorOutcome.stored ? [{ kind: 'mirror-failed', message: `mirror copy not stored: ${mirrorOutcome.error}` }] : [];
      const withMirror: BackupResult = {
        ...result,
        ...(mirrorOutcome ? { mirror: mirrorOutcome } : {}),
        ...(mirrorWarnings.length > 0 ? { warnings: [...(result.warnings ?? []), ...mirrorWarnings] } : {}),
      };
      // The object is complete from here on: what the checks find is reported, never thrown.
      const checked = await afterBackup(withMirror, { jobId, signal: options.signal });
      emit({ type: 'finished', jobId, result: checked });
      return checked;
    } catch (err) {
      // A request cut short by the job's signal fails with the SDK's AbortError: report the cancel or timeout itself.
      const cause = signal?.aborted && !isCancel(err) ? abortReason(signal) : err;
      const error = scrubbed(toDumptruckError(cause, 'INTERNAL', 'internal'), secrets);
      emit({ type: 'failed', jobId, target: request.target, error });
      throw error;
    }
  };
}

interface StreamArgs {
  readonly deps: RunnerDeps;
  readonly target: TargetConfig;
  readonly compression: Compression;
  readonly targetName: string;
  readonly key: string;
  readonly plan: ReturnType<typeof planParts>;
  readonly dump: DumpProcess;
  /** Recipients to encrypt to with age, after compression; absent: stored as compressed. */
  readonly encryption: EncryptConfig | undefined;
  readonly secrets: readonly string[];
  /** Where the stream goes: the primary first, then the mirror, each fed from the same bytes. */
  readonly destinations: readonly Destination[];
  readonly signal: AbortSignal | undefined;
  readonly cleanupMs: number;
  readonly onProgress: (dumpedBytes: number, storedBytes: number) => void;
}

interface Streamed {
  readonly dumpedBytes: number;
  readonly storedBytes: number;
  readonly sha256: string;
  /** Optional destinations that dropped out; the run went on without them. */
  readonly failed: ReadonlyMap<Destination, DumptruckError>;
}

/**
 * Streams pg_dump's output into every destination in one pass. Resolves only when pg_dump exited
 * 0 and every required upload completed; on any failure, pg_dump is killed and the multipart
 * uploads aborted before it rejects.
 */
async function streamToBucket(a: StreamArgs): Promise<Streamed> {
  const { deps, dump, plan } = a;
  const { config } = deps;
  let firstError: DumptruckError | undefined;

  const dumped = new Meter();
  const stored = new Meter({
    sha256: true,
    limitBytes: plan.maxBytes,
    onLimit: () =>
      new DumptruckError('TOO_LARGE', 'upload', `the dump outgrew ${plan.maxBytes} bytes (${config.storage.maxParts} parts of ${plan.partSize} bytes)`, {
        hint: 'raise storage.maxParts if the store allows it; the part size follows pg_database_size',
      }),
  });
  // A separate stage after compression: age sees only compressed bytes, and the SHA-256 below
  // covers what is stored (the ciphertext).
  const age: AgeProcess | undefined = a.encryption
    ? startAge(deps.ageSpawn ?? (nodeSpawn as unknown as AgeSpawn), deps.ageBin ?? AGE_BIN, ageEncryptArgs(a.encryption.recipients), { env: deps.env })
    : undefined;
  const ageFailure = async () => (age ? encryptFailure(await age.exited, age.stderrTail()) : undefined);
  let dumpFailure: DumptruckError | undefined;
  const compressor: Transform | undefined = a.target.format === 'plain' ? createCompressor({ ...config.compression, ...a.compression }) : undefined;
  const gate = new Gate(async () => {
    const exit = await dump.exited;
    if (exit.spawnError) throw (dumpFailure = new DumptruckError('DUMP_FAILED', 'dump', `cannot start pg_dump: ${exit.spawnError.message}`, { cause: exit.spawnError }));
    if (exit.code !== 0) {
      const stderrTail = scrubSecrets(dump.stderrTail(), a.secrets);
      const exited = `pg_dump exited with ${exit.code === null ? `signal ${exit.signal}` : `code ${exit.code}`}`;
      // pg_dump's own words ("canceling statement due to statement timeout", on its LOCK TABLE) do not say which setting or why.
      if (/due to (statement|lock) timeout/.test(stderrTail) && /LOCK TABLE/.test(stderrTail)) {
        throw (dumpFailure = new DumptruckError('DUMP_FAILED', 'dump', `${exited}: a table stayed locked longer than targets.${a.targetName}.lockWaitTimeout (${formatDuration(a.target.lockWaitTimeout)})`, {
          stderrTail,
          hint: 'something holds an exclusive lock on a table (a migration, a long transaction): see pg_locks, then run the backup again, or raise lockWaitTimeout',
        }));
      }
      throw (dumpFailure = new DumptruckError('DUMP_FAILED', 'dump', exited, { stderrTail }));
    }
    // Like pg_dump's: age's output may end cleanly while it failed.
    const encrypt = await ageFailure();
    if (encrypt) throw encrypt;
  });
  // One body per destination, all fed by the gate: pipe() waits for the slowest, so memory stays
  // bounded, and the end (held by the gate) reaches them all at once.
  const legs = a.destinations.map((d) => ({ d, body: new PassThrough(), error: undefined as DumptruckError | undefined, upload: undefined as StreamUpload | undefined }));
  for (const leg of legs) gate.pipe(leg.body);

  const fail = (err: DumptruckError) => {
    firstError ??= err;
    dump.kill();
    age?.kill();
    // Erroring the upload bodies is what makes lib-storage abort the multipart uploads.
    if (!gate.destroyed) gate.destroy(firstError);
    for (const leg of legs) if (!leg.body.destroyed) leg.body.destroy(firstError);
  };
  const dropLeg = (leg: (typeof legs)[number], err: DumptruckError) => {
    if (leg.error || firstError) return;
    leg.error = err;
    if (leg.d.required) return fail(err);
    gate.unpipe(leg.body);
    leg.body.destroy(err);
  };
  gate.once('error', (e) => fail(toDumptruckError(e, 'DUMP_FAILED', 'dump')));
  const onAbort = () => fail(abortReason(a.signal));
  a.signal?.addEventListener('abort', onAbort, { once: true });
  if (a.signal?.aborted) onAbort();
  compressor?.once('error', (e) => fail(toDumptruckError(e, 'COMPRESS_FAILED', 'compress', a.compression.algorithm)));
  // age dying mid-stream fails the run at once, with its own reason rather than a broken pipe.
  void ageFailure().then((err) => err && fail(err));
  stored.once('error', (e) => fail(toDumptruckError(e, 'UPLOAD_FAILED', 'upload')));

  const timer = setInterval(() => a.onProgress(dumped.bytes, stored.bytes), deps.progressIntervalMs ?? 1000);
  timer.unref();
  const stages = [dump.stdout, dumped, ...(compressor ? [compressor] : []), ...(age ? [age.stage] : []), stored, gate] as const;
  const piped = pipeline(stages).catch((err: unknown) => fail(toDumptruckError(err, 'DUMP_FAILED', 'dump')));
  const uploads = legs.map((leg) => {
    const uploadError = (err: unknown) => toDumptruckError(err, 'UPLOAD_FAILED', 'upload', `uploading ${describeDestination(leg.d)}${a.key}`);
    leg.upload = uploadStream({
      s3: leg.d.s3,
      bucket: leg.d.bucket,
      key: a.key,
      body: leg.body,
      partSize: plan.partSize,
      partsInFlight: plan.partsInFlight,
      contentType: contentTypeFor(a.target.format, a.compression.algorithm, a.encryption !== undefined),
      metadata: { target: a.targetName },
      onRequestError: (err) => dropLeg(leg, uploadError(err)),
    });
    return leg.upload.done.catch((err: unknown) => dropLeg(leg, uploadError(err)));
  });

  try {
    await Promise.all([piped, ...uploads]);
  } finally {
    clearInterval(timer);
    a.signal?.removeEventListener('abort', onAbort);
  }
  a.onProgress(dumped.bytes, stored.bytes);
  if (firstError) {
    const [, ageExit] = await Promise.all([dump.exited, age?.exited]);
    // age that died by itself (an exit code, not our kill's signal) breaks the pipes around it,
    // and whichever stage noticed first set firstError: age's own reason is the cause, unless
    // the gate reported pg_dump's own failure.
    const ageDied = ageExit !== undefined && (ageExit.spawnError !== undefined || (ageExit.code !== null && ageExit.code !== 0));
    if (ageDied && firstError !== dumpFailure && !isCancel(firstError)) firstError = (await ageFailure()) ?? firstError;
    const unconfirmed = (await Promise.all(legs.map((l) => abortUpload(l, a.cleanupMs)))).filter((u) => u !== undefined);
    throw unconfirmed.length > 0 ? withUnconfirmedCleanup(firstError, unconfirmed) : firstError;
  }
  const failed = new Map<Destination, DumptruckError>();
  for (const leg of legs) {
    if (!leg.error) continue;
    failed.set(leg.d, leg.error);
    await abortUpload(leg, a.cleanupMs);
  }
  return { dumpedBytes: dumped.bytes, storedBytes: stored.bytes, sha256: stored.digest(), failed };
}

/** A client for cleanup: the store's own, with a deadline instead of the (already fired) job signal. */
function cleanupClient(d: Destination, cleanupMs: number): S3Client {
  return withAbortSignal(d.raw, AbortSignal.timeout(cleanupMs));
}

/** Aborts what is left of this leg's own multipart upload; says why when the store did not confirm it. */
async function abortUpload(leg: { readonly d: Destination; readonly upload: StreamUpload | undefined }, cleanupMs: number): Promise<string | undefined> {
  const { d } = leg;
  const deadline = AbortSignal.timeout(cleanupMs);
  try {
    await leg.upload?.abortLeftover(withAbortSignal(d.raw, deadline));
    return undefined;
  } catch (err) {
    const why = deadline.aborted ? `no answer within ${formatDuration(cleanupMs)}` : describeCause(err);
    return `${d.role === 'primary' ? 'the store' : `the mirror s3://${d.bucket}`} did not confirm that the partial upload was aborted (${why})`;
  }
}

/**
 * The same failure, saying that cleanup could not be confirmed: an incomplete multipart upload may
 * be left behind (a bucket lifecycle rule with AbortIncompleteMultipartUpload removes it).
 */
function withUnconfirmedCleanup(err: DumptruckError, unconfirmed: readonly string[]): DumptruckError {
  const message = `${err.message}; ${unconfirmed.join('; ')}`;
  const hint = 'an incomplete multipart upload may remain in the bucket; a lifecycle rule with AbortIncompleteMultipartUpload removes it';
  if (err.code === 'CANCELLED') return new CancelledError(message);
  if (err.code === 'TIMED_OUT') return new TimeoutError(message);
  return new DumptruckError(err.code, err.stage, message, { cause: err, stderrTail: err.stderrTail, hint });
}

/** Checks every destination before pg_dump starts; an unreachable optional mirror is dropped with its reason. */
async function preflight(destinations: readonly Destination[]): Promise<{ usable: Destination[]; failed: Map<Destination, DumptruckError> }> {
  const failed = new Map<Destination, DumptruckError>();
  await Promise.all(
    destinations.map(async (d) => {
      try {
        await checkBucket(d.s3, d.bucket);
      } catch (err) {
        const error = d.role === 'primary' ? (err as DumptruckError) : toDumptruckError(err, 'UPLOAD_FAILED', 'upload', 'mirror');
        if (d.required) throw error;
        failed.set(d, error);
      }
    }),
  );
  return { usable: destinations.filter((d) => !failed.has(d)), failed };
}

/** "" for the primary (its bucket is implied everywhere), "mirror s3://bucket/" for the mirror. */
function describeDestination(d: Destination): string {
  return d.role === 'primary' ? '' : `mirror s3://${d.bucket}/`;
}

function abortReason(signal: AbortSignal | undefined): DumptruckError {
  const reason: unknown = signal?.reason;
  return reason instanceof DumptruckError ? reason : new CancelledError();
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/** `work`, or the abort reason as soon as `signal` fires: a cancel never waits on a call that cannot take a signal. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function isCancel(err: unknown): boolean {
  return err instanceof DumptruckError && (err.stage === 'cancelled' || err.stage === 'timeout');
}

function scrubbed(err: DumptruckError, secrets: readonly string[]): DumptruckError {
  if (secrets.length === 0) return err;
  const message = scrubSecrets(err.message, secrets);
  if (message === err.message) return err;
  // The cause is dropped on purpose: its message is the unscrubbed one.
  return new DumptruckError(err.code, err.stage, message, { stderrTail: err.stderrTail, hint: err.hint });
}
