import { config as loadDotenv } from 'dotenv';
import type { S3Client } from '@aws-sdk/client-s3';
import { loadConfig, type Env } from './config/load.js';
import type { Config } from './config/schema.js';
import { createBackupRunner } from './jobs/runner.js';
import type { RunBackup } from './jobs/types.js';
import { createSnapshotService } from './snapshots/snapshot.js';
import type { SnapshotService } from './snapshots/types.js';
import { createCatalog } from './storage/catalog.js';
import { createMirrorClient, createS3Client } from './storage/client.js';
import { createUploadSweeper, type UploadSweeper } from './pipeline/orphans.js';
import type { BackupCatalog } from './storage/types.js';
import type { Redactor } from './redact.js';

/** Everything an entry point (CLI, Slack) needs, built once from the environment. */
export interface AppDeps {
  readonly env: Env;
  readonly config: Config;
  readonly s3: S3Client;
  readonly runBackup: RunBackup;
  readonly catalog: BackupCatalog;
  /** Aborts multipart uploads a crash left behind; run at start, and by the runner after each backup. */
  readonly uploads: UploadSweeper;
  /** RDS snapshots of targets with `rds:`; credentials from the AWS SDK's standard chain. */
  readonly snapshots: SnapshotService;
}

/** Loads `.env` into process.env; variables already set win over the file. */
export function loadEnvironment(path = '.env'): Env {
  loadDotenv({ path, quiet: true });
  return process.env;
}

/** `redactor`: the process's one redactor (the bot builds it at start); each run extends a copy with its own password. */
export async function createAppDeps(env: Env, redactor?: Redactor): Promise<AppDeps> {
  const config = await loadConfig(env.DUMPTRUCK_CONFIG || './dumptruck.yml', env);
  const s3 = createS3Client(config.storage);
  const uploads = createUploadSweeper({ config, s3, mirrorClient: (m) => createMirrorClient(m, env) });
  return {
    env,
    config,
    s3,
    uploads,
    runBackup: createBackupRunner({ config, s3, env, sweeper: uploads, ...(redactor ? { redactor } : {}) }),
    catalog: createCatalog({ s3, storage: config.storage, env }),
    snapshots: createSnapshotService({ config }),
  };
}
