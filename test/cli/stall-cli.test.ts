// The CLI against a store that accepts connections and never answers, as cron runs it: SIGTERM
// and queue.jobTimeout must end it (exit 1, saying why) whatever request it is waiting on; and a
// table held in an exclusive lock fails the backup after lockWaitTimeout instead of hanging it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { startCli, type CliRun } from '../helpers/cli.js';
import { configYaml, lockTable, releaseLock, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { startStallServer, type StallServer } from '../helpers/stall.js';

const servers = testServers();
const DB = 'cli_stall_src';
let dir: string;
let stall: StallServer;
const children: ChildProcess[] = [];

/** Starts the CLI; killed in afterAll if a test gave up on it. */
function cli(args: string[], env: Record<string, string>): { readonly child: ChildProcess; readonly done: Promise<CliRun> } {
  const run = startCli(args, { cwd: dir, env });
  children.push(run.child);
  return run;
}

/** A config whose store is the stalling server (S3_ENDPOINT wins over the file). */
async function configWith(name: string, extraYaml = '', target = ''): Promise<Record<string, string>> {
  const path = join(dir, `${name}.yml`);
  await writeFile(path, configYaml(servers, uniquePrefix('cli-stall'), { 'app-db': { db: DB, extra: target } }, extraYaml));
  return { ...servers.env, DUMPTRUCK_CONFIG: path };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-cli-stall-'));
  stall = await startStallServer();
  await seedDatabase(servers.pg, DB, 1000);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await stall?.stop();
  await rm(dir, { recursive: true, force: true });
  await servers.pg.dropDatabase(DB);
});

describe('dumptruck backup and a stalled store', () => {
  it('SIGTERM while a request hangs: exits 1 at once, saying it was cancelled', async () => {
    const env = { ...(await configWith('sigterm')), S3_ENDPOINT: stall.endpoint };
    const before = stall.connections();
    const run = cli(['backup', 'app-db'], env);
    // The CLI is now waiting on the store (its bucket check), which will never answer.
    await stall.connected(before + 1);
    const signalledAt = Date.now();
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(1);
    expect(Date.now() - signalledAt).toBeLessThan(15_000);
    expect(r.stderr).toBe('dumptruck: cancelled by SIGTERM\n');
  });

  it('queue.jobTimeout applies to the CLI: the run ends when it is over, exit 1', async () => {
    const env = { ...(await configWith('timeout', 'queue:\n  jobTimeout: 2s\n')), S3_ENDPOINT: stall.endpoint };
    const startedAt = Date.now();
    const r = await cli(['backup', 'app-db'], env).done;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe('dumptruck: timed out after 2s (queue.jobTimeout)\n');
    expect(Date.now() - startedAt).toBeLessThan(20_000);
  });

  it('a table locked longer than lockWaitTimeout fails the backup with the reason', async () => {
    const env = await configWith('lock', '', 'lockWaitTimeout: 1s');
    const lock = await lockTable(servers.pg, DB);
    try {
      const r = await cli(['backup', 'app-db'], env).done;
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        /^dumptruck: dump failed: pg_dump exited with code 1: a table stayed locked longer than targets\.app-db\.lockWaitTimeout \(1s\)\n/,
      );
      expect(r.stderr).toContain('see pg_locks');
      expect(r.stderr).toMatch(/pg_dump said:\n.*Query was: LOCK TABLE public\.customers/s);
    } finally {
      await releaseLock(lock);
    }
  }, 60_000);
});
