import { spawn as nodeSpawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config, EncryptConfig, MirrorConfig, TargetConfig } from '../config/schema.js';
import { CancelledError, DumptruckError, TimeoutError, toDumptruckError } from '../errors.js';
import { formatDuration } from '../config/units.js';
import { Redactor, secretsInEnv } from '../redact.js';
import type { BackupRequest, BackupResult, BackupWarning, Env, JobEvent, RunBackup, RunOptions, StartedInfo } from '../types.js';
import { encryptionOf, lookupTarget } from '../config/targets.js';
import { targetCompression, type Compression } from '../config/compression.js';
import { resolveHmacKey, resolvePassword } from '../secrets/index.js';
import { createMirrorClient } from '../storage/client.js';
import { backupHmac } from '../storage/hmac.js';
import { newRunToken, objectKey } from '../storage/keys.js';
import { MANIFEST_VERSION, type Manifest } from '../storage/manifest.js';
import { contentTypeFor, startMetadata } from '../storage/metadata.js';
import { AGE_BIN, ageEncryptArgs, encryptFailure, recipientFingerprint, startAge, type AgeProcess, type AgeSpawn } from './age.js';
import { createCompressor } from './compress.js';
import { Destination, uploadError } from './destination.js';
import { planParts, type PartPlan } from './parts.js';
import { pgDumpArgs, pgDumpEnv, startDump, type SpawnFn } from './pgdump.js';
import { checkCompressionSupport, checkPgDumpVersion, locatePgDump as defaultLocatePgDump, probeServer } from './probe.js';
import { Gate, Meter } from './streams.js';
import { createUploadSweeper, type UploadSweeper } from './orphans.js';

export interface RunnerDeps {
  readonly config: Config;
  readonly s3: S3Client;
  /** Where password sources of kind `env` are read. */
  readonly env: Env;
  /** The process's redactor, extended per run with that run's password and the HMAC key; default: one from the environment's secrets. */
  readonly redactor?: Redactor;
  readonly spawn?: SpawnFn;
  readonly now?: () => Date;
  readonly locatePgDump?: typeof defaultLocatePgDump;
  /** How often progress events are emitted while streaming; reporters throttle further. Default 1000 ms. */
  readonly progressIntervalMs?: number;
  readonly newJobId?: () => string;
  /** The random part of each run's object key (6 hex digits, see objectKey); default: random bytes. */
  readonly newRunToken?: () => string;
  /**
   * What runs once the backup is complete (size check, verification, retention: jobs/ wires them
   * in, above the pipeline). It never throws: its findings travel in the result.
   */
  readonly afterBackup: (
    result: BackupResult,
    context: { readonly jobId: string; readonly signal?: AbortSignal | undefined },
  ) => Promise<BackupResult>;
  /** Client for a mirror store; default: createMirrorClient (its own endpoint and keys). */
  readonly mirrorClient?: (mirror: MirrorConfig) => S3Client;
  /** Starts the `age` encryption stage; default: node's spawn. */
  readonly ageSpawn?: AgeSpawn;
  /** The age binary; default `age` on PATH. */
  readonly ageBin?: string;
  /**
   * How long cleanup after a failure, cancel or timeout (aborting the multipart uploads, deleting
   * what was stored) may take: it runs after the job's own signal has fired, so it needs a
   * deadline of its own against a stalled store. Default 20 s, within the shutdown's 30 s.
   */
  readonly cleanupTimeoutMs?: number;
  /** Aborts uploads orphaned by a crash after each run; default: one over this runner's stores. */
  readonly sweeper?: UploadSweeper;
}

export const newJobId = (): string => randomBytes(4).toString('hex');

const DEFAULT_CLEANUP_TIMEOUT_MS = 20_000;

/** One run's context: what every stage may use. */
interface Job {
  readonly id: string;
  readonly request: BackupRequest;
  readonly signal: AbortSignal | undefined;
  readonly emit: (event: JobEvent) => void;
  /** Everything this run must never show: the process's secrets, then the database password and the HMAC key. */
  redactor: Redactor;
  /** The stores it writes to; cleanup goes through each of them. */
  destinations: Destination[];
}

/** What `prepare` found out before pg_dump starts. */
interface Prepared {
  readonly target: TargetConfig;
  readonly compression: Compression;
  /** Recipients to encrypt to with age, after compression; absent: stored as compressed. */
  readonly encryption: EncryptConfig | undefined;
  readonly password: string | undefined;
  readonly hmacKey: string;
  readonly appName: string;
  readonly plan: PartPlan;
  readonly pgDumpPath: string;
  readonly started: StartedInfo;
  readonly startedAt: Date;
}

