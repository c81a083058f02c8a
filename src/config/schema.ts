import { z } from 'zod';
import { levelProblem } from './compression.js';
import { compileSchedule } from './cron.js';
import { catastrophicReason } from './pattern-safety.js';
import { parseDuration, parseSize } from './units.js';

/** Target names become object key segments and Slack words: keep them boring. */
export const TARGET_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const MIB = 1024 * 1024;
/** S3's ceiling for a presigned URL (SigV4). */
export const MAX_LINK_EXPIRY_MS = 7 * 86_400_000;

const duration = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = typeof value === 'number' ? value * 1000 : parseDuration(value);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `expected a ${what} like "30s", "2m", "6h" or "7d", got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return ms;
  });

const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = typeof value === 'number' ? value : parseSize(value);
  if (bytes === undefined || bytes <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a size like "64MiB" or "1GiB", got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return bytes;
});

const slackIds = (what: string, pattern: RegExp) =>
  z
    .array(z.string().regex(pattern, { message: `expected a Slack ${what} id like ${what === 'channel' ? 'C0123ABC' : 'U0123ABC'}` }))
    .default([]);

const CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;
const USER_ID = /^[UWB][A-Z0-9]{2,}$/;
/** alerts.posters: an id, or a bot id with the username it posts under. */
const POSTER = /^(?:[ABUW][A-Z0-9]{2,}|B[A-Z0-9]{2,}:\S.*)$/;

/** How long a fetched secret is reused; 0 fetches it for every job. Short, so a rotation is picked up within a minute. */
const secretCacheTtl = z.union([z.literal(0), duration('duration')]).default(60_000);

/** AWS Secrets Manager: the SecretString, or one key of it when it is a JSON object. Credentials: the SDK's standard chain. */
const awsSecretsManagerSource = z
  .object({
    secretId: z.string().min(1, { message: 'expected a secret name or ARN' }),
    key: z.string().min(1).optional(),
    region: z.string().min(1).optional(),
    endpoint: z.url({ message: 'expected an http(s) URL like https://secretsmanager.eu-west-1.amazonaws.com' }).optional(),
    cacheTtl: secretCacheTtl,
  })
  .strict();

/** NAVER Cloud Secret Manager: one key of the ACTIVE value. Credentials: NCLOUD_ACCESS_KEY / NCLOUD_SECRET_KEY. */
const ncpSecretManagerSource = z
  .object({
    secretId: z.string().min(1, { message: 'expected a secret id' }),
    key: z.string().min(1, { message: 'expected the key within the secret, e.g. password' }),
    /** KR or JPN: the API of secrets encrypted with a region-isolated KMS key; default: the global-key API. */
    region: z
      .string()
      .regex(/^(kr|jpn)$/i, { message: 'expected KR or JPN' })
      .optional(),
    endpoint: z.url({ message: 'expected an http(s) URL like https://secretmanager.apigw.ntruss.com' }).optional(),
    cacheTtl: secretCacheTtl,
  })
  .strict();

const passwordSource = z.union(
  [
    z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected an environment variable name' }) }).strict(),
    z.object({ file: z.string().min(1, { message: 'expected a file path' }) }).strict(),
    z.object({ awsSecretsManager: awsSecretsManagerSource }).strict(),
    z.object({ ncpSecretManager: ncpSecretManagerSource }).strict(),
  ],
  {
    message:
      'expected { env: VAR_NAME }, { file: /path/to/secret }, { awsSecretsManager: { secretId, key?, region?, endpoint?, cacheTtl? } } or { ncpSecretManager: { secretId, key, region?, endpoint?, cacheTtl? } }',
  },
);

const postgresUrl = z.string().transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `expected postgres://user@host:port/database, got ${JSON.stringify(redactUrl(value))}` });
    return z.NEVER;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    ctx.addIssue({ code: 'custom', message: `expected postgres://user@host:port/database, got ${JSON.stringify(redactUrl(value))}` });
    return z.NEVER;
  }
  // Never echo it back: the point of these checks is that the value must not travel (it would be
  // in pg_dump's argv, so in `ps`, and in `dumptruck targets`).
  if (url.password) {
    ctx.addIssue({ code: 'custom', message: `must not contain a password; ${USE_SOURCE}` });
    return z.NEVER;
  }
  const secretParam = [...url.searchParams.keys()].find((name) => SECRET_URL_PARAM.test(name));
  if (secretParam !== undefined) {
    ctx.addIssue({ code: 'custom', message: `must not carry a secret (parameter ${secretParam}); ${USE_SOURCE}` });
    return z.NEVER;
  }
  if (!url.pathname || url.pathname === '/') {
    ctx.addIssue({ code: 'custom', message: `expected a database name in the path, got ${JSON.stringify(redactUrl(value))}` });
    return z.NEVER;
  }
  return value;
});

