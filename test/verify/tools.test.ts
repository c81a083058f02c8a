// The tails of what psql, pg_restore and age print on stderr end up in errors, Slack threads and
// flag markers: a tool that echoes its password or identity must not pass it on. Real child
// processes stand in for the tools (a shell printing what it was given).
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startAge, type AgeSpawn } from '../../src/pipeline/age.js';
import { startTool } from '../../src/verify/tools.js';

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
