import { spawn as nodeSpawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Transform } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Env } from '../config/load.js';
import type { Config, TargetConfig } from '../config/schema.js';
import { CancelledError, DumptruckError, InputError, scrubSecrets, toDumptruckError } from '../errors.js';
import { createCompressor } from '../pipeline/compress.js';
import { planParts } from '../pipeline/parts.js';
import { pgDumpArgs, pgDumpEnv, startDump, type DumpProcess, type SpawnFn } from '../pipeline/pgdump.js';
import { checkPgDumpVersion, locatePgDump as defaultLocatePgDump, probeServer } from '../pipeline/probe.js';
import { Gate, Meter } from '../pipeline/streams.js';
import { abortLeftoverUploads, checkBucket, uploadStream } from '../pipeline/upload.js';
import { resolvePassword } from '../secrets/index.js';
import { deleteQuietly, replaceMetadata, type FinalizeOptions } from '../storage/finalize.js';
import { objectKey } from '../storage/keys.js';
import { backupMetadata, contentTypeFor } from '../storage/metadata.js';
import { createAfterBackup, type AfterBackup } from './after-backup.js';
import type { BackupResult, JobEvent } from './events.js';
import type { BackupRequest, RunBackup, RunOptions } from './types.js';

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
  /** Size check, verification and retention once the object is stored; default: as configured (createAfterBackup). */
  readonly afterBackup?: AfterBackup;
}

export const newJobId = (): string => randomBytes(4).toString('hex');