// Worded so that scrubSecrets (which masks `password: ...` and `password=...`) leaves it readable.
const USE_SOURCE = 'give it as the password source instead ({ env: VAR } or { file: path })';

/** libpq's connection parameters that hold secrets (`password`, `sslpassword`), in any case. */
const SECRET_URL_PARAM = /^(ssl)?password$/i;

function redactUrl(value: string): string {
  return value.replace(/(\/\/[^:/@\s]+:)[^@/\s]+@/, '$1***@').replace(/([?&](?:ssl)?password=)[^&#\s]*/gi, '$1***');
}

// --- provider snapshots: AWS RDS (issue 8) ---

/** RDS's own rule for DB instance identifiers; checked here so a typo fails at start, not at 3 am. */
const RDS_INSTANCE_ID = /^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$/;

const rds = z
  .object({
    instanceId: z.string().regex(RDS_INSTANCE_ID, {
      message:
        'expected an RDS DB instance identifier: 1-63 letters, digits and hyphens, starting with a letter, no double or trailing hyphen',
    }),
    /** Default: the AWS SDK's chain (AWS_REGION, the profile's region). */
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { message: 'expected an AWS region like eu-west-1' })
      .optional(),
    /** A VPC endpoint, or a local RDS API in tests. */
    endpoint: z.url({ message: 'expected an http(s) URL like https://rds.eu-west-1.amazonaws.com' }).optional(),
  })
  .strict();

/** Only manual snapshots dumptruck created (tagged dumptruck:created-by) are ever pruned; automated ones are the provider's. */
const snapshotRetention = z.object({ keepLast: z.number().int().min(1).optional() }).strict();

/** What a failure alert starts: the logical dump, a provider snapshot, or both (the snapshot first). */
const alertAction = z.enum(['dump', 'snapshot', 'both'], { message: 'expected dump, snapshot or both' });

export type RdsConfig = z.output<typeof rds>;
export type AlertAction = z.output<typeof alertAction>;

// --- trust: verification, retention, size anomaly, schedules (issue 5) ---

const cronExpression = z.string().superRefine((value, ctx) => {
  try {
    compileSchedule(value);
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a cron expression like "0 2 * * *" (minute hour day month weekday), got ${JSON.stringify(value)}: ${(err as Error).message}`,
    });
  }
});

const timeZone = z.string().superRefine((value, ctx) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
  } catch {
    ctx.addIssue({ code: 'custom', message: `expected an IANA time zone like "Europe/Berlin" or "UTC", got ${JSON.stringify(value)}` });
  }
});

/** An object is kept when any rule keeps it; the newest backup and the newest verified one are always kept. */
const retention = z
  .object({
    keepLast: z.number().int().min(1).optional(),
    keepDays: z.number().positive().optional(),
  })
  .strict()
  .refine((r) => r.keepLast !== undefined || r.keepDays !== undefined, { message: 'expected keepLast, keepDays or both' });

const anomalyFields = {
  /** Flag a backup smaller than threshold x the median of the previous `window` backups of its target. */
  threshold: z.number().gt(0).lt(1),
  window: z.number().int().min(1).max(100),
  /** A dump of fewer uncompressed bytes than this is flagged as empty (pg_dump of a database without tables writes about 700). */
  emptyBelow: size,
};

const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'expected an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)' });
const endpointUrl = z.url({ message: 'expected an http(s) URL like https://kr.object.ncloudstorage.com' });
const AWS_HOST = /(^|\.)amazonaws\.com(\.cn)?$/;

/**
 * Defaults for a store: a custom (non-AWS) endpoint gets path-style addressing and
 * WHEN_REQUIRED checksums, because the SDK's default CRC trailers and aws-chunked bodies are
 * rejected or stored corrupted by several S3-compatible stores.
 */
export function resolveStore(
  endpoint: string | undefined,
  forcePathStyle: boolean | undefined,
  checksums: 'auto' | 'when_required' | 'when_supported',
): { readonly forcePathStyle: boolean; readonly checksums: 'when_required' | 'when_supported' } {
  const custom = endpoint !== undefined && !AWS_HOST.test(new URL(endpoint).hostname);
  return {
    forcePathStyle: forcePathStyle ?? custom,
    checksums: checksums === 'auto' ? (custom ? 'when_required' : 'when_supported') : checksums,
  };
}

/** `auto`: WHEN_REQUIRED for custom endpoints (many S3-compatible stores reject the SDK's default CRC trailers), WHEN_SUPPORTED on AWS. */
const checksumMode = z.enum(['auto', 'when_required', 'when_supported']).default('auto');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected an environment variable name' });

/**
 * A second copy of every backup (another bucket, region or S3-compatible provider), written from
 * the same stream in the same pass, under the same key.
 */
const mirror = z
  .object({
    bucket: bucketName,
    endpoint: endpointUrl.optional(),
    region: z.string().min(1).default('us-east-1'),
    forcePathStyle: z.boolean().optional(),
    checksums: checksumMode,
    /** Variables holding this store's keys; default: the SDK's standard chain, as for the primary. */
    accessKeyIdEnv: envName.optional(),
    secretAccessKeyEnv: envName.optional(),
    /** true: a run succeeds only when both copies are stored; false: the primary alone is a success, with a warning. */
    required: z.boolean().default(true),
  })
  .strict()
  .superRefine((m, ctx) => {
    if ((m.accessKeyIdEnv === undefined) !== (m.secretAccessKeyEnv === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['secretAccessKeyEnv'], message: 'set both accessKeyIdEnv and secretAccessKeyEnv, or neither' });
    }
  })
  .transform(({ forcePathStyle, checksums, ...m }) => ({ ...m, ...resolveStore(m.endpoint, forcePathStyle, checksums) }));

export type MirrorConfig = z.output<typeof mirror>;

const compressionAlgorithm = z.enum(['gzip', 'zstd']);

const compression = z
  .object({
    /** gzip (default; .sql.gz) or zstd (.sql.zst); custom format: what pg_dump compresses its archive with. */
    algorithm: compressionAlgorithm.default('gzip'),
    /** gzip 1-9, default 6 (`gzip -6`, the usual cron script); zstd 1-19, default 3 (`zstd`'s own). */
    level: z.number().int().optional(),
    /** Compress blocks on several cores (pigz-style, one valid gzip stream); false: Node's single-stream gzip. */
    parallel: z.boolean().default(true),
    /** Blocks compressed at once; default: the machine's available parallelism. */
    workers: z.number().int().min(1).max(64).optional(),
    /** Uncompressed bytes per parallel block. */
    blockSize: size.optional(),
  })
  .strict()
  .superRefine((c, ctx) => addLevelIssue(ctx, c.algorithm, c.level));

/** A target's own `compression:`; a level without an algorithm is checked against the top level's (configSchema). */
const targetCompression = z
  .object({ algorithm: compressionAlgorithm.optional(), level: z.number().int().optional() })
  .strict()
  .superRefine((c, ctx) => {
    if (c.algorithm !== undefined) addLevelIssue(ctx, c.algorithm, c.level);
  });

function addLevelIssue(
  ctx: z.RefinementCtx,
  algorithm: 'gzip' | 'zstd',
  level: number | undefined,
  path: (string | number)[] = ['level'],
): void {
  const problem = levelProblem(algorithm, level);
  if (problem) ctx.addIssue({ code: 'custom', path, message: problem });
}

// --- restore (issue 15) ---

/**
 * Restores of this target's backups (`/backup restore`, `dumptruck restore`). Never started from
 * a command alone: someone in `approvers` approves it in Slack, or the CLI's user types the
 * database name back.
 */
const restoreOptions = z
  .object({
    /** The server to restore onto (its database is only used to connect); default: the target's own server. */
    url: postgresUrl.optional(),
    /** Password of `url`'s role; default: the target's password (only when `url` is not set). */
    password: passwordSource.optional(),
    /** Who may approve a restore in Slack; empty: restores from Slack are refused. */
    approvers: slackIds('user', USER_ID),
    /** The requester cannot approve their own restore. */
    twoPerson: z.boolean().default(true),
    /** An approval request not acted on within this long can no longer be approved. */
    approvalExpiry: duration('duration').default(3_600_000),
    /** An existing database may be replaced (approver types its name; the old one is renamed aside, not dropped). */
    allowReplace: z.boolean().default(false),
    /**
     * With allowReplace, the databases that may be replaced; default: the one in the target's own
     * url. postgres, template0, template1 and other targets' databases are refused whatever it says.
     */
    replaceable: z.array(z.string().min(1)).optional(),
    /** Restore without ownership and grants (--no-owner --no-privileges): for servers lacking the dump's roles. */
    noOwner: z.boolean().default(false),
  })
  .strict();

export type RestoreOptions = z.output<typeof restoreOptions>;

// --- encryption with age (issue 16) ---

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

/** BIP-173 checksum of a lowercase bech32 string: a one-character typo in a recipient fails at start, not in a restore. */
function bech32Valid(value: string): boolean {
  const sep = value.lastIndexOf('1');
  const hrp = value.slice(0, sep);
  const data = [...value.slice(sep + 1)].map((c) => BECH32.indexOf(c));
  if (sep < 1 || data.length < 6 || data.includes(-1)) return false;
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  const values = [...[...hrp].map((c) => c.charCodeAt(0) >> 5), 0, ...[...hrp].map((c) => c.charCodeAt(0) & 31), ...data];
  for (const v of values) {
    const top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >> i) & 1) chk ^= GEN[i]!;
  }
  return chk === 1;
}

/** An SSH public key line whose base64 blob names the same key type as its prefix. */
function sshKeyValid(value: string): boolean {
  const m = /^(ssh-ed25519|ssh-rsa) ([A-Za-z0-9+/]+={0,2})( .*)?$/.exec(value);
  if (!m) return false;
  const blob = Buffer.from(m[2]!, 'base64');
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return blob.subarray(4, 4 + length).toString('latin1') === m[1];
}

/** What the `age` tool (Debian's 1.1) accepts with -r: X25519 (age1...), and SSH ed25519/RSA public keys. */
const ageRecipient = z.string().superRefine((value, ctx) => {
  const ok = /^age1[02-9ac-hj-np-z]{58}$/.test(value) ? bech32Valid(value) : sshKeyValid(value);
  if (!ok) {
    const shown = value.length > 24 ? `${value.slice(0, 24)}...` : value;
    ctx.addIssue({
      code: 'custom',
      message: `expected an age public key (age1... from age-keygen) or an SSH public key (ssh-ed25519 AAAA... / ssh-rsa AAAA...), got ${JSON.stringify(shown)}`,
    });
  }
});

/**
 * Public-key encryption of every backup with age: the bot holds only recipients (public keys).
 * `identity` is the private key, needed only by verify and restore tests; same sources as passwords.
 */
const encrypt = z
  .object({
    recipients: z.array(ageRecipient).min(1, { message: 'expected at least one recipient (age1... or ssh-ed25519/ssh-rsa public key)' }),
    identity: passwordSource.optional(),
  })
  .strict();

export type EncryptConfig = z.output<typeof encrypt>;

const target = z
  .object({
    url: postgresUrl,
    password: passwordSource.optional(),
    format: z.enum(['plain', 'custom']).default('plain'),
    /** This target's algorithm and level; default: the top-level compression. */
    compression: targetCompression.optional(),
    channels: slackIds('channel', CHANNEL_ID),
    users: slackIds('user', USER_ID),
    alertNames: z.array(z.string().min(1)).default([]),
    /** What a failure alert starts for this target; default: alerts.action. */
    alertAction: alertAction.optional(),
    /** The AWS RDS instance behind this target, for provider snapshots (`/backup snapshot`). */
    rds: rds.optional(),
    snapshots: snapshotRetention.optional(),
    /** Path of a pg_dump binary; default: the newest one found on PATH or under /usr/lib/postgresql. */
    pgDump: z.string().min(1).optional(),
    /** pg_dump's --lock-wait-timeout: a table locked longer than this fails the backup (naming the lock) instead of hanging it. */
    lockWaitTimeout: duration('duration').default(300_000),
    /** Extra pg_dump flags from an allow-list, e.g. --exclude-table-data=audit_log. */
    dumpArgs: z
      .array(
        z
          .string()
          .regex(/^--(exclude-table|exclude-table-data|exclude-schema|schema|table|no-owner|no-privileges|no-comments)(=[^\s]+)?$/, {
            message:
              'expected an allowed pg_dump flag: --exclude-table[-data]=, --exclude-schema=, --schema=, --table=, --no-owner, --no-privileges, --no-comments',
          }),
      )
      .default([]),
    /** Verify each backup once stored (checksum, decompression, restore test when verify.restoreUrl is set). Default: verify.afterBackup. */
    verify: z.boolean().optional(),
    retention: retention.optional(),
    /** The bot runs this backup itself on this cron expression. */
    schedule: cronExpression.optional(),
    /** IANA time zone of `schedule`; default UTC. */
    timezone: timeZone.optional(),
    /** Slack channel id where scheduled runs post their thread; default: the first of `channels`, else none (logs only). */
    reportChannel: z.string().regex(CHANNEL_ID, { message: 'expected a Slack channel id like C0123ABC' }).optional(),
    /** Overrides of the top-level `anomaly` settings for this target. */
    anomaly: z
      .object({
        threshold: anomalyFields.threshold.optional(),
        window: anomalyFields.window.optional(),
        emptyBelow: anomalyFields.emptyBelow.optional(),
      })
      .strict()
      .optional(),
    /** This target's second copy; `false` turns the top-level `mirror` off for it. */
    mirror: z.union([mirror, z.literal(false)]).optional(),
    restore: restoreOptions.optional(),
    /** age encryption of this target's backups; `false` turns the top-level `encrypt` off for it. */
    encrypt: z.union([encrypt, z.literal(false)]).optional(),
    /** false: no presigned download links for this target at all (results and `link`). */
    links: z.boolean().default(true),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.timezone !== undefined && t.schedule === undefined)
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: 'only meaningful with schedule' });
    if (t.reportChannel !== undefined && t.channels.length > 0 && !t.channels.includes(t.reportChannel)) {
      // Download links are only posted where the target allows; a report channel outside them would get none.
      ctx.addIssue({
        code: 'custom',
        path: ['reportChannel'],
        message: `expected one of channels (${t.channels.join(', ')}), got ${JSON.stringify(t.reportChannel)}`,
      });
    }
    if (t.rds === undefined && t.snapshots !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['snapshots'],
        message: 'only meaningful with rds: { instanceId } (the RDS instance to snapshot)',
      });
    }
    if (t.rds === undefined && (t.alertAction === 'snapshot' || t.alertAction === 'both')) {
      ctx.addIssue({
        code: 'custom',
        path: ['alertAction'],
        message: `"${t.alertAction}" takes an RDS snapshot: set rds: { instanceId } on this target, or use "dump"`,
      });
    }
  });

const storage = z
  .object({
    bucket: bucketName,
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9!_.*'()/-]*$/, { message: 'expected a key prefix of letters, digits and / - _ . characters' })
      .transform((p) => p.replace(/^\/+|\/+$/g, ''))
      .default(''),
    endpoint: endpointUrl.optional(),
    region: z.string().min(1).default('us-east-1'),
    forcePathStyle: z.boolean().optional(),
    checksums: checksumMode,
    linkExpiry: duration('duration').default(86_400_000),
    /** The store's limit on parts per multipart upload: 10,000 on AWS, lower on some providers. */
    maxParts: z.number().int().min(1).max(10_000).default(10_000),
    /** Parts uploaded at once. Memory used is about partSize x (partsInFlight + 1). */
    partsInFlight: z.number().int().min(1).max(16).default(2),
    /** Upper bound for partSize x (partsInFlight + 1); a database whose parts do not fit is refused before dumping (planParts). */
    // A ceiling, not an allocation: small databases use partsInFlight x 5 MiB whatever it is. 256 MiB lets
    // a database of about 320 GiB (10,000 parts, 4x headroom) run without configuration.
    memoryBudget: size.default(256 * MIB),
    /** How long connecting to the store may take before the request fails (and is retried). */
    connectTimeout: duration('duration').default(10_000),
    /** How long a request may go without sending or receiving a byte before it fails: a stalled store ends here, a slow large part does not. */
    idleTimeout: duration('duration').default(120_000),
    /** Signs every backup (HMAC over its key and SHA-256); only signed objects are verified, restored or \`latest\`. */
    hmacKey: passwordSource.default({ env: 'DUMPTRUCK_HMAC_KEY' }),
    /** A dump without its manifest (a run that died between the two) is deleted by prune once it is this old. */
    incompleteGrace: duration('duration').default(86_400_000),
    /**
     * Multipart uploads under the prefix older than this that no running job of this process owns
     * were orphaned by a crash, and are aborted. Default: queue.jobTimeout plus an hour (set below),
     * since an upload younger than the longest a job may run can be another process's live backup
     * (the bot and a cron CLI, or replicas, share the bucket).
     */
    abortUploadsAfter: duration('duration').optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.linkExpiry > MAX_LINK_EXPIRY_MS) {
      ctx.addIssue({ code: 'custom', path: ['linkExpiry'], message: 'must be at most 7d (the longest a presigned S3 link can live)' });
    }
  })
  // The names the code uses say their unit; `auto` settings are decided here, once.
  .transform(
    ({
      linkExpiry,
      memoryBudget,
      checksums,
      forcePathStyle,
      connectTimeout,
      idleTimeout,
      incompleteGrace,
      abortUploadsAfter,
      ...rest
    }) => ({
      ...rest,
      ...resolveStore(rest.endpoint, forcePathStyle, checksums),
      linkExpiryMs: linkExpiry,
      memoryBudgetBytes: memoryBudget,
      connectTimeoutMs: connectTimeout,
      idleTimeoutMs: idleTimeout,
      incompleteGraceMs: incompleteGrace,
      abortUploadsAfterMs: abortUploadsAfter,
    }),
  );

const queue = z
  .object({
    concurrency: z.number().int().min(1).max(32).default(2),
    maxPending: z.number().int().min(0).max(1000).default(20),
    jobTimeout: duration('duration').default(6 * 3_600_000),
    /** With `state:`: jobs running at once across all replicas together; absent: only `concurrency` per replica limits them. */
    fleetConcurrency: z.number().int().min(1).max(1000).optional(),
  })
  .strict()
  .transform(({ jobTimeout, ...q }) => ({ ...q, jobTimeoutMs: jobTimeout }));

// --- alerts (issue 4) ---

/**
 * Compiled as the alerts module compiles it (case-insensitive, Unicode), so a bad one fails at
 * start; and one that could backtrack catastrophically on a hostile alert is refused too (see
 * pattern-safety.ts for why refusing, not time-boxing).
 */
const alertPattern = z
  .string()
  .min(1, { message: 'expected a regular expression, got an empty string' })
  .superRefine((value, ctx) => {
    try {
      new RegExp(value, 'iu');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `expected a regular expression, got ${JSON.stringify(value)}: ${(err as Error).message}` });
      return;
    }
    const why = catastrophicReason(value);
    if (why) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a regular expression that runs in linear time, got ${JSON.stringify(value)}: ${why}, so one long message could stall the bot. Use bounded repeats where two repeats meet ("\\s?" or "[^\\n]{0,80}" rather than "\\s*"), and no repeat inside a repeat`,
      });
    }
  });

