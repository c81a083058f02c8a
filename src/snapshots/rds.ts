import type { DBSnapshot, RDSClient, Tag } from '@aws-sdk/client-rds';
import type { RdsConfig } from '../config/schema.js';
import { DumptruckError, describeCause } from '../errors.js';

// The RDS calls snapshots make, behind a small interface (tests of the follow loop hand in a
// scripted one), and the provider's refusals turned into plain words.

export type { DBSnapshot, Tag };

export interface RdsApi {
  /** Where requests go, for messages: the configured region or the SDK chain's. */
  region(): Promise<string>;
  createSnapshot(
    input: { readonly instanceId: string; readonly identifier: string; readonly tags: readonly Tag[] },
    signal?: AbortSignal,
  ): Promise<DBSnapshot>;
  /** undefined when no snapshot has that identifier. */
  describeSnapshot(identifier: string, signal?: AbortSignal): Promise<DBSnapshot | undefined>;
  /** Every snapshot of the instance (all pages); `type` narrows to manual or automated ones. */
  listSnapshots(instanceId: string, type?: 'manual' | 'automated', signal?: AbortSignal): Promise<DBSnapshot[]>;
  listTags(arn: string, signal?: AbortSignal): Promise<Tag[]>;
  deleteSnapshot(identifier: string, signal?: AbortSignal): Promise<void>;
  /** The instance's status (`available`, `stopped`, `backing-up`...), for an error that must say it. */
  instanceStatus(instanceId: string, signal?: AbortSignal): Promise<string | undefined>;
  destroy(): void;
}

/** Makes the API for one target's `rds:` config. Credentials: the SDK's standard chain unless the factory says otherwise. */
export type RdsFactory = (rds: RdsConfig) => RdsApi;

export interface RdsFactoryOptions {
  /** Tests pass moto's dummy keys; production leaves the SDK's chain (env, profile, instance role) to find them. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

type RdsSdk = typeof import('@aws-sdk/client-rds');

/** The SDK module and a client made from it. */
interface RdsConnection {
  readonly sdk: RdsSdk;
  readonly client: RDSClient;
}

export function createRdsFactory(options: RdsFactoryOptions = {}): RdsFactory {
  return (rds) => {
    // The SDK is loaded at the first snapshot, not at start: backups never use it, and it is ~3 MiB
    // of JS heap that every full collection during a backup would mark again.
    const connection = import('@aws-sdk/client-rds').then((sdk) => ({
      sdk,
      client: new sdk.RDSClient({
        ...(rds.region ? { region: rds.region } : {}),
        ...(rds.endpoint ? { endpoint: rds.endpoint } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
        maxAttempts: 3,
        // An API that hangs must fail the poll (and be retried at the next one), not hold the job.
        // throwOnRequestTimeout: without it this SDK only logs a warning and waits on a stalled endpoint forever.
        requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000, throwOnRequestTimeout: true },
      }),
    }));
    // A failed load is reported by the first call that awaits it, never as an unhandled rejection.
    connection.catch(() => undefined);
    return rdsApi(connection);
  };
}

const PAGE = 100;

function rdsApi(connection: Promise<RdsConnection>): RdsApi {
  const opts = (signal: AbortSignal | undefined) => (signal ? { abortSignal: signal } : {});
  return {
    async region() {
      return (await connection).client.config.region();
    },
    async createSnapshot({ instanceId, identifier, tags }, signal) {
      const { sdk, client } = await connection;
      const out = await client.send(
        new sdk.CreateDBSnapshotCommand({ DBInstanceIdentifier: instanceId, DBSnapshotIdentifier: identifier, Tags: [...tags] }),
        opts(signal),
      );
      return out.DBSnapshot ?? { DBSnapshotIdentifier: identifier, Status: 'creating' };
    },
    async describeSnapshot(identifier, signal) {
      const { sdk, client } = await connection;
      try {
        const out = await client.send(new sdk.DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: identifier }), opts(signal));
        return out.DBSnapshots?.find((s) => s.DBSnapshotIdentifier?.toLowerCase() === identifier.toLowerCase());
      } catch (err) {
        if (err instanceof sdk.DBSnapshotNotFoundFault || (err as Error).name === 'DBSnapshotNotFoundFault') return undefined;
        throw err;
      }
    },
    async listSnapshots(instanceId, type, signal) {
      const { sdk, client } = await connection;
      const all: DBSnapshot[] = [];
      let marker: string | undefined;
      do {
        const out = await client.send(
          new sdk.DescribeDBSnapshotsCommand({
            DBInstanceIdentifier: instanceId,
            ...(type ? { SnapshotType: type } : {}),
            MaxRecords: PAGE,
            ...(marker ? { Marker: marker } : {}),
          }),
          opts(signal),
        );
        all.push(...(out.DBSnapshots ?? []));
        marker = out.Marker;
      } while (marker);
      return all;
    },
    async listTags(arn, signal) {
      const { sdk, client } = await connection;
      const out = await client.send(new sdk.ListTagsForResourceCommand({ ResourceName: arn }), opts(signal));
      return out.TagList ?? [];
    },
    async deleteSnapshot(identifier, signal) {
      const { sdk, client } = await connection;
      await client.send(new sdk.DeleteDBSnapshotCommand({ DBSnapshotIdentifier: identifier }), opts(signal));
    },
    async instanceStatus(instanceId, signal) {
      const { sdk, client } = await connection;
      const out = await client.send(new sdk.DescribeDBInstancesCommand({ DBInstanceIdentifier: instanceId }), opts(signal));
      return out.DBInstances?.[0]?.DBInstanceStatus;
    },
    destroy() {
      void connection.then(
        ({ client }) => client.destroy(),
        () => undefined,
      );
    },
  };
}

