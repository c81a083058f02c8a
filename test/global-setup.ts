// One PostgreSQL cluster and one S3 server for the whole run: starting them per file would cost
// seconds each. Tests get plain connection info through inject() and wrap it with
// postgresFromInfo()/s3FromInfo(); a test that needs its own server (e.g. one it can kill)
// calls startPostgres()/startVersitygw() itself.
import type { TestProject } from 'vitest/node';
import { startPostgres, type PgServerInfo } from './helpers/postgres.js';
import { startVersitygw, type S3ServerInfo } from './helpers/versitygw.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared cluster: superuser `postgres`, login role `backup` with pg_read_all_data. */
    postgres: PgServerInfo;
    /** The shared S3 endpoint (versitygw, or TEST_S3_ENDPOINT). */
    s3: S3ServerInfo;
    /** A bucket that exists on `s3`: `dumptruck-test`, or TEST_S3_BUCKET. */
    s3Bucket: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const bucket = process.env.TEST_S3_BUCKET || 'dumptruck-test';
  const [pg, s3] = await Promise.allSettled([startPostgres(), startVersitygw({ buckets: [bucket] })]);
  if (pg.status === 'rejected' || s3.status === 'rejected') {
    // Do not leave the one that did start running behind a failed setup.
    if (pg.status === 'fulfilled') await pg.value.stop();
    if (s3.status === 'fulfilled') await s3.value.stop();
    throw pg.status === 'rejected' ? pg.reason : (s3 as PromiseRejectedResult).reason;
  }
  project.provide('postgres', pg.value.info);
  project.provide('s3', s3.value.info);
  project.provide('s3Bucket', bucket);
  console.log(
    `test servers: postgres ${pg.value.host}:${pg.value.port}, s3 ${s3.value.endpoint}${s3.value.external ? ' (external)' : ''}, ready in ${Date.now() - started} ms`,
  );
  return async () => {
    await Promise.allSettled([pg.value.stop(), s3.value.stop()]);
  };
}
