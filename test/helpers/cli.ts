// The built CLI as cron runs it: its own process, an environment of its own, no TTY.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const CLI_BIN = resolve('dist/cli/bin.js');

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `env` is the child's whole environment; undefined values are left out. */
export function runCli(args: readonly string[], options: { readonly cwd: string; readonly env: Readonly<Record<string, string | undefined>> }): Promise<CliRun> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.env)) if (v !== undefined) env[k] = v;
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