interface Streamed {
  readonly dumpedBytes: number;
  readonly storedBytes: number;
  readonly sha256: string;
}

/**
 * The one backup pipeline, as a list of stages: prepare (target, secrets, probe, plan), stream
 * (pg_dump -> gzip|zstd -> sha256 and counters -> every destination), finish (the manifest that
 * makes the backup complete) and the checks after it. One cleanup path: on any failure every
 * destination discards what it holds of this run.
 */
export function createBackupRunner(deps: RunnerDeps): RunBackup {
  const now = deps.now ?? (() => new Date());
  const locate = deps.locatePgDump ?? defaultLocatePgDump;
  const { afterBackup } = deps;
  const mirrorClients = new Map<MirrorConfig, S3Client>();
  const mirrorClient = (m: MirrorConfig) => {
    let client = mirrorClients.get(m);
    if (!client) mirrorClients.set(m, (client = (deps.mirrorClient ?? ((mc) => createMirrorClient(mc, deps.env)))(m)));
    return client;
  };
  const sweeper = deps.sweeper ?? createUploadSweeper({ config: deps.config, s3: deps.s3, mirrorClient, now });

  /** Every store the target writes to, primary first. */
  function destinationsFor(target: TargetConfig, signal: AbortSignal | undefined): Destination[] {
    const { config } = deps;
    const mirror = target.mirror === false ? undefined : (target.mirror ?? config.mirror);
    const cleanupMs = deps.cleanupTimeoutMs ?? DEFAULT_CLEANUP_TIMEOUT_MS;
    const specs = [
      { role: 'primary' as const, bucket: config.storage.bucket, endpoint: config.storage.endpoint, required: true, client: deps.s3 },
      ...(mirror
        ? [
            {
              role: 'mirror' as const,
              bucket: mirror.bucket,
              endpoint: mirror.endpoint,
              required: mirror.required,
              client: mirrorClient(mirror),
            },
          ]
        : []),
    ];
    return specs.map((spec) => new Destination(spec, signal, cleanupMs, sweeper.live));
  }

  async function prepare(job: Job): Promise<Prepared> {
    const { config } = deps;
    const name = job.request.target;
    const target = lookupTarget(config, name);
    const compression = targetCompression(config.compression, target.compression);
    throwIfAborted(job.signal);
    const password = await resolvePassword(name, target.password, { env: deps.env });
    job.redactor = job.redactor.with(password);
    // Before pg_dump starts: a backup that cannot be signed would never be verified or restored.
    const hmacKey = await resolveHmacKey(config.storage.hmacKey, { env: deps.env });
    job.redactor = job.redactor.with(hmacKey);
    const appName = `dumptruck-${job.id}`;
    job.destinations = destinationsFor(target, job.signal);
    // The probe's connection has timeouts of its own; the race only stops waiting for it on a cancel.
    const [server, dumpBin] = await untilAborted(
      Promise.all([probeServer(target.url, password, appName), locate(target.pgDump), Promise.all(job.destinations.map((d) => d.check()))]),
      job.signal,
    );
    checkPgDumpVersion(dumpBin, server, name);
    checkCompressionSupport(dumpBin, target.format, compression, name);
    throwIfAborted(job.signal);
    const plan = planParts({
      estimatedBytes: server.databaseBytes,
      maxParts: config.storage.maxParts,
      partsInFlight: config.storage.partsInFlight,
      memoryBudgetBytes: config.storage.memoryBudgetBytes,
    });
    const startedAt = now();
    const encryption = encryptionOf(config, target);
    const started: StartedInfo = {
      target: name,
      key: objectKey(config.storage.prefix, name, startedAt, target.format, {
        algorithm: compression.algorithm,
        runToken: (deps.newRunToken ?? newRunToken)(),
        encrypted: encryption !== undefined,
      }),
      estimatedBytes: server.databaseBytes,
      partSize: plan.partSize,
      partsInFlight: plan.partsInFlight,
      pgDumpVersion: dumpBin.version,
      serverVersion: server.version,
    };
    return { target, compression, encryption, password, hmacKey, appName, plan, pgDumpPath: dumpBin.path, started, startedAt };
  }

  /**
   * Streams pg_dump's output into every destination in one pass. Resolves only when pg_dump
   * exited 0 and every required upload completed; an optional destination that fails is dropped
   * and the run goes on. On a failure pg_dump is killed and the bodies destroyed (which makes
   * lib-storage abort its uploads) before it rejects.
   */
  async function stream(job: Job, p: Prepared): Promise<Streamed> {
    const { config } = deps;
    const { plan, target, compression } = p;
    const key = p.started.key;
    let firstError: DumptruckError | undefined;
    const dump = startDump(
      deps.spawn ?? (nodeSpawn as unknown as SpawnFn),
      p.pgDumpPath,
      pgDumpArgs({
        url: target.url,
        format: target.format,
        compression,
        extraArgs: target.dumpArgs,
        lockWaitTimeoutMs: target.lockWaitTimeout,
      }),
      pgDumpEnv(deps.env, p.password, p.appName),
    );
    const dumped = new Meter();
    const stored = new Meter({
      sha256: true,
      limitBytes: plan.maxBytes,
      onLimit: () =>
        new DumptruckError(
          'TOO_LARGE',
          'upload',
          `the dump outgrew ${plan.maxBytes} bytes (${config.storage.maxParts} parts of ${plan.partSize} bytes)`,
          {
            hint: 'raise storage.maxParts if the store allows it; the part size follows pg_database_size',
          },
        ),
    });
    // A separate stage after compression: age sees only compressed bytes, and the SHA-256 below
    // covers what is stored (the ciphertext).
    const age: AgeProcess | undefined = p.encryption
      ? startAge(deps.ageSpawn ?? (nodeSpawn as unknown as AgeSpawn), deps.ageBin ?? AGE_BIN, ageEncryptArgs(p.encryption.recipients), {
          env: deps.env,
        })
      : undefined;
    const ageFailure = async () => (age ? encryptFailure(await age.exited, age.stderrTail()) : undefined);
    let dumpFailure: DumptruckError | undefined;
    const compressor: Transform | undefined =
      target.format === 'plain' ? createCompressor({ ...config.compression, ...compression }) : undefined;
    const gate = new Gate(async () => {
      const exit = await dump.exited;
      if (exit.spawnError)
        throw (dumpFailure = new DumptruckError('DUMP_FAILED', 'dump', `cannot start pg_dump: ${exit.spawnError.message}`, {
          cause: exit.spawnError,
        }));
      if (exit.code !== 0) throw (dumpFailure = dumpFailed(job, target, exit, job.redactor.text(dump.stderrTail())));
      // Like pg_dump's: age's output may end cleanly while it failed.
      const encrypt = await ageFailure();
      if (encrypt) throw encrypt;
    });
    // One body per destination, all fed by the gate: pipe() waits for the slowest, so memory stays
    // bounded, and the end (held by the gate) reaches them all at once.
    const legs = job.destinations.filter((d) => !d.failure).map((d) => ({ d, body: new PassThrough() }));
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
      if (leg.d.failure || firstError) return;
      try {
        leg.d.drop(err);
      } catch {
        return fail(err);
      }
      gate.unpipe(leg.body);
      leg.body.destroy(err);
    };
    gate.once('error', (e) => fail(toDumptruckError(e, 'DUMP_FAILED', 'dump')));
    const onAbort = () => fail(abortReason(job.signal));
    job.signal?.addEventListener('abort', onAbort, { once: true });
    if (job.signal?.aborted) onAbort();
    compressor?.once('error', (e) => fail(toDumptruckError(e, 'COMPRESS_FAILED', 'compress', compression.algorithm)));
    // age dying mid-stream fails the run at once, with its own reason rather than a broken pipe.
    void ageFailure().then((err) => err && fail(err));
    stored.once('error', (e) => fail(toDumptruckError(e, 'UPLOAD_FAILED', 'upload')));

    const progress = () => {
      const elapsedMs = now().getTime() - p.startedAt.getTime();
      const bytesPerSecond = elapsedMs > 0 ? (dumped.bytes * 1000) / elapsedMs : 0;
      job.emit({
        type: 'progress',
        jobId: job.id,
        progress: {
          dumpedBytes: dumped.bytes,
          storedBytes: stored.bytes,
          elapsedMs,
          bytesPerSecond,
          estimatedBytes: p.started.estimatedBytes,
        },
      });
    };
    const timer = setInterval(progress, deps.progressIntervalMs ?? 1000);
    timer.unref();
    const stages = [dump.stdout, dumped, ...(compressor ? [compressor] : []), ...(age ? [age.stage] : []), stored, gate] as const;
    const piped = pipeline(stages).catch((err: unknown) => fail(toDumptruckError(err, 'DUMP_FAILED', 'dump')));
    const encryption = p.encryption ? { recipients: p.encryption.recipients.map(recipientFingerprint) } : undefined;
    const metadata = startMetadata(
      { ...p.started, format: target.format, compression, startedAt: p.startedAt, encryption },
      job.request.trigger,
    );
    const uploads = legs.map((leg) =>
      leg.d
        .store({
          key,
          body: leg.body,
          partSize: plan.partSize,
          partsInFlight: plan.partsInFlight,
          contentType: contentTypeFor(target.format, compression.algorithm, p.encryption !== undefined),
          metadata,
          onRequestError: (err) => dropLeg(leg, uploadError(leg.d, key, err)),
        })
        .catch((err: unknown) => dropLeg(leg, uploadError(leg.d, key, err))),
    );
    try {
      await Promise.all([piped, ...uploads]);
    } finally {
      clearInterval(timer);
      job.signal?.removeEventListener('abort', onAbort);
    }
    progress();
    if (firstError) {
      const [, ageExit] = await Promise.all([dump.exited, age?.exited]);
      // age that died by itself (an exit code, not our kill's signal) breaks the pipes around it,
      // and whichever stage noticed first set firstError: age's own reason is the cause, unless
      // the gate reported pg_dump's own failure.
      const ageDied = ageExit !== undefined && (ageExit.spawnError !== undefined || (ageExit.code !== null && ageExit.code !== 0));
      if (ageDied && firstError !== dumpFailure && !isCancel(firstError)) firstError = (await ageFailure()) ?? firstError;
      throw firstError;
    }
    // Optional destinations that dropped out leave nothing behind; the run goes on without them.
    await Promise.all(legs.filter((l) => l.d.failure).map((l) => l.d.discard()));
    return { dumpedBytes: dumped.bytes, storedBytes: stored.bytes, sha256: stored.digest() };
  }

  /**
   * Writes the manifest beside the dump in every store, optional stores first: the manifest the
   * primary gets records whether the mirror's copy is complete. A backup is complete exactly
   * when its manifest exists.
   */
  async function finish(job: Job, p: Prepared, s: Streamed): Promise<BackupResult> {
    const finishStart = now();
    throwIfAborted(job.signal);
    const key = p.started.key;
    const finishedAt = now();
    const result: BackupResult = {
      target: job.request.target,
      bucket: deps.config.storage.bucket,
      key,
      format: p.target.format,
      compression: p.compression,
      storedBytes: s.storedBytes,
      dumpedBytes: s.dumpedBytes,
      sha256: s.sha256,
      startedAt: p.startedAt,
      finishedAt,
      durationMs: finishedAt.getTime() - p.startedAt.getTime(),
      pgDumpVersion: p.started.pgDumpVersion,
      serverVersion: p.started.serverVersion,
      partSize: p.plan.partSize,
      parts: Math.max(1, Math.ceil(s.storedBytes / p.plan.partSize)),
      ...(p.encryption ? { encryption: { recipients: p.encryption.recipients.map(recipientFingerprint) } } : {}),
    };
    const ordered = [...job.destinations.filter((d) => !d.required), ...job.destinations.filter((d) => d.required)];
    for (const d of ordered) {
      await d.finish(buildManifest(result, job, p.hmacKey));
      throwIfAborted(job.signal);
    }
    const mirror = job.destinations.find((d) => d.role === 'mirror')?.outcome(job.redactor);
    const warnings: BackupWarning[] =
      mirror && !mirror.stored ? [{ kind: 'mirror-failed', message: `mirror copy not stored: ${mirror.error}` }] : [];
    return {
      ...result,
      finishMs: now().getTime() - finishStart.getTime(),
      ...(mirror ? { mirror } : {}),
      ...(warnings.length > 0 ? { warnings } : {}),
    };
  }

  /** The manifest as of now: the mirror's outcome is what its destination knows at this point. */
  function buildManifest(r: BackupResult, job: Job, hmacKey: string): Manifest {
    const mirror = job.destinations.find((d) => d.role === 'mirror')?.outcome(job.redactor);
    const { kind, by, detail } = job.request.trigger;
    return {
      version: MANIFEST_VERSION,
      key: r.key,
      target: r.target,
      format: r.format,
      compression: r.compression,
      sha256: r.sha256,
      storedBytes: r.storedBytes,
      dumpedBytes: r.dumpedBytes,
      startedAt: r.startedAt.toISOString(),
      finishedAt: r.finishedAt.toISOString(),
      durationMs: r.durationMs,
      pgDumpVersion: r.pgDumpVersion,
      serverVersion: r.serverVersion,
      trigger: { kind, by, ...(detail === undefined ? {} : { detail }) },
      ...(r.encryption ? { encryption: r.encryption } : {}),
      ...(mirror ? { mirror } : {}),
      hmac: backupHmac(hmacKey, r.key, r.sha256),
    };
  }

  const processRedactor = deps.redactor ?? new Redactor(secretsInEnv(deps.env));

  return async function runBackup(request: BackupRequest, options: RunOptions = {}): Promise<BackupResult> {
    const job: Job = {
      id: request.jobId ?? (deps.newJobId ?? newJobId)(),
      request,
      signal: options.signal,
      redactor: processRedactor,
      destinations: [],
      emit: (event) => {
        try {
          options.onEvent?.(event);
        } catch {
          // A broken reporter must not break the backup.
        }
      },
    };
    try {
      const result = await store(job);
      // The backup is complete from here on: what the checks find is reported, never thrown.
      const checked = await afterBackup(result, { jobId: job.id, signal: job.signal });
      job.emit({ type: 'finished', jobId: job.id, result: checked });
      return checked;
    } finally {
      // Uploads a crash left behind (here or in an earlier process) go too; never fails the run,
      // and a cancelled run does not wait for it (its signal stops the sweep).
      if (!job.signal?.aborted) await sweeper.sweep(job.signal).catch(() => undefined);
    }
  };

  /** prepare, stream, finish; on any failure every destination discards what it holds of this run. */
  async function store(job: Job): Promise<BackupResult> {
    try {
      const prepared = await prepare(job);
      job.emit({ type: 'started', jobId: job.id, info: prepared.started });
      return await finish(job, prepared, await stream(job, prepared));
    } catch (err) {
      // A request cut short by the job's signal fails with the SDK's AbortError: report the cancel or timeout itself.
      const cause = job.signal?.aborted && !isCancel(err) ? abortReason(job.signal) : err;
      let error = toDumptruckError(cause, 'INTERNAL', 'internal');
      const unconfirmed = (await Promise.all(job.destinations.map((d) => d.discard()))).filter((u) => u !== undefined);
      if (unconfirmed.length > 0) error = withUnconfirmedCleanup(error, unconfirmed);
      error = scrubbed(error, job.redactor);
      job.emit({ type: 'failed', jobId: job.id, target: job.request.target, error });
      throw error;
    }
  }
}

