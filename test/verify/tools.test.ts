// The tails of what psql, pg_restore and age print on stderr end up in errors, Slack threads and
// flag markers: a tool that echoes its password or identity must not pass it on. Real child
// processes stand in for the tools (a shell printing what it was given).
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAge, type AgeSpawn } from '../../src/pipeline/age.js';
import { needsScriptRestore, startScriptRestore, startTool, toolName } from '../../src/verify/tools.js';

const env = { PATH: process.env.PATH };

describe('tool stderr tails are scrubbed of the secrets the tool was given', () => {
  it('psql or pg_restore echoing PGPASSWORD', async () => {
    const tool = startTool(undefined, '/bin/sh', ['-c', 'echo "FATAL: password $PGPASSWORD is wrong" >&2; exit 2'], {
      parent: env,
      password: 'Tr0ub4dor-horse',
      appName: 'dt-test',
    });
    expect((await tool.exited).code).toBe(2);
    expect(tool.stderrTail()).toBe('FATAL: password [redacted] is wrong');
  });

  it('age echoing the identity it read, whatever its shape (a secret manager may hold anything)', async () => {
    // With an identity, startAge runs `<bin> <args> --identity /dev/fd/N`: the shell prints that file.
    const age = startAge(spawn as unknown as AgeSpawn, '/bin/sh', ['-c', 'cat "$1" >&2; exit 1'], {
      env,
      identity: 'not-age-shaped-identity-0123\n',
    });
    age.stage.resume();
    age.stage.end();
    expect((await age.exited).code).toBe(1);
    expect(age.stderrTail()).toBe('[redacted]');
  });
});

describe('startScriptRestore: pg_restore -f - | restricted psql, as one tool', () => {
  // Shell scripts named pg_restore and psql stand in for them: `cat` passes the script on.
  let dir: string;
  const tools = () => ({ pgRestore: join(dir, 'pg_restore'), psql: join(dir, 'psql') });
  async function stubs(pgRestore: string, psql: string): Promise<void> {
    for (const [name, body] of [
      ['pg_restore', pgRestore],
      ['psql', psql],
    ] as const) {
      await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`);
      await chmod(join(dir, name), 0o755);
    }
  }
  const start = () =>
    startScriptRestore(
      undefined,
      tools(),
      [],
      'postgres://x@127.0.0.1:1/db',
      { parent: env, password: undefined, appName: 't' },
      {
        key: 'k1',
        options: { dropTransactionTimeout: true },
      },
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dt-script-restore-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('psql gets the script through the filter; both succeed', async () => {
    const out = join(dir, 'psql-input');
    await stubs('cat', `cat > ${out}`);
    const tool = start();
    tool.stdin!.end('\\restrict theirs\nSET transaction_timeout = 0;\nselect 1;\n');
    expect((await tool.exited).code).toBe(0);
    expect(await readFile(out, 'utf8')).toBe('\\restrict k1\nselect 1;\n');
  });

  it('psql stopping at an error is the failure named, not the broken pipe it leaves pg_restore', async () => {
    await stubs(
      'cat; echo "pg_restore: error: could not write to output file: Broken pipe" >&2; exit 1',
      'head -c 1 >/dev/null; echo "ERROR:  boom" >&2; exit 3',
    );
    const tool = start();
    tool.stdin!.end(Buffer.alloc(1 << 20, 'x'));
    expect(await tool.exited).toMatchObject({ code: 3 });
    expect(toolName(tool.bin())).toBe('psql');
    expect(tool.stderrTail()).toBe('ERROR:  boom');
  });

  it('pg_restore failing on its own (a cut archive) is the failure named, even when psql then fails on the cut script', async () => {
    await stubs(
      'cat >/dev/null; echo "pg_restore: error: could not read from input file: end of file" >&2; exit 1',
      'cat >/dev/null; echo "ERROR:  syntax error at end of input" >&2; exit 3',
    );
    const tool = start();
    tool.stdin!.end('PGDMP');
    expect(await tool.exited).toMatchObject({ code: 1 });
    expect(toolName(tool.bin())).toBe('pg_restore');
    expect(tool.stderrTail()).toMatch(/end of file/);
  });

  it('kill stops both, and exited waits for both', async () => {
    const pids = join(dir, 'pids');
    await stubs(`echo $$ >> ${pids}; exec sleep 60`, `echo $$ >> ${pids}; exec sleep 60`);
    const tool = start();
    // Both have started (each wrote its pid) before the kill.
    const started = async () => (await readFile(pids, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
    while ((await started()).length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    tool.kill();
    expect((await tool.exited).signal).toBe('SIGTERM');
    for (const pid of (await readFile(pids, 'utf8')).trim().split('\n')) expect(() => process.kill(Number(pid), 0)).toThrow();
  });

  it('needsScriptRestore: only pg_restore 17+ into a server older than 17', () => {
    expect(needsScriptRestore({ version: '17.12' }, 15)).toBe(true);
    expect(needsScriptRestore({ version: '18beta2' }, 16)).toBe(true);
    expect(needsScriptRestore({ version: '17.12' }, 17)).toBe(false);
    expect(needsScriptRestore({ version: '16.4' }, 15)).toBe(false);
  });
});
