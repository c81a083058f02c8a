import type { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';

// The SDK is loaded at the first secret read, not at start: most configurations never use this
// source, and the client is ~1.5 MiB of JS heap that every full collection during a backup would
// mark again (one per uploaded part, and V8's own: see the head of cli/bin.ts).
const loadSdk = () => import('@aws-sdk/client-secrets-manager');

export interface AwsSecretsManagerSource {
  readonly secretId: string;
  readonly key?: string | undefined;
  readonly region?: string | undefined;
  readonly endpoint?: string | undefined;
}

/** The part of SecretsManagerClient the resolver uses, so tests can hand in a configured one. */
export interface SecretsManagerLike {
  send(command: GetSecretValueCommand): Promise<{ SecretString?: string | undefined; SecretBinary?: Uint8Array | undefined }>;
  destroy?(): void;
}

export type SecretsManagerFactory = (options: {
  readonly region: string | undefined;
  readonly endpoint: string | undefined;
}) => SecretsManagerLike | Promise<SecretsManagerLike>;

/** The SDK's client; credentials and (when not configured) the region come from its standard chain. */
export const defaultSecretsManager: SecretsManagerFactory = async ({ region, endpoint }) =>
  new (await loadSdk()).SecretsManagerClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 3,
    // A secret manager that hangs must fail the job, not hold it forever.
    // throwOnRequestTimeout: without it this SDK only logs a warning and waits on a stalled endpoint forever.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000, throwOnRequestTimeout: true },
  });

/** `arn:aws:secretsmanager:<region>:...`: an ARN says where the secret lives, so config need not repeat it. */
export function regionOf(source: AwsSecretsManagerSource): string | undefined {
  return source.region ?? /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/.exec(source.secretId)?.[1];
}

/** The secret's current (AWSCURRENT) value as text. */
export async function fetchAwsSecret(source: AwsSecretsManagerSource, factory: SecretsManagerFactory): Promise<string> {
  const [client, sdk] = await Promise.all([factory({ region: regionOf(source), endpoint: source.endpoint }), loadSdk()]);
  try {
    const out = await client.send(new sdk.GetSecretValueCommand({ SecretId: source.secretId }));
    if (out.SecretString !== undefined) return out.SecretString;
    if (out.SecretBinary !== undefined) return Buffer.from(out.SecretBinary).toString('utf8');
    throw new Error('the secret has no value (neither SecretString nor SecretBinary)');
  } finally {
    client.destroy?.();
  }
}
