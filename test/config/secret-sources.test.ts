import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const yaml = (password: string, extra = '') =>
  [
    'storage:',
    '  bucket: backups',
    'targets:',
    '  app-db:',
    '    url: postgres://backup@db:5432/app',
    `    password: ${password}`,
    extra,
  ].join('\n');

function problems(text: string): readonly string[] {
  try {
    parseConfig(text, {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('secret manager password sources in the config', () => {
  it('accepts AWS Secrets Manager with defaults', () => {
    const c = parseConfig(yaml('{ awsSecretsManager: { secretId: prod/app-db, key: password } }'), {});
    expect(c.targets['app-db']!.password).toEqual({ awsSecretsManager: { secretId: 'prod/app-db', key: 'password', cacheTtl: 60_000 } });
  });

  it('accepts NAVER Cloud Secret Manager with a region and a cacheTtl (0: no cache)', () => {
    const c = parseConfig(yaml('{ ncpSecretManager: { secretId: Abc123, key: password, region: KR, cacheTtl: 0 } }'), {});
    expect(c.targets['app-db']!.password).toEqual({ ncpSecretManager: { secretId: 'Abc123', key: 'password', region: 'KR', cacheTtl: 0 } });
    const d = parseConfig(yaml('{ ncpSecretManager: { secretId: Abc123, key: password, cacheTtl: 10s } }'), {});
    expect(d.targets['app-db']!.password).toMatchObject({ ncpSecretManager: { cacheTtl: 10_000 } });
  });

  it('a misspelt or incomplete source gets one message listing every shape', () => {
    for (const bad of ['{ awsSecretsManager: { secretID: x } }', '{ ncpSecretManager: { secretId: x } }', '{ vault: x }']) {
      expect(problems(yaml(bad))).toEqual([
        'targets.app-db.password: expected { env: VAR_NAME }, { file: /path/to/secret }, { awsSecretsManager: { secretId, key?, region?, endpoint?, cacheTtl? } } or { ncpSecretManager: { secretId, key, region?, endpoint?, cacheTtl? } }',
      ]);
    }
  });
});
