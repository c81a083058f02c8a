import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Env } from '../config/load.js';
import { pgDumpEnv } from '../pipeline/pgdump.js';
import { scrubSecrets } from '../redact.js';
import { locatePgDump as defaultLocatePgDump } from '../pipeline/probe.js';
import { RestrictedPsqlInput, TRANSACTION_TIMEOUT_SINCE, restrictedModeProblem, serverOptions, type RestrictOptions } from './restrict.js';

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

export interface ToolExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly spawnError?: Error;
}

export interface ToolProcess {
  /** Present when started with `stdin: true`. */
  readonly stdin: Writable | undefined;
  /** Collected stdout, when started with `captureStdout: true` (small outputs only, e.g. pg_restore --list). */
  stdout(): string;
  /** The program that failed (or ran), for describeExit and the error's `tool`. */
  bin(): string;
  stderrTail(): string;
  /** Resolves when the process has exited and its pipes closed; never rejects. */
  readonly exited: Promise<ToolExit>;
  kill(): void;
}

const STDERR_KEEP = 4096;

/** Starts psql or pg_restore: an argument array, and the password in the child's environment only. */
export function startTool(
  spawn: ToolSpawn | undefined,
  bin: string,
  args: readonly string[],
  env: { readonly parent: Env; readonly password: string | undefined; readonly appName: string },
  options: { readonly stdin?: boolean; readonly captureStdout?: boolean; readonly pipeStdout?: boolean } = {},
): ToolProcess & { readonly output: Readable | undefined } {
  const child = (spawn ?? nodeSpawn)(bin, args, {
    env: pgDumpEnv(env.parent, env.password, env.appName),
    stdio: [options.stdin ? 'pipe' : 'ignore', options.captureStdout || options.pipeStdout ? 'pipe' : 'ignore', 'pipe'],
  });
  let out = '';
  let tail = '';
  if (options.captureStdout) child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_KEEP);
  });
  // The tool may exit before reading all its input (pg_restore --list, or an error): that is
  // reported through its exit status, not as an EPIPE thrown at us.
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<ToolExit>((resolve) => {
    child.once('error', (spawnError) => resolve({ code: null, signal: null, spawnError }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    stdin: child.stdin ?? undefined,
    stdout: () => out,
    output: options.pipeStdout ? (child.stdout ?? undefined) : undefined,
    bin: () => bin,
    // What the tool says may echo its connection string or password: never passed on with it.
    stderrTail: () => scrubSecrets(tail.trim().split('\n').slice(-10).join('\n'), env.password ? [env.password] : []),
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

/** "psql" of "/usr/lib/postgresql/17/bin/psql": how messages name a program. */
export function toolName(bin: string): string {
  return bin.slice(bin.lastIndexOf('/') + 1);
}

/** "exited with code 1" / "was killed by SIGTERM" / "could not start: ENOENT". */
export function describeExit(bin: string, exit: ToolExit): string {
  const name = toolName(bin);
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

/** Refuses, before anything is created, a psql without restricted mode: it would obey a meta-command in what it reads. */
export async function requireRestrictedPsql(
  spawn: ToolSpawn | undefined,
  psql: string,
  env: { readonly parent: Env; readonly password: string | undefined; readonly appName: string },
): Promise<void> {
  const problem = restrictedModeProblem(await toolVersion(spawn, psql, env));
  if (problem) throw problem;
}

/** psql running a restore script from stdin: stopping at the first error, which then fails the restore. */
export function psqlRestoreArgs(url: string): string[] {
  return ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-password', '--dbname', url];
}

/** The major version of a "17.12" / "18beta2" version string. */
function major(version: string): number {
  return Number.parseInt(version, 10);
}

/**
 * Pure: whether a custom archive must go through pg_restore's SQL script into psql rather than
 * `pg_restore --dbname`: pg_restore 17+ sends `SET transaction_timeout = 0;` itself, which a server
 * older than 17 refuses. Only then: every other pair keeps the direct path (no psql in between).
 */
export function needsScriptRestore(tools: Pick<PgTools, 'version'>, serverMajor: number): boolean {
  return serverMajor < TRANSACTION_TIMEOUT_SINCE && major(tools.version) >= TRANSACTION_TIMEOUT_SINCE;
}

/**
 * A custom archive (on stdin) restored into `url` on a server of major version `serverMajor`, with
 * pg_restore's own switches `restoreArgs` (`--no-owner`, ...): `pg_restore --exit-on-error --dbname`,
 * or, when pg_restore is newer than that server allows (needsScriptRestore), its script through
 * restricted psql (startScriptRestore, whose input starts with `\restrict <restrictKey>`). Verify's
 * restore test and restore both start one so.
 */
export function startArchiveRestore(
  spawn: ToolSpawn | undefined,
  tools: PgTools,
  serverMajor: number,
  restoreArgs: readonly string[],
  url: string,
  env: { readonly parent: Env; readonly password: string | undefined; readonly appName: string },
  restrictKey: string,
): ToolProcess {
  return needsScriptRestore(tools, serverMajor)
    ? startScriptRestore(spawn, tools, restoreArgs, url, env, { key: restrictKey, options: serverOptions(serverMajor) })
    : startTool(spawn, tools.pgRestore, ['--exit-on-error', '--no-password', ...restoreArgs, '--dbname', url], env, { stdin: true });
}

/**
 * `pg_restore -f - <restoreArgs>` (the archive on its stdin, an SQL script on its stdout) through
 * RestrictedPsqlInput into psql on `url`: a custom archive restored into a server older than
 * pg_restore's session header allows (needsScriptRestore). One ToolProcess for both: `stdin` is
 * pg_restore's, `kill` stops both, `exited` waits for both and reports the one that failed first
 * in cause (pg_restore on its own, e.g. a cut archive; else psql, whose exit breaks pg_restore's
 * pipe), with its stderr and name.
 */
export function startScriptRestore(
  spawn: ToolSpawn | undefined,
  tools: Pick<PgTools, 'psql' | 'pgRestore'>,
  restoreArgs: readonly string[],
  url: string,
  env: { readonly parent: Env; readonly password: string | undefined; readonly appName: string },
  restrict: { readonly key: string; readonly options: RestrictOptions },
): ToolProcess {
  const restore = startTool(spawn, tools.pgRestore, ['--exit-on-error', ...restoreArgs, '--file', '-'], env, {
    stdin: true,
    pipeStdout: true,
  });
  const psql = startTool(spawn, tools.psql, psqlRestoreArgs(url), env, { stdin: true });
  const kill = () => {
    restore.kill();
    psql.kill();
  };
  // A broken pipe between them (psql stopped) ends pg_restore; anything else that breaks it stops both.
  void pipeline(restore.output!, new RestrictedPsqlInput(restrict.key, restrict.options), psql.stdin!).catch(kill);
  let culprit: ToolProcess = restore;
  const exited = Promise.all([restore.exited, psql.exited]).then(([r, p]) => {
    const restoreOnItsOwn =
      r.spawnError !== undefined || (r.code !== 0 && r.code !== null && !/could not write|broken pipe/i.test(restore.stderrTail()));
    culprit = restoreOnItsOwn || p.code === 0 ? restore : psql;
    return culprit === restore ? r : p;
  });
  return {
    stdin: restore.stdin,
    stdout: () => '',
    bin: () => culprit.bin(),
    stderrTail: () => culprit.stderrTail(),
    exited,
    kill,
  };
}
