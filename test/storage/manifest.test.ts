import { describe, expect, it } from 'vitest';
import {
  factsFromManifest,
  factsFromMetadata,
  manifestKey,
  parseManifest,
  serializeManifest,
  type Manifest,
} from '../../src/storage/manifest.js';

const key = 'p/app/2026/11/22/app_20261122T020000Z.sql.gz';
const manifest: Manifest = {
  version: 1,
  key,
  target: 'app',
  format: 'plain',
  compression: { algorithm: 'gzip', level: 6 },
  sha256: 'a'.repeat(64),
  storedBytes: 1000,
  dumpedBytes: 5000,
  startedAt: '2026-11-22T02:00:00.000Z',
  finishedAt: '2026-11-22T02:00:03.000Z',
  durationMs: 3000,
  pgDumpVersion: '18.1',
  serverVersion: '17.2',
  trigger: { kind: 'cli', by: 'tester' },
  mirror: { bucket: 'copy', stored: false, error: 'ECONNREFUSED' },
  hmac: 'b'.repeat(64),
};
const text = (m: Record<string, unknown>) => JSON.stringify(m);

describe('manifest', () => {
  it('lives beside its dump', () => {
    expect(manifestKey(key)).toBe(`${key}.manifest.json`);
  });

  it('reads back what was written', () => {
    expect(parseManifest(serializeManifest(manifest))).toEqual({ manifest });
    const { compression: _c, mirror: _m, ...minimal } = manifest;
    expect(parseManifest(text(minimal))).toEqual({ manifest: minimal });
  });

  it('names what is wrong with anything else', () => {
    expect(parseManifest('{')).toEqual({ problem: 'is not JSON' });
    expect(parseManifest('[1]')).toEqual({ problem: 'is not a JSON object' });
    expect(parseManifest(text({ ...manifest, version: 2 }))).toEqual({ problem: 'has version 2, this dumptruck reads version 1' });
    const cases: Array<[string, unknown]> = [
      ['key', 7],
      ['target', ''],
      ['format', 'tar'],
      ['sha256', 'A'.repeat(64)],
      ['storedBytes', -1],
      ['dumpedBytes', 1.5],
      ['durationMs', '3000'],
      ['startedAt', 'yesterday'],
      ['finishedAt', undefined],
      ['pgDumpVersion', 18],
      ['hmac', ''],
      ['trigger', { kind: 'cli' }],
      ['compression', { algorithm: 'brotli', level: 1 }],
      ['mirror', { bucket: 'copy' }],
    ];
    for (const [field, value] of cases)
      expect(parseManifest(text({ ...manifest, [field]: value })), field).toEqual({ problem: `has no valid ${field}` });
  });

  it('gives the facts verify and latest judge by, from a manifest or from old-style metadata', () => {
    expect(factsFromManifest(manifest)).toEqual({
      recordedIn: 'manifest',
      target: 'app',
      format: 'plain',
      sha256: 'a'.repeat(64),
      storedBytes: 1000,
      hmac: 'b'.repeat(64),
    });
    expect(
      factsFromMetadata({ target: 'app', format: 'plain', sha256: 'c'.repeat(64), 'stored-bytes': '12', 'dumptruck-hmac': 'd'.repeat(64) }),
    ).toEqual({
      recordedIn: 'metadata',
      target: 'app',
      format: 'plain',
      sha256: 'c'.repeat(64),
      storedBytes: 12,
      hmac: 'd'.repeat(64),
    });
    // A new dump's metadata (set at start) without its manifest: not a backup yet.
    expect(factsFromMetadata({ target: 'app', format: 'plain', 'started-at': '2026-11-22T02:00:00.000Z' })).toBeUndefined();
  });
});
