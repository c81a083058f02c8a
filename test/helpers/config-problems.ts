import { expect } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

/** The problems a config is rejected with; fails the test when it is accepted. */
export function configProblems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, env, 'dumptruck.yml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected the config to be rejected');
}
