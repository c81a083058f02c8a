import type { ChildProcessByStdio, SpawnOptions } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Compression } from '../config/compression.js';
import type { Env } from '../config/load.js';
import type { DumpFormat } from '../types.js';

export interface DumpSpec {
  readonly url: string;
  readonly format: DumpFormat;
  /** Used by pg_dump for custom format (it compresses the archive itself); plain is compressed by us. */
  readonly compression: Compression;
  readonly extraArgs: readonly string[];
  /**
   * How long pg_dump waits for each table's share lock (targets.<name>.lockWaitTimeout). A table
   * held in an exclusive lock (a migration, a stuck transaction) then fails the backup with a clear
   * message instead of hanging it until the job timeout.
   */
  readonly lockWaitTimeoutMs: number;
}

/** pg_dump's argument array. No shell ever sees it, and it never holds a password. */
export function pgDumpArgs(spec: DumpSpec): string[] {
  const args = ['--dbname', spec.url, '--no-password', `--lock-wait-timeout=${spec.lockWaitTimeoutMs}`];
  if (spec.format === 'plain') args.push('--format=plain');
  else {
    const { algorithm, level } = spec.compression;
    // A bare level means gzip to every pg_dump; `zstd:<level>` needs pg_dump 16 (checkCompressionSupport).
    args.push('--format=custom', `--compress=${algorithm === 'zstd' ? `zstd:${level}` : level}`);
  }
  return [...args, ...spec.extraArgs];
}

// Only what pg_dump needs: the bot's own secrets (Slack and AWS tokens) stay out of the child.
const PASS_THROUGH =
  /^(PATH|HOME|LANG|LC_[A-Z]+|TZ|TMPDIR|PG(HOST|HOSTADDR|PORT|SSLMODE|SSLROOTCERT|SSLCERT|SSLKEY|SSLCRL|SERVICE|SERVICEFILE|SYSCONFDIR|TARGETSESSIONATTRS|GSSENCMODE|CHANNELBINDING|CONNECT_TIMEOUT|OPTIONS|CLIENTENCODING))$/;

/** The child's environment: the password travels here and nowhere else. */
export function pgDumpEnv(parent: Env, password: string | undefined, appName: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent)) if (v !== undefined && PASS_THROUGH.test(k)) env[k] = v;
  env.PGAPPNAME = appName;
  env.PGCONNECT_TIMEOUT ??= '15';
  if (password !== undefined) env.PGPASSWORD = password;
  return env;
}

export type SpawnFn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcessByStdio<null, Readable, Readable>;

export interface DumpProcess {
  readonly stdout: Readable;
  readonly pid: number | undefined;
  /** Resolves when the process has exited and its pipes closed; never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>;
  /** The last few KiB of stderr, for error messages (scrub before showing). */
  stderrTail(): string;
  kill(): void;
}

const STDERR_KEEP = 4096;

export function startDump(spawn: SpawnFn, binary: string, args: readonly string[], env: Record<string, string>): DumpProcess {
  const child = spawn(binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_KEEP);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>((resolve) => {
    child.once('error', (spawnError) => resolve({ code: null, signal: null, spawnError }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    stdout: child.stdout,
    pid: child.pid,
    exited,
    stderrTail: () => tail.trim().split('\n').slice(-10).join('\n'),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