/** The one backup pipeline: pg_dump -> gzip -> sha256 -> multipart upload -> metadata. */
export function createBackupRunner(deps: RunnerDeps): RunBackup {
  const now = deps.now ?? (() => new Date());
  const spawn = deps.spawn ?? (nodeSpawn as unknown as SpawnFn);
  const locate = deps.locatePgDump ?? defaultLocatePgDump;
  const afterBackup = deps.afterBackup ?? createAfterBackup({ config: deps.config, s3: deps.s3, env: deps.env, now, locatePgDump: locate });
  const { config, s3 } = deps;
  const bucket = config.storage.bucket;

  return async function runBackup(request: BackupRequest, options: RunOptions = {}): Promise<BackupResult> {
    const jobId = request.jobId ?? (deps.newJobId ?? newJobId)();
    const emit = (event: JobEvent) => {
      try {
        options.onEvent?.(event);
      } catch {
        // A broken reporter must not break the backup.
      }
    };
    const target = config.targets[request.target];
    const secrets: string[] = [];
    try {
      if (!target) {
        throw new InputError(`unknown target ${JSON.stringify(request.target)}`, `known targets: ${Object.keys(config.targets).join(', ')}`, 'UNKNOWN_TARGET');
      }
      throwIfAborted(options.signal);
      const password = await resolvePassword(request.target, target.password, { env: deps.env });
      if (password) secrets.push(password);
      const appName = `dumptruck-${jobId}`;
      const [server, dumpBin] = await Promise.all([
        probeServer(target.url, password, appName),
        locate(target.pgDump),
        checkBucket(s3, bucket),
      ]);
      checkPgDumpVersion(dumpBin, server, request.target);
      throwIfAborted(options.signal);

      const plan = planParts({
        estimatedBytes: server.databaseBytes,
        maxParts: config.storage.maxParts,
        partsInFlight: config.storage.partsInFlight,
        memoryBudgetBytes: config.storage.memoryBudgetBytes,
      });
      const startedAt = now();
      const key = objectKey(config.storage.prefix, request.target, startedAt, target.format);
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

      const dump = startDump(spawn, dumpBin.path, pgDumpArgs({ url: target.url, format: target.format, level: config.compression.level, extraArgs: target.dumpArgs }), pgDumpEnv(deps.env, password, appName));
      const streamed = await streamToBucket({
        deps,
        target,
        targetName: request.target,
        key,
        plan,
        dump,
        secrets,
        signal: options.signal,
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
      };
      try {
        throwIfAborted(options.signal);
        await replaceMetadata(s3, bucket, key, result.storedBytes, backupMetadata(result, request.trigger), contentTypeFor(target.format), {
          ...deps.finalize,
          maxParts: config.storage.maxParts,
        });
        throwIfAborted(options.signal);
      } catch (err) {
        // The dump is complete but not labelled (or the run was cancelled): an object without
        // its checksum is not a backup anyone should trust, so it goes.
        await deleteQuietly(s3, bucket, key);
        throw isCancel(err) ? err : toDumptruckError(err, 'FINALIZE_FAILED', 'finalize', `setting metadata on ${key}`);
      }
      // The object is complete from here on: what the checks find is reported, never thrown.
      const checked = await afterBackup(result, { jobId, signal: options.signal });
      emit({ type: 'finished', jobId, result: checked });
      return checked;
    } catch (err) {
      const error = scrubbed(toDumptruckError(err, 'INTERNAL', 'internal'), secrets);
      emit({ type: 'failed', jobId, target: request.target, error });
      throw error;
    }
  };
}

interface StreamArgs {
  readonly deps: RunnerDeps;
  readonly target: TargetConfig;
  readonly targetName: string;
  readonly key: string;
  readonly plan: ReturnType<typeof planParts>;
  readonly dump: DumpProcess;
  readonly secrets: readonly string[];
  readonly signal: AbortSignal | undefined;
  readonly onProgress: (dumpedBytes: number, storedBytes: number) => void;
}

/**
 * Streams pg_dump's output into the bucket. Resolves only when pg_dump exited 0 and the upload
 * completed; on any failure, pg_dump is killed and the multipart upload aborted before it rejects.
 */
async function streamToBucket(a: StreamArgs): Promise<{ dumpedBytes: number; storedBytes: number; sha256: string }> {
  const { deps, dump, plan } = a;
  const { s3, config } = deps;
  const bucket = config.storage.bucket;
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
  const compressor: Transform | undefined = a.target.format === 'plain' ? createCompressor(config.compression) : undefined;
  const gate = new Gate(async () => {
    const exit = await dump.exited;
    if (exit.spawnError) throw new DumptruckError('DUMP_FAILED', 'dump', `cannot start pg_dump: ${exit.spawnError.message}`, { cause: exit.spawnError });
    if (exit.code !== 0) {
      throw new DumptruckError('DUMP_FAILED', 'dump', `pg_dump exited with ${exit.code === null ? `signal ${exit.signal}` : `code ${exit.code}`}`, {
        stderrTail: scrubSecrets(dump.stderrTail(), a.secrets),
      });
    }
  });

  const fail = (err: DumptruckError) => {
    firstError ??= err;
    dump.kill();
    // Erroring the upload's body is what makes lib-storage abort the multipart upload.
    if (!gate.destroyed) gate.destroy(firstError);
  };
  const onAbort = () => fail(abortReason(a.signal));
  a.signal?.addEventListener('abort', onAbort, { once: true });
  if (a.signal?.aborted) onAbort();
  compressor?.once('error', (e) => fail(toDumptruckError(e, 'COMPRESS_FAILED', 'compress', 'gzip')));
  stored.once('error', (e) => fail(toDumptruckError(e, 'UPLOAD_FAILED', 'upload')));

  const timer = setInterval(() => a.onProgress(dumped.bytes, stored.bytes), deps.progressIntervalMs ?? 1000);
  timer.unref();
  const stages = [dump.stdout, dumped, ...(compressor ? [compressor] : []), stored, gate] as const;
  const piped = pipeline(stages).catch((err: unknown) => fail(toDumptruckError(err, 'DUMP_FAILED', 'dump')));
  const uploaded = uploadStream({
    s3,
    bucket,
    key: a.key,
    body: gate,
    partSize: plan.partSize,
    partsInFlight: plan.partsInFlight,
    contentType: contentTypeFor(a.target.format),
    metadata: { target: a.targetName },
    onRequestError: (err) => fail(toDumptruckError(err, 'UPLOAD_FAILED', 'upload', `uploading ${a.key}`)),
  }).catch((err: unknown) => fail(toDumptruckError(err, 'UPLOAD_FAILED', 'upload', `uploading ${a.key}`)));

  try {
    await Promise.all([piped, uploaded]);
    // A gate verdict error reaches the uploader first; make sure it is the one reported.
    if (!firstError && gate.errored) fail(toDumptruckError(gate.errored, 'DUMP_FAILED', 'dump'));
  } finally {
    clearInterval(timer);
    a.signal?.removeEventListener('abort', onAbort);
  }
  a.onProgress(dumped.bytes, stored.bytes);
  if (firstError) {
    await dump.exited;
    await abortLeftoverUploads(s3, bucket, a.key).catch(() => undefined);
    throw firstError;
  }
  return { dumpedBytes: dumped.bytes, storedBytes: stored.bytes, sha256: stored.digest() };
}

function abortReason(signal: AbortSignal | undefined): DumptruckError {
  const reason: unknown = signal?.reason;
  return reason instanceof DumptruckError ? reason : new CancelledError();
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
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
