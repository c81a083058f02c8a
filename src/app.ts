import { config as loadDotenv } from 'dotenv';
import type { S3Client } from '@aws-sdk/client-s3';
import { loadConfig, type Env } from './config/load.js';
import type { Config } from './config/schema.js';
import { createBackupRunner } from './jobs/runner.js';
import type { RunBackup } from './jobs/types.js';
import { createSnapshotService } from './snapshots/snapshot.js';
import type { SnapshotService } from './snapshots/types.js';
import { createCatalog } from './storage/catalog.js';
import { createS3Client } from './storage/client.js';
import type { BackupCatalog } from './storage/types.js';

/** Everything an entry point (CLI, Slack) needs, built once from the environment. */
export interface AppDeps {
  readonly env: Env;
  readonly config: Config;
  readonly s3: S3Client;
  readonly runBackup: RunBackup;
  readonly catalog: BackupCatalog;
  /** RDS snapshots of targets with `rds:`; credentials from the AWS SDK's standard chain. */
  readonly snapshots: SnapshotService;
}

/** Loads `.env` into process.env; variables already set win over the file. */
export function loadEnvironment(path = '.env'): Env {
  loadDotenv({ path, quiet: true });
  return process.env;
}

export async function createAppDeps(env: Env): Promise<AppDeps> {
  const config = await loadConfig(env.DUMPTRUCK_CONFIG || './dumptruck.yml', env);
  const s3 = createS3Client(config.storage);
  return {
    env,
    config,
    s3,
    runBackup: createBackupRunner({ config, s3, env }),
    catalog: createCatalog({ s3, storage: config.storage, env }),
    snapshots: createSnapshotService({ config }),
  };
}
