// A local AWS API for tests of AWS-only services (Secrets Manager): moto's server from PyPI,
// installed by scripts/install-deps.sh. One per test file that needs it; it starts in about a
// second and keeps everything in memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort, waitForPort } from './free-port.js';

export interface MotoServer {
  readonly endpoint: string;
  readonly region: string;
  /** moto accepts any credentials; these are what the tests sign with. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/** MOTO_SERVER_BIN, then PATH, then the virtualenv scripts/install-deps.sh creates when pip cannot install globally. */
export function findMotoServer(): string {
  const candidates = [
    process.env.MOTO_SERVER_BIN,
    ...(process.env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'moto_server')),
    join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'dumptruck', 'moto', 'bin', 'moto_server'),
  ];
  const found = candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
  if (!found)
    throw new Error('moto_server not found: run scripts/install-deps.sh (it installs moto[server] from PyPI) or set MOTO_SERVER_BIN');
  return found;
}

/** `env`: moto's own settings, e.g. MOTO_RDS_SNAPSHOT_LIMIT to make a snapshot quota reachable. */
export async function startMoto(options: { readonly env?: Readonly<Record<string, string>> } = {}): Promise<MotoServer> {
  const bin = findMotoServer();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort(HOST);
    let output = '';
    let exited: string | undefined;
    const child: ChildProcess = spawn(bin, ['-H', HOST, '-p', String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('error', (err) => (exited = err.message));
    child.on('exit', (code, signal) => (exited ??= `exited with ${code ?? signal}`));
    try {
      await waitForPort(HOST, port, {
        timeoutMs: 30_000,
        failed: () => (exited ? new Error(`moto_server ${exited}:\n${output}`) : undefined),
      });
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt < 3 && /in use/i.test(output)) continue;
      throw err;
    }
    const onExit = () => child.kill('SIGKILL');
    process.once('exit', onExit);
    return {
      endpoint: `http://${HOST}:${port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      async stop() {
        process.removeListener('exit', onExit);
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await gone;
      },
    };
  }
}
