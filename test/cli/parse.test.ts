import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../src/cli/main.js';
import { progressLine } from '../../src/cli/progress.js';

describe('CLI parsing', () => {
  it('parses the commands of the contract', () => {
    expect(parseCommand(['backup', 'app-db'])).toEqual({ name: 'backup', target: 'app-db' });
    expect(parseCommand(['list', 'app-db'])).toEqual({ name: 'list', target: 'app-db' });
    expect(parseCommand(['link', 'app-db'])).toEqual({ name: 'link', target: 'app-db', key: undefined });
    expect(parseCommand(['link', 'app-db', 'latest'])).toEqual({ name: 'link', target: 'app-db', key: 'latest' });
    expect(parseCommand(['targets'])).toEqual({ name: 'targets' });
    expect(parseCommand(['--help'])).toEqual({ name: 'help' });
  });

  it('says what was wrong and what would work', () => {
    expect(() => parseCommand([])).toThrow('no command given');
    expect(() => parseCommand(['bakup', 'x'])).toThrow('unknown command "bakup"');
    expect(() => parseCommand(['backup'])).toThrow('backup takes <target>');
    expect(() => parseCommand(['backup', 'a', 'b'])).toThrow('backup takes <target>');
    expect(() => parseCommand(['backup', '../etc'])).toThrow('"../etc" is not a target name');
    expect(() => parseCommand(['backup', 'a;rm -rf /'])).toThrow('is not a target name');
  });

  it('formats a progress line', () => {
    expect(
      progressLine('app', {
        dumpedBytes: 50 * 1024 ** 2,
        storedBytes: 10 * 1024 ** 2,
        elapsedMs: 65_000,
        bytesPerSecond: 1024 ** 2,
        estimatedBytes: 200 * 1024 ** 2,
      }),
    ).toBe('app: 50.0 MiB dumped, 10.0 MiB stored, 1.0 MiB/s, 1m 5s ~25% of db size');
  });
});
