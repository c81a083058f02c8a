import { describe, expect, it } from 'vitest';
import { targetCompression } from '../../src/config/compression.js';
import { parseConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config-problems.js';

const config = (compression: string, targets: Record<string, string> = { 'app-db': '' }) => `
storage: { bucket: backups }
${compression}
targets:
${Object.entries(targets)
  .map(([name, own]) => `  ${name}:\n    url: postgres://backup@db/app\n${own ? `    compression: ${own}\n` : ''}`)
  .join('')}`;

/** What each target's backups use, as the runner resolves it. */
function resolved(yaml: string): Record<string, unknown> {
  const c = parseConfig(yaml, {});
  return Object.fromEntries(Object.entries(c.targets).map(([name, t]) => [name, targetCompression(c.compression, t.compression)]));
}

describe('compression config', () => {
  it('defaults to gzip 6, and zstd to its own 3', () => {
    expect(resolved(config(''))).toEqual({ 'app-db': { algorithm: 'gzip', level: 6 } });
    expect(resolved(config('compression: { algorithm: zstd }'))).toEqual({ 'app-db': { algorithm: 'zstd', level: 3 } });
    expect(resolved(config('compression: { algorithm: zstd, level: 19 }'))).toEqual({ 'app-db': { algorithm: 'zstd', level: 19 } });
    // the shape shipped before zstd keeps working
    expect(resolved(config('compression: { level: 9, parallel: true }'))).toEqual({ 'app-db': { algorithm: 'gzip', level: 9 } });
  });

  it('lets a target choose its own; a top-level level applies only to the same algorithm', () => {
    const yaml = config('compression: { algorithm: gzip, level: 9 }', {
      a: '{ algorithm: zstd }',
      b: '{ algorithm: zstd, level: 7 }',
      c: '{ level: 1 }',
      d: '',
      e: '{ algorithm: gzip }',
    });
    expect(resolved(yaml)).toEqual({
      a: { algorithm: 'zstd', level: 3 },
      b: { algorithm: 'zstd', level: 7 },
      c: { algorithm: 'gzip', level: 1 },
      d: { algorithm: 'gzip', level: 9 },
      e: { algorithm: 'gzip', level: 9 },
    });
  });

  it('checks each level against its algorithm, by path', () => {
    expect(configProblems(config('compression: { level: 12 }'))).toEqual(['compression.level: gzip levels are 1 to 9, got 12']);
    expect(configProblems(config('compression: { algorithm: zstd, level: 22 }'))).toEqual([
      'compression.level: zstd levels are 1 to 19, got 22',
    ]);
    expect(configProblems(config('compression: { algorithm: zstd }', { 'app-db': '{ algorithm: zstd, level: 0 }' }))).toEqual([
      'targets.app-db.compression.level: zstd levels are 1 to 19, got 0',
    ]);
    // a level alone is the top-level algorithm's
    expect(configProblems(config('compression: { algorithm: gzip }', { 'app-db': '{ level: 15 }' }))).toEqual([
      'targets.app-db.compression.level: gzip levels are 1 to 9, got 15',
    ]);
    expect(resolved(config('compression: { algorithm: zstd }', { 'app-db': '{ level: 15 }' }))).toEqual({
      'app-db': { algorithm: 'zstd', level: 15 },
    });
    expect(configProblems(config('compression: { algorithm: brotli }'))[0]).toMatch(/^compression\.algorithm: /);
    expect(configProblems(config('', { 'app-db': '{ algorithm: zstd, parallel: false }' }))).toEqual([
      'targets.app-db.compression: unknown key "parallel"',
    ]);
  });
});
