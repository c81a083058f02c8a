// The orphan sweep on versitygw: which multipart uploads it may abort. In a fleet (or with a cron
// CLI beside the bot) another process's live backup is not an orphan: the fleet's guard names
// the targets with a job running anywhere, and an unreadable guard aborts nothing.
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createUploadSweeper } from '../../src/pipeline/orphans.js';
import { testConfig, testServers, uniquePrefix } from '../helpers/fixtures.js';

const servers = testServers();
const s3 = servers.s3.client();
const prefix = uniquePrefix('orphans');

afterAll(() => s3.destroy());

async function startUpload(target: string): Promise<string> {
  const key = `${prefix}/${target}/2026/11/28/${target}_20261128T000000Z-000-abcdef.sql.gz`;
  await s3.send(new CreateMultipartUploadCommand({ Bucket: servers.bucket, Key: key }));
  return key;
}

const pending = async () =>
  (await servers.s3.listMultipartUploads(servers.bucket)).filter((u) => u.Key?.startsWith(`${prefix}/`)).map((u) => u.Key!);

describe('the orphan sweep', () => {
  it("leaves the uploads of targets running elsewhere, aborts the others, and aborts nothing when the fleet's jobs cannot be read", async () => {
    const config = testConfig(servers, prefix, { busy: { db: 'x' }, idle: { db: 'x' } });
    // Every upload below counts as old enough: the clock is a day ahead.
    const later = () => new Date(Date.now() + 86_400_000);
    const sweeper = createUploadSweeper({ config, s3, mirrorClient: () => s3, now: later });
    const busy = await startUpload('busy');
    const idle = await startUpload('idle');

    sweeper.guard(async () => {
      throw new Error('state database unreachable');
    });
    expect(await sweeper.sweep()).toEqual([]);
    expect((await pending()).sort()).toEqual([busy, idle].sort());

    sweeper.guard(async () => ['busy']);
    expect(await sweeper.sweep()).toEqual([idle]);
    expect(await pending()).toEqual([busy]);

    sweeper.guard(async () => []);
    expect(await sweeper.sweep()).toEqual([busy]);
    expect(await pending()).toEqual([]);
  });

  it('waits queue.jobTimeout plus an hour by default: a younger upload may be a live backup of another process', () => {
    const base = testConfig(servers, prefix, { app: { db: 'x' } });
    const parse = (storage: object, queue: object) =>
      configSchema.parse({ storage: { bucket: base.storage.bucket, ...storage }, queue, targets: { app: { url: 'postgres://u@h/db' } } });
    expect(parse({}, {}).storage.abortUploadsAfterMs).toBe(7 * 3_600_000);
    expect(parse({}, { jobTimeout: '30m' }).storage.abortUploadsAfterMs).toBe(90 * 60_000);
    expect(parse({ abortUploadsAfter: '2h' }, {}).storage.abortUploadsAfterMs).toBe(2 * 3_600_000);
  });
});