function dumpFailed(
  job: Job,
  target: TargetConfig,
  exit: { code: number | null; signal: NodeJS.Signals | null },
  stderrTail: string,
): DumptruckError {
  const exited = `pg_dump exited with ${exit.code === null ? `signal ${exit.signal}` : `code ${exit.code}`}`;
  // pg_dump's own words ("canceling statement due to statement timeout", on its LOCK TABLE) do not say which setting or why.
  if (/due to (statement|lock) timeout/.test(stderrTail) && /LOCK TABLE/.test(stderrTail)) {
    return new DumptruckError(
      'DUMP_FAILED',
      'dump',
      `${exited}: a table stayed locked longer than targets.${job.request.target}.lockWaitTimeout (${formatDuration(target.lockWaitTimeout)})`,
      {
        stderrTail,
        hint: 'something holds an exclusive lock on a table (a migration, a long transaction): see pg_locks, then run the backup again, or raise lockWaitTimeout',
      },
    );
  }
  return new DumptruckError('DUMP_FAILED', 'dump', exited, { stderrTail });
}

/**
 * The same failure, saying that cleanup could not be confirmed: an incomplete multipart upload may
 * be left behind (the next run's sweep, or a bucket lifecycle rule, removes it).
 */
function withUnconfirmedCleanup(err: DumptruckError, unconfirmed: readonly string[]): DumptruckError {
  const message = `${err.message}; ${unconfirmed.join('; ')}`;
  const hint =
    'an incomplete multipart upload may remain in the bucket: dumptruck aborts it after storage.abortUploadsAfter, and a lifecycle rule with AbortIncompleteMultipartUpload removes it too';
  if (err.code === 'CANCELLED') return new CancelledError(message);
  if (err.code === 'TIMED_OUT') return new TimeoutError(message);
  return new DumptruckError(err.code, err.stage, message, { cause: err, stderrTail: err.stderrTail, tool: err.tool, hint });
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

function scrubbed(err: DumptruckError, redactor: Redactor): DumptruckError {
  const message = redactor.text(err.message);
  if (message === err.message) return err;
  // The cause is dropped on purpose: its message is the unscrubbed one.
  return new DumptruckError(err.code, err.stage, message, { stderrTail: err.stderrTail, tool: err.tool, hint: err.hint });
}