export function tagRecord(tags: readonly Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  return out;
}

/** What was being done when the provider said no; the IAM action names the permission to grant. */
export interface RdsCallContext {
  readonly action: 'rds:CreateDBSnapshot' | 'rds:DescribeDBSnapshots' | 'rds:ListTagsForResource' | 'rds:DeleteDBSnapshot';
  readonly target: string;
  readonly instanceId: string;
  readonly region: string | undefined;
  readonly identifier?: string;
  /** The instance's status, when known (an InvalidDBInstanceState reply does not say it). */
  readonly instanceStatus?: string;
}

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'UnauthorizedAccess']);
const BAD_CREDENTIALS = new Set([
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'InvalidAccessKeyId',
]);
const THROTTLED = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'RequestThrottled']);

/** The provider's error code: the SDK's exception name, or Code for unmodelled ones (AccessDenied). */
export function rdsErrorCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { Code?: string };
  return e.Code ?? (e.name !== 'Error' ? e.name : undefined);
}

/** Throttling, 5xx and network trouble: worth another poll rather than failing a snapshot that is fine. */
export function isTransient(err: unknown): boolean {
  const code = rdsErrorCode(err);
  if (code && THROTTLED.has(code)) return true;
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  const sys = (err as NodeJS.ErrnoException).code;
  return sys === 'ECONNRESET' || sys === 'ECONNREFUSED' || sys === 'ETIMEDOUT' || sys === 'EAI_AGAIN' || code === 'TimeoutError';
}

const POLICY_HINT =
  'The bot\'s IAM role or user needs the policy in the README ("RDS snapshots"): rds:CreateDBSnapshot and rds:AddTagsToResource on the instance and dumptruck-* snapshots, rds:DescribeDBSnapshots and rds:ListTagsForResource, rds:DeleteDBSnapshot on snapshots tagged dumptruck:created-by.';

/** Pure: an RDS SDK error -> a coded error in plain words, naming the instance, region and action. */
export function rdsError(err: unknown, ctx: RdsCallContext): DumptruckError {
  if (err instanceof DumptruckError) return err;
  const code = rdsErrorCode(err);
  const region = ctx.region ?? 'the default region';
  const raw = err instanceof Error ? err.message : String(err);
  const config = `targets.${ctx.target}.rds`;
  switch (code) {
    case 'DBInstanceNotFound':
    case 'DBInstanceNotFoundFault':
      return new DumptruckError('RDS_INSTANCE_NOT_FOUND', 'snapshot', `instance ${ctx.instanceId} not found in ${region}`, {
        cause: err,
        hint: `Check ${config}.instanceId (the DB identifier, not the endpoint's host name) and ${config}.region.`,
      });
    case 'SnapshotQuotaExceeded':
    case 'SnapshotQuotaExceededFault':
      return new DumptruckError(
        'RDS_SNAPSHOT_QUOTA',
        'snapshot',
        `the account's quota of manual DB snapshots in ${region} is used up, so RDS refused a new one`,
        {
          cause: err,
          hint: `Delete old manual snapshots, let dumptruck prune its own (${`targets.${ctx.target}.snapshots.keepLast`}), or raise "Manual DB instance snapshots" in Service Quotas.`,
        },
      );
    case 'InvalidDBInstanceState':
    case 'InvalidDBInstanceStateFault':
      return new DumptruckError(
        'RDS_INSTANCE_STATE',
        'snapshot',
        ctx.instanceStatus
          ? `instance ${ctx.instanceId} is ${ctx.instanceStatus}; snapshots need it available`
          : `instance ${ctx.instanceId} is not available; snapshots need it available (${raw})`,
        {
          cause: err,
          hint: 'Try again once the instance is available (stopped, modifying, rebooting or backing-up instances refuse snapshots).',
        },
      );
    case 'DBSnapshotAlreadyExists':
    case 'DBSnapshotAlreadyExistsFault':
      return new DumptruckError(
        'SNAPSHOT_FAILED',
        'snapshot',
        `a snapshot named ${ctx.identifier ?? '(unknown)'} already exists in ${region}`,
        { cause: err, hint: 'Try again in a second: names carry the time to the second.' },
      );
  }
  if (code && ACCESS_DENIED.has(code)) {
    return new DumptruckError(
      'RDS_ACCESS_DENIED',
      'snapshot',
      `AWS denied ${ctx.action} on ${ctx.identifier && ctx.action !== 'rds:CreateDBSnapshot' ? `snapshot ${ctx.identifier}` : `instance ${ctx.instanceId}`} in ${region}: ${raw}`,
      {
        cause: err,
        hint: POLICY_HINT,
      },
    );
  }
  if (code && BAD_CREDENTIALS.has(code)) {
    return new DumptruckError(
      'RDS_ACCESS_DENIED',
      'snapshot',
      `AWS rejected the bot's credentials calling ${ctx.action} in ${region} (${code}: ${raw})`,
      {
        cause: err,
        hint: 'Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the instance role the bot runs with.',
      },
    );
  }
  if (code === 'CredentialsProviderError') {
    return new DumptruckError('RDS_ACCESS_DENIED', 'snapshot', `no AWS credentials found for ${ctx.action}`, {
      cause: err,
      hint: 'Set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run the bot with an IAM role.',
    });
  }
  if (/region is missing/i.test(raw)) {
    return new DumptruckError('SNAPSHOT_FAILED', 'snapshot', `no AWS region for ${config}`, {
      cause: err,
      hint: `Set ${config}.region, or AWS_REGION in the bot's environment.`,
    });
  }
  return new DumptruckError(
    'SNAPSHOT_FAILED',
    'snapshot',
    `${ctx.action} for instance ${ctx.instanceId} in ${region} failed: ${describeCause(err)}`,
    { cause: err },
  );
}