/** A person or user group to mention; bare ids are accepted and formatted. */
const escalationMention = z
  .string()
  .regex(/^(<@[UW][A-Z0-9]{2,}>|<!subteam\^S[A-Z0-9]{2,}(\|[^>]*)?>|<!(here|channel)>|[UW][A-Z0-9]{2,}|S[A-Z0-9]{2,})$/, {
    message: 'expected a user or user group to mention: <@U0123ABC>, <!subteam^S0123ABC>, U0123ABC or S0123ABC',
  });

const alerts = z
  .object({
    channels: slackIds('channel', CHANNEL_ID),
    /**
     * Who may start reruns by posting: bot ids (B...), app ids (A...), user ids (U.../W...), or a
     * bot id with a username, `B123:RDS alerts`. A bare username is refused: any app can post under
     * any name. Empty: anyone, except on targets with `users` (people only, then).
     */
    posters: z
      .array(
        z.string().trim().regex(POSTER, {
          message:
            'expected a bot id (B0123ABC), app id (A0123ABC), user id (U0123ABC) or a bot id with its username (B0123ABC:RDS alerts); a username alone can be used by any app',
        }),
      )
      .default([]),
    /** Default for targets.<name>.alertAction; targets without rds always dump. */
    action: alertAction.default('dump'),
    retry: z
      .object({ attempts: z.number().int().min(1).max(10).default(3), backoff: duration('duration').default(120_000) })
      .strict()
      .prefault({}),
    /** Alerts for one target within this long of a run (queued, running, retrying or just finished) join it instead of starting another. */
    window: duration('duration').default(600_000),
    /** Teams' own wordings, as regular expressions (case-insensitive); an `ignore` match wins over any failure match. */
    patterns: z
      .object({ failure: z.array(alertPattern).default([]), ignore: z.array(alertPattern).default([]) })
      .strict()
      .prefault({}),
    /** Who is mentioned when the last retry fails: <@U123>, <!subteam^S123>, or bare U.../S... ids. */
    escalate: z.array(escalationMention).default([]),
  })
  .strict()
  .transform(({ retry, window, escalate, ...a }) => ({
    ...a,
    retry: { attempts: retry.attempts, backoffMs: retry.backoff },
    windowMs: window,
    // Bare ids become mentions: U/W people, S user groups.
    escalate: escalate.map((id) => (id.startsWith('<') ? id : id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`)),
  }));

const shutdown = z
  .object({
    /** How long SIGTERM/SIGINT waits for running backups before cancelling them (cleanly: no object, no multipart upload). */
    graceTimeout: duration('duration').default(300_000),
  })
  .strict()
  .transform(({ graceTimeout }) => ({ graceTimeoutMs: graceTimeout }));

const verify = z
  .object({
    /** A scratch PostgreSQL server (no password in the URL) where restore tests create and drop throwaway databases. */
    restoreUrl: postgresUrl.optional(),
    password: passwordSource.optional(),
    /** Default of targets.<name>.verify. */
    afterBackup: z.boolean().default(false),
  })
  .strict();

/** A PostgreSQL schema name dumptruck may create: lowercase, so it needs no quoting anywhere. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The bot's own PostgreSQL (optional): run history today; the durable fleet builds on it. */
const state = z
  .object({
    url: postgresUrl,
    password: passwordSource.optional(),
    schema: z
      .string()
      .regex(SCHEMA_NAME, { message: 'expected a lowercase schema name ([a-z_][a-z0-9_]*, at most 63 characters)' })
      .default('dumptruck'),
    /** A replica not heard from for this long is taken for dead: its running jobs are retried once elsewhere. */
    staleAfter: duration('duration').default(120_000),
  })
  .strict()
  .transform(({ staleAfter, ...s }) => ({ ...s, staleAfterMs: staleAfter }));

export type StateConfig = z.output<typeof state>;

const anomaly = z
  .object({
    threshold: anomalyFields.threshold.default(0.5),
    window: anomalyFields.window.default(5),
    emptyBelow: anomalyFields.emptyBelow.default(1024),
  })
  .strict();

export const configSchema = z
  .object({
    storage,
    // prefault: an absent section is parsed as {}, so its fields' own defaults and renames apply.
    queue: queue.prefault({}),
    targets: z.record(z.string(), target),
    verify: verify.prefault({}),
    anomaly: anomaly.prefault({}),
    alerts: alerts.prefault({}),
    shutdown: shutdown.prefault({}),
    compression: compression.prefault({}),
    /** A second copy of every target's backups; a target's own `mirror` overrides it. */
    mirror: mirror.optional(),
    /** age encryption for every target's backups; a target's own `encrypt` overrides it. */
    encrypt: encrypt.optional(),
    /** The bot's own PostgreSQL: with it, run history (and /backup history) is kept there. */
    state: state.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const [name, t] of Object.entries(c.targets)) {
      if (t.compression?.level !== undefined && t.compression.algorithm === undefined) {
        addLevelIssue(ctx, c.compression.algorithm, t.compression.level, ['targets', name, 'compression', 'level']);
      }
    }
  })
  .transform((c) => ({
    ...c,
    storage: { ...c.storage, abortUploadsAfterMs: c.storage.abortUploadsAfterMs ?? c.queue.jobTimeoutMs + 3_600_000 },
  }));

/** The validated config, as the code reads it: inferred from the schema, renames and defaults included. */
export type Config = z.output<typeof configSchema>;
export type StorageConfig = Config['storage'];
export type TargetConfig = Config['targets'][string];
export type PasswordSource = NonNullable<TargetConfig['password']>;
