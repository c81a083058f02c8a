// No Docker engine here: what can be checked without one is the entry point (with a stand-in
// node, and with the real one on the built dist/) and the image's runtime environment
// (`npm ci --omit=dev --ignore-scripts`, then the CLI and the bot from it).
import { spawn } from 'node:child_process';
import { chmod, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHealthHandler, serveHealth } from '../../src/observability/index.js';
import { freePort } from '../helpers/free-port.js';

const ROOT = resolve('.');
const ENTRYPOINT = join(ROOT, 'docker/entrypoint.sh');

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly pid: number | undefined;
}

function run(cmd: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr, pid: child.pid }));
  });
}

const dirs: string[] = [];
async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `dt-${name}-`));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const CONFIG = [
  'storage:',
  '  bucket: backups',
  'targets:',
  '  app-db:',
  '    url: postgres://backup@db.internal:5432/app',
  '    password: { env: APP_DB_PASSWORD }',
  '',
].join('\n');

/** An environment without the caller's Slack, AWS and dumptruck variables. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

describe('docker/entrypoint.sh with a stand-in node', () => {
  let fakeBin: string;
  beforeAll(async () => {
    fakeBin = await tempDir('fake-node');
    // Prints its pid and arguments, one per line, so the test sees what exec'd it and how.
    await writeFile(
      join(fakeBin, 'node'),
      '#!/bin/sh\necho "pid $$"\necho "mmap threshold ${MALLOC_MMAP_THRESHOLD_-unset}"\nfor a in "$@"; do echo "arg $a"; done\n',
    );
    await chmod(join(fakeBin, 'node'), 0o755);
  });
  const env = () => cleanEnv({ PATH: `${fakeBin}:${process.env.PATH}` });

  it('starts the bot with no arguments, exec-ing node in its own place', async () => {
    const r = await run(ENTRYPOINT, [], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `pid ${r.pid}\nmmap threshold 131072\narg --max-semi-space-size=4\narg --optimize-for-size\narg --no-incremental-marking\narg --expose-gc\narg ${ROOT}/dist/slack/main.js\n`,
    );
  });

  it('starts the bot for "bot"', async () => {
    const r = await run(ENTRYPOINT, ['bot'], { env: env() });
    expect(r.stdout).toBe(
      `pid ${r.pid}\nmmap threshold 131072\narg --max-semi-space-size=4\narg --optimize-for-size\narg --no-incremental-marking\narg --expose-gc\narg ${ROOT}/dist/slack/main.js\n`,
    );
  });

  it('passes any other arguments to the CLI unchanged', async () => {
    const r = await run(ENTRYPOINT, ['link', 'app-db', 'a key with spaces'], { env: env() });
    expect(r.stdout).toBe(
      `pid ${r.pid}\nmmap threshold 131072\narg --max-semi-space-size=4\narg --optimize-for-size\narg --no-incremental-marking\narg --expose-gc\narg ${ROOT}/dist/cli/bin.js\narg link\narg app-db\narg a key with spaces\n`,
    );
  });

  it('finds the app from its own location, whatever the working directory', async () => {
    const r = await run(ENTRYPOINT, ['targets'], { env: env(), cwd: tmpdir() });
    expect(r.stdout).toContain(
      `arg --max-semi-space-size=4\narg --optimize-for-size\narg --no-incremental-marking\narg --expose-gc\narg ${ROOT}/dist/cli/bin.js\narg targets\n`,
    );
  });
});

describe("the image's runtime environment, outside Docker", () => {
  let app: string;
  let configPath: string;

  beforeAll(async () => {
    // What the runtime stage holds: package files, production dependencies, dist/, the entry point.
    app = await tempDir('image');
    await Promise.all(['package.json', 'package-lock.json'].map((f) => cp(join(ROOT, f), join(app, f))));
    const install = await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: app,
      env: { ...process.env, NODE_ENV: 'production' },
    });
    if (install.code !== 0) throw new Error(`npm ci --omit=dev failed:\n${install.stderr}`);
    await cp(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
    await cp(ENTRYPOINT, join(app, 'docker/entrypoint.sh'));
    configPath = join(app, 'dumptruck.yml');
    await writeFile(configPath, CONFIG);
  }, 300_000);

  it('has no dev dependencies installed', async () => {
    const r = await run('node', ['-e', "import('typescript').then(() => process.exit(1), () => process.exit(0))"], { cwd: app });
    expect(r.code).toBe(0);
  });

  it('runs CLI commands: help and targets', async () => {
    const help = await run(join(app, 'docker/entrypoint.sh'), ['help'], { cwd: app, env: cleanEnv({}) });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: dumptruck <command>');

    const targets = await run(join(app, 'docker/entrypoint.sh'), ['targets'], {
      cwd: app,
      env: cleanEnv({ DUMPTRUCK_CONFIG: configPath }),
    });
    expect(targets.stderr).toBe('');
    expect(targets.code).toBe(0);
    expect(targets.stdout).toContain('app-db');
  });

  it('gives the CLI exit codes through: bad usage is 2', async () => {
    const r = await run(join(app, 'docker/entrypoint.sh'), ['frobnicate'], { cwd: app, env: cleanEnv({}) });
    expect(r.code).toBe(2);
  });

  it('starts the bot with no arguments (which stops at once, naming the missing Slack variables)', async () => {
    const r = await run(join(app, 'docker/entrypoint.sh'), [], { cwd: app, env: cleanEnv({ DUMPTRUCK_CONFIG: configPath }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SLACK_BOT_TOKEN');
    expect(r.stderr).not.toMatch(/Cannot find (module|package)/);
  });
});

describe('Dockerfile', () => {
  it('keeps the promises the README makes about the image', async () => {
    const text = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    expect(text).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    expect(text.match(/^FROM \$\{NODE_IMAGE\}/gm)).toHaveLength(2);
    expect(text).toMatch(/^ARG PG_MAJOR=18$/m);
    expect(text).toContain('apt.postgresql.org/pub/repos/apt bookworm-pgdg main');
    expect(text).toContain('"postgresql-client-${PG_MAJOR}"');
    expect(text).toMatch(/apt-get install -y --no-install-recommends .* age bash;/);
    expect(text).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(text).toMatch(/^USER node$/m);
    expect(text).toMatch(/^HEALTHCHECK .*\n.*\/healthz/m);
    expect(text).toMatch(/^ENTRYPOINT \["\/app\/docker\/entrypoint\.sh"\]$/m);
    const ignore = await readFile(join(ROOT, '.dockerignore'), 'utf8');
    for (const p of ['node_modules', 'dist', '.env', '.git']) expect(ignore.split('\n')).toContain(p);
  });
});

describe('HEALTHCHECK', () => {
  it('its command succeeds against /healthz on $PORT and fails when nothing answers', async () => {
    const text = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const cmd = JSON.parse(/^\s*CMD (\[.*\])$/m.exec(text)![1]!) as string[];
    const server = await serveHealth(createHealthHandler({ checks: {} }), 0, '127.0.0.1');
    try {
      const port = String((server.address() as AddressInfo).port);
      expect((await run(cmd[0]!, cmd.slice(1), { env: cleanEnv({ PORT: port }) })).code).toBe(0);
      expect((await run(cmd[0]!, cmd.slice(1), { env: cleanEnv({ PORT: String(await freePort()) }) })).code).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
