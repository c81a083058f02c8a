import { readFile } from 'node:fs/promises';
import type { PasswordSource } from '../config/schema.js';
import { DumptruckError, describeCause } from '../errors.js';
import type { Env } from '../config/load.js';
import { defaultSecretsManager, fetchAwsSecret, regionOf, type SecretsManagerFactory } from './aws.js';
import { SecretCache } from './cache.js';
import { valueAtKey } from './extract.js';
import { fetchNcpSecret, ncpSecretUrl } from './ncp.js';

export { SecretCache } from './cache.js';
export type { SecretsManagerFactory, SecretsManagerLike } from './aws.js';

export interface SecretDeps {
  readonly env: Env;
  readonly readFile?: (path: string) => Promise<string>;
  /** AWS Secrets Manager clients. Default: the SDK's client, credentials from its standard chain. */
  readonly secretsManager?: SecretsManagerFactory;
  /** Used for NAVER Cloud's REST API. Default: the global fetch. */
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch, for cache expiry and NCP's signed timestamp. Default: Date.now. */
  readonly now?: () => number;
  /** Where secret manager values are kept for their `cacheTtl`. Default: one cache for the process. */
  readonly cache?: SecretCache;
}

// The runner resolves a password per job with fresh deps, so the cache that spares the secret
// manager one request per job has to outlive a job: one per process unless one is passed in.
const processCache = new SecretCache();

/**
 * Fetches a target's password when a job starts (not at boot), so a rotated secret is picked up
 * by the next run (secret managers: once their value is older than `cacheTtl`, 60 s by default).
 * The error names the source, never the value.
 */
export async function resolvePassword(
  target: string,
  source: PasswordSource | undefined,
  deps: SecretDeps,
  where = `targets.${target}.password`,
): Promise<string | undefined> {
  if (source === undefined) return undefined;
  if ('env' in source) {
    const value = deps.env[source.env];
    if (value === undefined || value === '') {
      throw new DumptruckError('SECRET_UNAVAILABLE', 'secret', `${where}: environment variable ${source.env} is not set`, {
        hint: `set ${source.env} in the environment or in .env`,
      });
    }
    return value;
  }
  if ('file' in source) {
    const read = deps.readFile ?? ((p: string) => readFile(p, 'utf8'));
    try {
      // Secret files written by orchestrators usually end with a newline that is not part of the password.
      return (await read(source.file)).replace(/\r?\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new DumptruckError('SECRET_UNAVAILABLE', 'secret', `${where}: cannot read ${source.file} (${code})`, { cause: err });
    }
  }

  const now = deps.now ?? Date.now;
  const cache = deps.cache ?? processCache;
  if ('awsSecretsManager' in source) {
    const s = source.awsSecretsManager;
    const region = regionOf(s);
    const what = `AWS Secrets Manager secret ${JSON.stringify(s.secretId)}${region ? ` (${region})` : ''}`;
    return fromManager(
      where,
      what,
      'check the secret id, the region and that the AWS credentials may call secretsmanager:GetSecretValue on it',
      () =>
        cache.get(cacheKey(source), s.cacheTtl, now, async () =>
          valueAtKey(await fetchAwsSecret(s, deps.secretsManager ?? defaultSecretsManager), s.key, 'the secret'),
        ),
    );
  }
  const s = source.ncpSecretManager;
  const what = `NAVER Cloud Secret Manager secret ${JSON.stringify(s.secretId)} at ${ncpSecretUrl(s).origin}`;
  return fromManager(where, what, 'check the secret id, the key, and NCLOUD_ACCESS_KEY / NCLOUD_SECRET_KEY', () =>
    cache.get(cacheKey(source), s.cacheTtl, now, async () =>
      valueAtKey(await fetchNcpSecret(s, { env: deps.env, fetch: deps.fetch ?? fetch, now }), s.key, 'its ACTIVE value'),
    ),
  );
}

const HMAC_KEY_HINT = `generate one with \`openssl rand -hex 32\`, put it where storage.hmacKey points (default: DUMPTRUCK_HMAC_KEY in the environment or .env), and give every bot and CLI that shares the bucket the same one`;

/** Keys shorter than this are refused: `openssl rand -hex 32` gives 64 characters. */
export const MIN_HMAC_KEY_LENGTH = 32;

/** Where storage.hmacKey is read from. */
export type HmacKeySource = PasswordSource;

/**
 * The key that signs and checks backups (storage.hmacKey). Without it dumptruck can neither
 * prove what it wrote nor tell a planted object from a backup, so it is required, not optional.
 */
export async function resolveHmacKey(source: HmacKeySource, deps: SecretDeps): Promise<string> {
  let value: string | undefined;
  try {
    value = await resolvePassword('hmac', source, deps);
  } catch (err) {
    if (!(err instanceof DumptruckError)) throw err;
    throw new DumptruckError(err.code, err.stage, err.message.replace(/^targets\.hmac\.password/, 'storage.hmacKey'), {
      hint: HMAC_KEY_HINT,
    });
  }
  if (value === undefined || value.length < MIN_HMAC_KEY_LENGTH) {
    throw new DumptruckError(
      'SECRET_UNAVAILABLE',
      'secret',
      `storage.hmacKey: the key is ${value?.length ?? 0} characters long; at least ${MIN_HMAC_KEY_LENGTH} are needed`,
      { hint: HMAC_KEY_HINT },
    );
  }
  return value;
}

/** Drops a source's cached value, so that the next job fetches it again (e.g. after the database refused it). */
export function forgetPassword(source: PasswordSource | undefined, cache: SecretCache = processCache): void {
  if (source && ('awsSecretsManager' in source || 'ncpSecretManager' in source)) cache.forget(cacheKey(source));
}

function cacheKey(source: PasswordSource): string {
  return JSON.stringify(source);
}

async function fromManager(where: string, what: string, hint: string, get: () => Promise<string>): Promise<string> {
  try {
    return await get();
  } catch (err) {
    // No cause: the SDK's error objects carry request details, and nothing about the value is
    // needed to act on the message.
    throw new DumptruckError('SECRET_UNAVAILABLE', 'secret', `${where}: ${what}: ${describeCause(err)}`, { hint });
  }
}
