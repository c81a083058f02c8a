import pino, { type Logger } from 'pino';
import type { Env } from '../config/load.js';
import type { JobEvent } from '../jobs/events.js';
import { prettyLine } from './pretty.js';
import { Redactor, secretsInEnv } from '../redact.js';

export type { Logger } from 'pino';
export type LogFormat = 'json' | 'pretty';

export interface LogDestination {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  /** A stream's 'error' event (process.stdout's EPIPE when the reader went away) is listened for when it has one. */
  on?(event: 'error', listener: (err: Error) => void): unknown;
}

export interface LoggerOptions {
  /** Default: LOG_LEVEL from `env`, else info. */
  readonly level?: string;
  /** Default: LOG_FORMAT from `env`, else pretty when `destination` is a TTY and JSON lines otherwise. */
  readonly format?: LogFormat;
  /** Default: process.stdout. */
  readonly destination?: LogDestination;
  /** Its secret-looking variables (tokens, secret keys, passwords) are redacted by value. Default: none. */
  readonly env?: Env;
  /** Redacts what the logger writes; pass one to add values later (redactor.add(password)). */
  readonly redactor?: Redactor;
  /** Fields on every line, e.g. { service: 'dumptruck' }. */
  readonly base?: Record<string, unknown>;
  /** Colours in pretty output. Default: when the destination is a TTY and NO_COLOR is unset. */
  readonly color?: boolean;
  /** Where the one line saying that the destination broke goes. Default: process.stderr. */
  readonly notice?: LogDestination;
}

/**
 * The process's logger: JSON lines for collectors, one readable line per entry on a terminal.
 * Every line passes the redactor last, after serialization, so nothing (a message, an error's
 * stack, a child logger's bindings) can carry a secret past it.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? {};
  const destination = dropWhenBroken(options.destination ?? process.stdout, options.notice ?? process.stderr);
  const redactor = options.redactor ?? new Redactor();
  redactor.add(...secretsInEnv(env));
  const format = options.format ?? parseFormat(env.LOG_FORMAT) ?? (destination.isTTY ? 'pretty' : 'json');
  const color = options.color ?? (destination.isTTY === true && !env.NO_COLOR);
  const stream: LogDestination =
    format === 'pretty' ? { write: (line: string) => destination.write(prettyLine(line, color)) } : destination;

  return pino(
    {
      level: options.level ?? (env.LOG_LEVEL || 'info'),
      base: options.base ?? {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redactor.object(obj),
      },
      serializers: {
        // The serialized error is not a plain object; spread it so its own fields are checked too.
        err: (err: Error) => {
          const serialized: unknown = pino.stdSerializers.err(err);
          return typeof serialized === 'object' && serialized !== null ? redactor.object({ ...serialized }) : serialized;
        },
      },
      hooks: { streamWrite: (line) => redactor.text(line) },
    },
    stream,
  );
}

/**
 * The destination, until a write to it fails (EPIPE: a log collector restarting, a supervisor gone);
 * from then on every line is dropped. Without this, the failed write's 'error' became an uncaught
 * exception, which was logged, which failed again: a loop at full CPU that starved shutdown.
 * The break is noted once on `notice`, if that still works; its own failure is ignored.
 */
function dropWhenBroken(destination: LogDestination, notice: LogDestination): LogDestination {
  let broken = false;
  const ignore = () => undefined;
  const drop = (err: unknown) => {
    if (broken) return;
    broken = true;
    if (notice === destination) return;
    notice.on?.('error', ignore);
    try {
      notice.write(
        `dumptruck: the log output failed (${(err as { code?: string }).code ?? (err as Error).message}); logging stops, the bot goes on\n`,
      );
    } catch {
      // Nowhere left to say it.
    }
  };
  destination.on?.('error', drop);
  return {
    ...(destination.isTTY === undefined ? {} : { isTTY: destination.isTTY }),
    write(chunk: string) {
      if (broken) return true;
      try {
        return destination.write(chunk);
      } catch (err) {
        drop(err);
        return true;
      }
    },
  };
}

function parseFormat(value: string | undefined): LogFormat | undefined {
  return value === 'json' || value === 'pretty' ? value : undefined;
}

/** A job's logger: every line carries its id and target. */
export function jobLogger(log: Logger, job: { readonly id: string; readonly target: string }): Logger {
  return log.child({ jobId: job.id, target: job.target });
}

/**
 * Logs a job's life, each line on a child logger carrying the job's id and target: queued,
 * started, finished at info, a cancel or timeout at warn, a failure at error, progress at debug.
 * Pass it where a job is enqueued (queue.enqueue(req, { onEvent: logJobEvents(log, req.target) }))
 * or let instrumentRunner do it for every run.
 */
export function logJobEvents(log: Logger, target: string): (event: JobEvent) => void {
  let child: { readonly jobId: string; readonly log: Logger } | undefined;
  return (event) => {
    if (child?.jobId !== event.jobId) child = { jobId: event.jobId, log: jobLogger(log, { id: event.jobId, target }) };
    const jl = child.log;
    switch (event.type) {
      case 'queued':
        jl.info({ position: event.position }, 'backup queued');
        return;
      case 'started': {
        const { key, estimatedBytes, partSize, partsInFlight, pgDumpVersion, serverVersion } = event.info;
        jl.info({ key, estimatedBytes, partSize, partsInFlight, pgDumpVersion, serverVersion }, 'backup started');
        return;
      }
      case 'progress':
        jl.debug(
          { dumpedBytes: event.progress.dumpedBytes, storedBytes: event.progress.storedBytes, elapsedMs: event.progress.elapsedMs },
          'backup progress',
        );
        return;
      case 'finished': {
        const { key, storedBytes, dumpedBytes, sha256, durationMs } = event.result;
        jl.info({ key, storedBytes, dumpedBytes, sha256, durationMs }, 'backup finished');
        return;
      }
      case 'failed': {
        const { code, stage, message } = event.error;
        const cancelled = stage === 'cancelled' || stage === 'timeout';
        jl[cancelled ? 'warn' : 'error']({ code, stage, error: message }, cancelled ? 'backup cancelled' : 'backup failed');
        return;
      }
    }
  };
}
