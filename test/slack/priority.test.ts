import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// In a child process: renicing the test worker's own threads would slow the rest of the run.
const SCRIPT = `
import { readdirSync, readFileSync } from 'node:fs';
import { deprioritizeBackgroundThreads } from './dist/slack/priority.js';
const nice = (tid) => Number(readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16]);
const changed = await deprioritizeBackgroundThreads();
const threads = readdirSync('/proc/self/task').map((t) => ({ main: Number(t) === process.pid, nice: nice(t) }));
console.log(JSON.stringify({ changed, threads }));
`;

describe.runIf(process.platform === 'linux')('background thread priority', () => {
  it('lowers every thread but the main one, which keeps its priority', () => {
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { encoding: 'utf8' })) as {
      changed: number;
      threads: Array<{ main: boolean; nice: number }>;
    };
    const background = out.threads.filter((t) => !t.main);
    // V8's helpers and libuv's pool (started by the call itself) are there.
    expect(background.length).toBeGreaterThanOrEqual(4);
    expect(out.changed).toBe(background.length);
    expect(background.every((t) => t.nice === 10)).toBe(true);
    expect(out.threads.find((t) => t.main)?.nice).toBe(0);
  });
});
