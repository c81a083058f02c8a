// AWS Secrets Manager as a password source, against moto's server: the real SDK client, the real
// wire protocol, a secret that rotates and one that does not exist.
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PasswordSource } from '../../src/config/schema.js';
import { createBackupRunner } from '../../src/jobs/runner.js';
import { SecretCache, resolvePassword, type SecretsManagerFactory } from '../../src/secrets/index.js';
import { regionOf } from '../../src/secrets/aws.js';
import { seedDatabase, testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { rejection } from '../helpers/rejection.js';
import { startMoto, type MotoServer } from '../helpers/moto.js';
import { accepted, backupQueue } from '../helpers/queue.js';

let moto: MotoServer;
let admin: SecretsManagerClient;
const clientFor: SecretsManagerFactory = ({ region, endpoint }) =>
  new SecretsManagerClient({ region: region ?? moto.region, endpoint: endpoint ?? moto.endpoint, credentials: moto.credentials });

beforeAll(async () => {
  moto = await startMoto();
  admin = clientFor({ region: undefined, endpoint: undefined }) as SecretsManagerClient;
}, 60_000);

afterAll(async () => {
  admin?.destroy();
  await moto?.stop();
});

const source = (secretId: string, extra: { key?: string; cacheTtl?: number } = {}): PasswordSource => ({
  awsSecretsManager: {
    secretId,
    endpoint: moto.endpoint,
    region: moto.region,
    cacheTtl: extra.cacheTtl ?? 60_000,
    ...(extra.key ? { key: extra.key } : {}),
  },
});

async function createSecret(name: string, value: string): Promise<void> {
  await admin.send(new CreateSecretCommand({ Name: name, SecretString: value }));
}

describe('AWS Secrets Manager password source (moto)', () => {
  const deps = () => ({ env: {}, secretsManager: clientFor, cache: new SecretCache() });

  it('reads a plain SecretString', async () => {
    await createSecret('plain-pw', 'hunter2-plain');
    expect(await resolvePassword('app', source('plain-pw'), deps())).toBe('hunter2-plain');
  });

  it('reads one key of a JSON secret', async () => {
    await createSecret('json-pw', JSON.stringify({ username: 'backup', password: 'p@ss "quoted" word', port: 5432 }));
    expect(await resolvePassword('app', source('json-pw', { key: 'password' }), deps())).toBe('p@ss "quoted" word');
    expect(await resolvePassword('app', source('json-pw', { key: 'port' }), deps())).toBe('5432');
  });

  it('a missing key names the keys that exist, never a value', async () => {
    const err = await rejection(resolvePassword('app', source('json-pw', { key: 'pasword' }), deps()));
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.stage).toBe('secret');
    expect(err.message).toContain('targets.app.password');
    expect(err.message).toContain('"json-pw"');
    expect(err.message).toContain('no key "pasword" (keys: "username", "password", "port")');
    expect(err.message).not.toContain('quoted');
  });

  it('a secret that is not JSON cannot be read by key, and its text is not quoted back', async () => {
    const err = await rejection(resolvePassword('app', source('plain-pw', { key: 'password' }), deps()));
    expect(err.message).toContain('is not a JSON object');
    expect(err.message).not.toContain('hunter2');
  });

  it('a secret that does not exist fails with SECRET_UNAVAILABLE naming the secret', async () => {
    const err = await rejection(resolvePassword('app', source('no/such/secret'), deps()));
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.stage).toBe('secret');
    expect(err.message).toMatch(
      /targets\.app\.password: AWS Secrets Manager secret "no\/such\/secret" \(us-east-1\): ResourceNotFoundException/,
    );
    expect(err.hint).toContain('secretsmanager:GetSecretValue');
  });

  it('a rotated value is used once the cached one is older than cacheTtl (injected clock)', async () => {
    await createSecret('rotating', JSON.stringify({ password: 'first-value' }));
    let now = 1_000_000;
    let calls = 0;
    const counting: SecretsManagerFactory = (o) => {
      calls++;
      return clientFor(o);
    };
    const d = { env: {}, secretsManager: counting, cache: new SecretCache(), now: () => now };
    const src = source('rotating', { key: 'password', cacheTtl: 60_000 });

    expect(await resolvePassword('app', src, d)).toBe('first-value');
    await admin.send(new PutSecretValueCommand({ SecretId: 'rotating', SecretString: JSON.stringify({ password: 'second-value' }) }));
    now += 59_000;
    expect(await resolvePassword('app', src, d)).toBe('first-value');
    expect(calls).toBe(1);
    now += 2_000;
    expect(await resolvePassword('app', src, d)).toBe('second-value');
    expect(calls).toBe(2);
  });

  it('jobs starting together share one request; failures are not cached', async () => {
    let calls = 0;
    const counting: SecretsManagerFactory = (o) => {
      calls++;
      return clientFor(o);
    };
    const d = { env: {}, secretsManager: counting, cache: new SecretCache() };
    const values = await Promise.all([1, 2, 3].map(() => resolvePassword('app', source('plain-pw'), d)));
    expect(values).toEqual(['hunter2-plain', 'hunter2-plain', 'hunter2-plain']);
    expect(calls).toBe(1);

    await rejection(resolvePassword('app', source('late-secret'), d));
    await createSecret('late-secret', 'now-it-exists');
    expect(await resolvePassword('app', source('late-secret'), d)).toBe('now-it-exists');
  });

  it('takes the region from an ARN when none is configured', () => {
    expect(regionOf({ secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-db-AbCdEf' })).toBe('eu-west-1');
    expect(regionOf({ secretId: 'app-db', region: 'ap-northeast-2' })).toBe('ap-northeast-2');
    expect(regionOf({ secretId: 'app-db' })).toBeUndefined();
  });
});

describe('backups with a password from AWS Secrets Manager', () => {
  const servers = testServers();
  const prefix = uniquePrefix('awssm');
  const DB = 'awssm_src';
  const role = `rot_${Date.now().toString(36)}`;

  beforeAll(async () => {
    // The runner uses the SDK's default chain, as in production; moto accepts any key.
    process.env.AWS_ACCESS_KEY_ID = moto.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = moto.credentials.secretAccessKey;
    await seedDatabase(servers.pg, DB, 2_000);
    const client = await servers.pg.adminClient();
    try {
      await client.query(`CREATE ROLE ${role} LOGIN PASSWORD 'rotation-one-1'`);
      await client.query(`GRANT pg_read_all_data TO ${role}`);
    } finally {
      await client.end();
    }
    await createSecret(`db/${role}`, JSON.stringify({ username: role, password: 'rotation-one-1' }));
  }, 120_000);

  function config() {
    const sm = `endpoint: "${moto.endpoint}", region: ${moto.region}`;
    return testConfig(servers, prefix, {
      rotating: { db: DB, user: role, password: `{ awsSecretsManager: { secretId: db/${role}, key: password, ${sm}, cacheTtl: 1s } }` },
      missing: { db: DB, password: `{ awsSecretsManager: { secretId: db/does-not-exist, ${sm} } }` },
      envpw: { db: DB },
    });
  }

  it('a missing secret fails that one job with a clear reason; the other job in the queue succeeds', async () => {
    const cfg = config();
    const s3 = servers.s3.client();
    const queue = backupQueue(createBackupRunner({ config: cfg, s3, env: servers.env }), { ...cfg.queue });
    const missing = accepted(queue.enqueue({ kind: 'backup', target: 'missing', trigger: { kind: 'cli', by: 'test' } })).job;
    const ok = accepted(queue.enqueue({ kind: 'backup', target: 'envpw', trigger: { kind: 'cli', by: 'test' } })).job;
    const [m, o] = await Promise.all([missing.settled, ok.settled]);
    expect(o.ok).toBe(true);
    expect(m.ok).toBe(false);
    if (m.ok) return;
    expect(m.error.code).toBe('SECRET_UNAVAILABLE');
    expect(m.error.stage).toBe('secret');
    expect(m.error.message).toContain('targets.missing.password: AWS Secrets Manager secret "db/does-not-exist"');
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/missing/`)).toEqual([]);
    s3.destroy();
  });

  it('a password rotated between two runs is picked up by the second run', async () => {
    const cfg = config();
    const s3 = servers.s3.client();
    const run = createBackupRunner({ config: cfg, s3, env: servers.env });
    const first = await run({ target: 'rotating', trigger: { kind: 'cli', by: 'test' } });

    // Rotate as a rotation function would: the database first, then the secret.
    const client = await servers.pg.adminClient();
    try {
      await client.query(`ALTER ROLE ${role} PASSWORD 'rotation-two-2'`);
    } finally {
      await client.end();
    }
    await admin.send(
      new PutSecretValueCommand({ SecretId: `db/${role}`, SecretString: JSON.stringify({ username: role, password: 'rotation-two-2' }) }),
    );
    await new Promise((r) => setTimeout(r, 1_100)); // cacheTtl: 1s

    const second = await run({ target: 'rotating', trigger: { kind: 'cli', by: 'test' } });
    expect(second.key).not.toBe(first.key);
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/rotating/`)).toEqual(expect.arrayContaining([first.key, second.key]));
    s3.destroy();
  });
});
