import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, runCli } from '../helpers/cli.js';
import { configYaml, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';

// The built CLI's output as shell pipelines and operators see it.
const servers = testServers();
const prefix = uniquePrefix('cli-output');
let dir: string;
const env = () => ({ ...servers.env, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml') });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-cli-output-'));
  await seedDatabase(servers.pg, 'cli_output_src', 100);
  await writeFile(join(dir, 'dumptruck.yml'), configYaml(servers, prefix, { app: { db: 'cli_output_src' } }));
  expect((await runCli(['backup', 'app'], { cwd: dir, env: env() })).code).toBe(0);
  expect((await runCli(['backup', 'app'], { cwd: dir, env: env() })).code).toBe(0);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('CLI output', () => {
  it('`dumptruck list app | head -1`: a reader that closes early is not a failure (exit 0, nothing on stderr)', async () => {
    const child = spawn(process.execPath, [CLI_BIN, 'list', 'app'], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    // The reader goes away before the first line is written, as `head` does after its lines.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('`dumptruck targets` refuses a config whose URL carries a password parameter, by path, never printing it', async () => {
    const path = join(dir, 'secret-url.yml');
    await writeFile(
      path,
      configYaml(servers, prefix, { app: { db: 'cli_output_src' } }).replace(
        '/cli_output_src',
        '/cli_output_src?sslmode=disable&Password=hunter22',
      ),
    );
    const r = await runCli(['targets'], { cwd: dir, env: { ...env(), DUMPTRUCK_CONFIG: path } });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      'targets.app.url: must not carry a secret (parameter Password); give it as the password source instead ({ env: VAR } or { file: path })',
    );
    expect(r.stdout + r.stderr).not.toContain('hunter22');
  });
});
