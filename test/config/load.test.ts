import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config-problems.js';

const GOOD = `
storage:
  bucket: backups
  prefix: dumptruck
  endpoint: https://kr.object.ncloudstorage.com
  region: kr-standard
  linkExpiry: 24h
queue:
  concurrency: 2
  maxPending: 20
  jobTimeout: 6h
targets:
  app-db:
    url: postgres://backup@db.internal:5432/app
    password: { env: APP_DB_PASSWORD }
    format: plain
    channels: [C0OPS]
    users: []
    alertNames: [pg-32lqva, app-db-prod]
alerts:
  channels: [C0ALERTS]
  retry: { attempts: 3, backoff: 2m }
`;

const problems = configProblems;

describe('config', () => {
  it('parses the design page example with units and defaults', () => {
    const c = parseConfig(GOOD, {});
    expect(c.storage).toMatchObject({
      bucket: 'backups',
      prefix: 'dumptruck',
      region: 'kr-standard',
      linkExpiryMs: 86_400_000,
      // a non-AWS endpoint gets path style and WHEN_REQUIRED checksums by default
      forcePathStyle: true,
      checksums: 'when_required',
      maxParts: 10_000,
    });
    expect(c.queue).toEqual({ concurrency: 2, maxPending: 20, jobTimeoutMs: 6 * 3_600_000 });
    expect(c.alerts.retry).toEqual({ attempts: 3, backoffMs: 120_000 });
    expect(c.targets['app-db']).toMatchObject({ format: 'plain', channels: ['C0OPS'], alertNames: ['pg-32lqva', 'app-db-prod'] });
  });

  it('keeps AWS defaults for AWS endpoints and when no endpoint is set', () => {
    const aws = parseConfig(GOOD.replace('https://kr.object.ncloudstorage.com', 'https://s3.eu-west-1.amazonaws.com'), {});
    expect(aws.storage).toMatchObject({ forcePathStyle: false, checksums: 'when_supported' });
    const none = parseConfig(GOOD.replace(/ {2}endpoint: .*\n/, ''), {});
    expect(none.storage).toMatchObject({ forcePathStyle: false, checksums: 'when_supported' });
  });

  it('fills absent sections from their fields own defaults, renamed like given ones', () => {
    const c = parseConfig('storage: { bucket: backups }\ntargets:\n  app-db: { url: "postgres://backup@db:5432/app" }\n', {});
    expect(c.queue).toEqual({ concurrency: 2, maxPending: 20, jobTimeoutMs: 6 * 3_600_000 });
    expect(c.shutdown).toEqual({ graceTimeoutMs: 300_000 });
    expect(c.alerts).toEqual({
      channels: [],
      posters: [],
      action: 'dump',
      retry: { attempts: 3, backoffMs: 120_000 },
      windowMs: 600_000,
      patterns: { failure: [], ignore: [] },
      escalate: [],
    });
    expect(c.storage).toMatchObject({
      linkExpiryMs: 86_400_000,
      memoryBudgetBytes: 256 * 1024 * 1024,
      connectTimeoutMs: 10_000,
      idleTimeoutMs: 120_000,
    });
    expect(c.compression).toEqual({ algorithm: 'gzip', parallel: true });
  });

  it("resolves a mirror store's auto settings like the primary's", () => {
    const c = parseConfig(`${GOOD}mirror: { bucket: copies, endpoint: "http://127.0.0.1:9000" }\n`, {});
    expect(c.mirror).toMatchObject({ bucket: 'copies', forcePathStyle: true, checksums: 'when_required', required: true });
  });

  it('lets S3_* environment variables override storage', () => {
    const c = parseConfig(GOOD, {
      S3_BUCKET: 'other',
      S3_PREFIX: 'p/q/',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'false',
    });
    expect(c.storage).toMatchObject({
      bucket: 'other',
      prefix: 'p/q',
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      forcePathStyle: false,
    });
  });

  it('reports every problem at once, each by its path', () => {
    const bad = `
storage:
  bucket: Bad_Bucket
  linkExpiry: 8d
  colour: blue
queue:
  concurrency: 0
  jobTimeout: soon
targets:
  app-db:
    url: mysql://db/app
    password: { vault: x }
    format: tar
  "Bad Name":
    url: postgres://backup:hunter22@db/app
  ok-db:
    url: postgres://backup@db
    channels: [general]
alerts:
  retry: { attempts: 3, backoff: later }
`;
    const p = problems(bad);
    expect(p).toEqual(
      expect.arrayContaining([
        'storage.bucket: expected an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)',
        'storage: unknown key "colour"',
        'storage.linkExpiry: must be at most 7d (the longest a presigned S3 link can live)',
        'queue.concurrency: Too small: expected number to be >=1',
        'queue.jobTimeout: expected a duration like "30s", "2m", "6h" or "7d", got "soon"',
        'targets.app-db.url: expected postgres://user@host:port/database, got "mysql://db/app"',
        'targets.app-db.password: expected { env: VAR_NAME }, { file: /path/to/secret }, { awsSecretsManager: { secretId, key?, region?, endpoint?, cacheTtl? } } or { ncpSecretManager: { secretId, key, region?, endpoint?, cacheTtl? } }',
        'targets.app-db.format: Invalid option: expected one of "plain"|"custom"',
        'targets.Bad Name.url: must not contain a password; give it as the password source instead ({ env: VAR } or { file: path })',
        'targets.Bad Name: target name must match [a-z0-9][a-z0-9_-]{0,62}, got "Bad Name"',
        'targets.ok-db.url: expected a database name in the path, got "postgres://backup@db"',
        'targets.ok-db.channels.0: expected a Slack channel id like C0123ABC',
        'alerts.retry.backoff: expected a duration like "30s", "2m", "6h" or "7d", got "later"',
      ]),
    );
    // The password in the bad URL is never echoed.
    expect(p.join('\n')).not.toContain('hunter22');
  });

  it('refuses a password in a URL parameter (password, sslpassword, any case), by path, never echoing it', () => {
    const withUrl = (url: string) => GOOD.replace('postgres://backup@db.internal:5432/app', url);
    expect(problems(withUrl('postgres://backup@db.internal:5432/app?password=hunter22'))).toEqual([
      'targets.app-db.url: must not carry a secret (parameter password); give it as the password source instead ({ env: VAR } or { file: path })',
    ]);
    expect(problems(withUrl('postgresql://backup@db.internal/app?sslmode=verify-full&PassWord=hunter22'))).toEqual([
      'targets.app-db.url: must not carry a secret (parameter PassWord); give it as the password source instead ({ env: VAR } or { file: path })',
    ]);
    expect(problems(withUrl('postgres://backup@db.internal/app?sslcert=/c.pem&SSLPASSWORD=hunter22'))).toEqual([
      'targets.app-db.url: must not carry a secret (parameter SSLPASSWORD); give it as the password source instead ({ env: VAR } or { file: path })',
    ]);
    // Also where another problem is reported first, and in every URL the config holds.
    const noDb = problems(withUrl('postgres://backup@db.internal?password=hunter22'));
    const unparsable = problems(withUrl('postgres://backup@[db?sslpassword=hunter22&password=hunter22'));
    const restore = problems(`${GOOD}verify:\n  restoreUrl: postgres://verify@scratch/postgres?password=hunter22\n`);
    expect(restore).toEqual([
      'verify.restoreUrl: must not carry a secret (parameter password); give it as the password source instead ({ env: VAR } or { file: path })',
    ]);
    expect(unparsable).toEqual([
      'targets.app-db.url: expected postgres://user@host:port/database, got "postgres://backup@[db?sslpassword=***&password=***"',
    ]);
    expect(noDb).toHaveLength(1);
    expect([...noDb, ...unparsable, ...restore].join('\n')).not.toContain('hunter22');
    // Parameters that are not secrets stay allowed.
    expect(
      parseConfig(withUrl('postgres://backup@db.internal/app?sslmode=require&passfile=/run/pgpass'), {}).targets['app-db']!.url,
    ).toContain('passfile');
  });

  it('refuses a link expiry above 7 days', () => {
    expect(problems(GOOD.replace('linkExpiry: 24h', 'linkExpiry: 8d'))).toEqual([
      'storage.linkExpiry: must be at most 7d (the longest a presigned S3 link can live)',
    ]);
  });

  it('needs storage and at least one target', () => {
    expect(problems('queue: { concurrency: 1 }\n')).toEqual([
      'storage.bucket: required (expected string, received undefined)',
      'targets: required (expected record, received undefined)',
    ]);
    expect(problems('storage: { bucket: abc }\ntargets: {}\n')).toEqual(['targets: expected at least one target']);
  });

  it('reports YAML syntax errors and bad S3_FORCE_PATH_STYLE values', () => {
    expect(problems('storage: [unclosed\n')[0]).toMatch(/^dumptruck.yml: YAML syntax: /);
    expect(problems(GOOD, { S3_FORCE_PATH_STYLE: 'maybe' })).toEqual(['S3_FORCE_PATH_STYLE: expected true or false, got "maybe"']);
  });
});
