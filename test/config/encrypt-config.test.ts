import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { encryptionOf, requireLinks } from '../../src/config/targets.js';
import { configProblems } from '../helpers/config-problems.js';

const AGE = 'age1l7lvp9jkw8sytvuh8wsm60rrnx47yhk39zh0ram3wkc2tyr3u3cqgtga4z';
// One character changed: still the right length and alphabet, but its bech32 checksum fails.
const AGE_TYPO = 'age1l7lvp9jkw8sytvuh8wsm60rrnx47yhk39zh0ram3wkc2tyr3u3cqgtga5z';
const SSH_ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPKaetSCyDWf1Ug6b1Ksu21gxR+CpUPOShvpdbM6d8Dz test@host';

const BASE = `
storage:
  bucket: backups
targets:
  app-db:
    url: postgres://backup@db.internal:5432/app
`;

describe('config: encryption with age and links', () => {
  it('per target or top level; a target may opt out with encrypt: false; links default to true', () => {
    const config = parseConfig(
      `${BASE}    encrypt: { recipients: [${AGE}, "${SSH_ED25519}"], identity: { env: AGE_IDENTITY } }
    links: false
  other:
    url: postgres://backup@db.internal:5432/other
  plain:
    url: postgres://backup@db.internal:5432/plain
    encrypt: false
encrypt:
  recipients: [${AGE}]
  identity: { awsSecretsManager: { secretId: prod/age-identity } }
`,
      {},
    );
    expect(encryptionOf(config, config.targets['app-db']!)).toEqual({ recipients: [AGE, SSH_ED25519], identity: { env: 'AGE_IDENTITY' } });
    expect(encryptionOf(config, config.targets.other!)).toEqual({
      recipients: [AGE],
      identity: { awsSecretsManager: { secretId: 'prod/age-identity', cacheTtl: 60_000 } },
    });
    expect(encryptionOf(config, config.targets.plain!)).toBeUndefined();
    expect(config.targets['app-db']!.links).toBe(false);
    expect(config.targets.other!.links).toBe(true);
    // `link` (CLI and Slack) is refused for it, with the reason.
    expect(() => requireLinks(config, 'app-db')).toThrow('download links are turned off for app-db (targets.app-db.links: false)');
    expect(() => requireLinks(config, 'other')).not.toThrow();
    expect(encryptionOf(parseConfig(BASE, {}), parseConfig(BASE, {}).targets['app-db']!)).toBeUndefined();
  });

  it('rejects bad recipients and identities by path, never echoing a whole key', () => {
    expect(
      configProblems(`${BASE}    encrypt: { recipients: [${AGE_TYPO}, "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQCkjA8OhM9XRrXwUkw26bIg", AGE-SECRET-KEY-1ZA7AAWAWSEXV0T2ZXXRNY8KMXUE8XUMA2VKW8CC9XZJDGRW26LMSX4L0X3] }
    links: sometimes
encrypt: { recipients: [], identity: { value: x } }
`),
    ).toEqual([
      'targets.app-db.encrypt.recipients.0: expected an age public key (age1... from age-keygen) or an SSH public key (ssh-ed25519 AAAA... / ssh-rsa AAAA...), got "age1l7lvp9jkw8sytvuh8wsm..."',
      'targets.app-db.encrypt.recipients.1: expected an age public key (age1... from age-keygen) or an SSH public key (ssh-ed25519 AAAA... / ssh-rsa AAAA...), got "ssh-ed25519 AAAAB3NzaC1y..."',
      'targets.app-db.encrypt.recipients.2: expected an age public key (age1... from age-keygen) or an SSH public key (ssh-ed25519 AAAA... / ssh-rsa AAAA...), got "AGE-SECRET-KEY-1ZA7AAWAW..."',
      'targets.app-db.links: Invalid input: expected boolean, received string',
      'encrypt.recipients: expected at least one recipient (age1... or ssh-ed25519/ssh-rsa public key)',
      'encrypt.identity: expected { env: VAR_NAME }, { file: /path/to/secret }, { awsSecretsManager: { secretId, key?, region?, endpoint?, cacheTtl? } } or { ncpSecretManager: { secretId, key, region?, endpoint?, cacheTtl? } }',
    ]);
  });
});
