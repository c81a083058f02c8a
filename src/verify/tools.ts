import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Env } from '../config/load.js';
import { pgDumpEnv } from '../pipeline/pgdump.js';
import { scrubSecrets } from '../redact.js';
import { locatePgDump as defaultLocatePgDump } from '../pipeline/probe.js';

export type ToolSpawn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

export interface PgTools {
  readonly psql: string;
  readonly pgRestore: string;
  /** e.g. "15.18", of the pg_dump they sit beside. */
  readonly version: string;
}

/**
 * psql and pg_restore from the same installation as the pg_dump the target uses (the newest one
 * installed by default): they read what that pg_dump writes, including its `\restrict` lines.
 */
export async function locatePgTools(
  configuredPgDump: string | undefined,
  locate: typeof defaultLocatePgDump = defaultLocatePgDump,
): Promise<PgTools> {
  const dump = await locate(configuredPgDump);
  const sibling = (tool: string) => (dump.path.includes('/') ? join(dirname(dump.path), tool) : tool);
  return { psql: sibling('psql'), pgRestore: sibling('pg_restore'), version: dump.version };
}

export interface ToolProcess {
  /** Present when started with `stdin: true`. */
  readonly stdin: Writable | undefined;
  /** Collected stdout, when started with `captureStdout: true` (small outputs only, e.g. pg_restore --list). */
  stdout(): string;
  stderrTail(): string;
  /** Resolves when the process has exited and its pipes closed; never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>;
  kill(): void;
}

const STDERR_KEEP = 4096;

/** Starts psql or pg_restore: an argument array, and the password in the child's environment only. */
export function startTool(
  spawn: ToolSpawn | undefined,
  bin: string,
  args: readonly string[],
  env: { readonly parent: Env; readonly password: string | undefined; readonly appName: string },
  options: { readonly stdin?: boolean; readonly captureStdout?: boolean } = {},
): ToolProcess {
  const child = (spawn ?? nodeSpawn)(bin, args, {
    env: pgDumpEnv(env.parent, env.password, env.appName),
    stdio: [options.stdin ? 'pipe' : 'ignore', options.captureStdout ? 'pipe' : 'ignore', 'pipe'],
  });
  let out = '';
  let tail = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_KEEP);
  });
  // The tool may exit before reading all its input (pg_restore --list, or an error): that is
  // reported through its exit status, not as an EPIPE thrown at us.
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>((resolve) => {
    child.once('error', (spawnError) => resolve({ code: null, signal: null, spawnError }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    stdin: child.stdin ?? undefined,
    stdout: () => out,
    // What the tool says may echo its connection string or password: never passed on with it.
    stderrTail: () => scrubSecrets(tail.trim().split('\n').slice(-10).join('\n'), env.password ? [env.password] : []),
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

/** "exited with code 1" / "was killed by SIGTERM" / "could not start: ENOENT". */
export function describeExit(bin: string, exit: { code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }): string {
  const name = bin.slice(bin.lastIndexOf('/') + 1);
  if (exit.spawnError) return `${name} could not start: ${exit.spawnError.message}`;
  return exit.code === null ? `${name} was killed by ${exit.signal}` : `${name} exited with code ${exit.code}`;
}

/** `<bin> --version`'s output (e.g. "psql (PostgreSQL) 15.14 ..."); empty when it could not run. */
export async function toolVersion(
  spawn: ToolSpawn | undefined,
  bin: string,
  env: { readonly parent: Env; readonly password: string | undefined; readonly appName: string },
): Promise<string> {
  const tool = startTool(spawn, bin, ['--version'], env, { captureStdout: true });
  const exit = await tool.exited;
  return exit.code === 0 ? tool.stdout() : '';
}
