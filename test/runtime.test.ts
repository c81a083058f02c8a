// The tests must run on the Node the project pins, not on whatever `node` the machine has: npm
// runs on the system's Node (20 on a fresh Debian 12 with NodeSource), and only node_modules/.bin
// being first on PATH puts the pinned one under vitest, its workers and every process they spawn.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: { node: string }; engines: { node: string } };

describe('runtime', () => {
  it('this worker runs on the pinned Node', () => {
    expect(process.version).toBe(`v${pkg.devDependencies.node}`);
  });

  it("`node` on the tests' PATH is the pinned one, so shebang scripts (the package bin) run on it too", () => {
    const version = execFileSync('/usr/bin/env', ['node', '-v'], { encoding: 'utf8' }).trim();
    expect(version).toBe(`v${pkg.devDependencies.node}`);
  });

  it('the pinned Node satisfies engines', () => {
    const min = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node);
    expect(min).not.toBeNull();
    const [major, minor] = pkg.devDependencies.node.split('.').map(Number) as [number, number];
    expect(major > Number(min![1]) || (major === Number(min![1]) && minor >= Number(min![2]))).toBe(true);
  });
});
