import { describe, expect, it } from 'vitest';
import {
  cancelReply,
  duplicateReply,
  helpReply,
  linkReply,
  listReply,
  nothingToCancelReply,
  statusReply,
  targetsReply,
  type ThreadLink,
} from '../../src/slack/messages/replies.js';
import type { AnyJob } from '../../src/jobs/queue.js';
import { fakeRunner } from '../jobs/fake-runner.js';
import { accepted, backupQueue } from '../helpers/queue.js';

const t0 = new Date('2024-05-01T03:00:00Z');

async function jobs() {
  const runner = fakeRunner();
  let now = t0;
  let n = 0;
  const queue = backupQueue(runner.runBackup, {
    concurrency: 1,
    maxPending: 5,
    jobTimeoutMs: 60_000,
    now: () => now,
    newJobId: () => `job${++n}`,
  });
  const a = accepted(queue.enqueue({ kind: 'backup', target: 'app-db', trigger: { kind: 'slack', by: 'U1' } })).job;
  now = new Date(t0.getTime() + 5000);
  const b = accepted(queue.enqueue({ kind: 'backup', target: 'billing', trigger: { kind: 'retry', by: 'U2' } })).job;
  const c = accepted(queue.enqueue({ kind: 'backup', target: 'crm', trigger: { kind: 'cli', by: 'cli:ops' } })).job;
  (await runner.started('app-db')).emit({
    type: 'progress',
    jobId: 'job1',
    progress: { dumpedBytes: 1_048_576, storedBytes: 1024, elapsedMs: 1000, bytesPerSecond: 1_048_576, estimatedBytes: 0 },
  });
  return { queue, a, b, c };
}

const threads = new Map<string, ThreadLink>([
  ['job1', { channel: 'C1', ts: '1.1', permalink: 'https://team.slack.com/archives/C1/p11' }],
  ['job2', { channel: 'C2', ts: '2.2' }],
]);

describe('replies', () => {
  it('help lists every command', () => {
    expect(helpReply()).toBe(
      [
        '*dumptruck* backs up PostgreSQL databases into object storage.',
        '• `/backup run <target>` (or `/backup <target>`): dump, compress and upload now; progress and a download link in a thread',
        '• `/backup status`: running and queued backups, verifications and prunes',
        '• `/backup list <target>`: stored backups, newest first',
        '• `/backup link <target> [key|latest]`: a fresh download link',
        '• `/backup cancel <target>`: stop a queued or running backup (nothing is stored) or restore (nothing half-restored is left)',
        '• `/backup verify <target> [key|latest]`: prove a backup: its SHA-256, that it decompresses, and a restore test when a scratch server is set; result in a thread',
        "• `/backup prune <target> [confirm]`: what the target's retention rules would delete; with `confirm`, delete it (result in a thread)",
        "• `/backup snapshot <target>`: an RDS snapshot of the target's instance now (targets with `rds`); progress in a thread",
        "• `/backup snapshots <target>`: recent manual and automated RDS snapshots of the target's instance",
        '• `/backup restore <target> [key|latest] into <database> [replace] [from mirror]`: restore a backup into a new database, once an approver approves it; progress in a thread',
        "• `/backup history <target> [n]`: the target's last runs (outcome, size, duration, who asked, thread), when the bot keeps a state database",
        '• `/backup targets`: the databases you can back up here',
      ].join('\n'),
    );
  });

  it('targets says which ones this channel may use', () => {
    expect(
      targetsReply([
        { name: 'app-db', format: 'plain', allowedHere: true },
        { name: 'billing', format: 'custom', allowedHere: false },
      ]),
    ).toBe('*Targets*\n• `app-db` (plain)\n• `billing` (custom): not from this channel');
    expect(targetsReply([])).toBe('No targets are configured.');
  });

  it('status lists running and queued jobs with their threads', async () => {
    const { queue } = await jobs();
    expect(statusReply(queue.status(), (id) => threads.get(id), new Date(t0.getTime() + 65_000))).toBe(
      [
        '*Running* (1)',
        '• `app-db`, for 1m 5s, 1.0 MiB dumped, by <@U1> (<https://team.slack.com/archives/C1/p11|thread>)',
        '*Queued* (2)',
        '1. `billing`, waiting 1m 0s, by <@U2> (retry) (thread in <#C2>)',
        '2. `crm`, waiting 1m 0s, by `cli:ops`',
      ].join('\n'),
    );
    expect(statusReply({ running: [], queued: [] }, () => undefined, t0)).toBe('Nothing is running or queued.');
  });

  it('a duplicate request points at the existing thread', async () => {
    const { a, b, c } = await jobs();
    expect(duplicateReply(a, threads.get('job1'))).toBe(
      'A backup of `app-db` is already running, requested by <@U1>: follow it in the <https://team.slack.com/archives/C1/p11|thread>. It was not queued twice.',
    );
    expect(duplicateReply(b, threads.get('job2'))).toBe(
      'A backup of `billing` is already queued (position 1), requested by <@U2> (retry): follow it in the thread in <#C2>. It was not queued twice.',
    );
    expect(duplicateReply(c, undefined)).toBe(
      'A backup of `crm` is already queued (position 2), requested by `cli:ops`. It was not queued twice.',
    );
  });

  it('cancel replies', async () => {
    const { a, b } = await jobs();
    expect(cancelReply(a, threads.get('job1'))).toBe(
      'Stopping the running backup of `app-db` (<https://team.slack.com/archives/C1/p11|thread>); nothing will be stored.',
    );
    expect(cancelReply(b, undefined)).toBe('Removing the queued backup of `billing`; nothing will be stored.');
    expect(cancelReply({ ...a, kind: 'restore' } as unknown as AnyJob, undefined)).toBe(
      'Stopping the running restore of `app-db`; the half-restored database is dropped.',
    );
    expect(cancelReply({ ...b, kind: 'restore' } as unknown as AnyJob, undefined)).toBe(
      'Removing the queued restore of `billing`; nothing will be restored.',
    );
    expect(nothingToCancelReply('app-db')).toBe('No backup of `app-db` is queued or running, so there is nothing to cancel.');
  });

  it('list shows the newest backups, capped', () => {
    const objects = Array.from({ length: 20 }, (_, i) => ({
      key: `dumptruck/app-db/2024/05/${String(20 - i).padStart(2, '0')}/x.sql.gz`,
      size: 1024 * (i + 1),
      lastModified: new Date(Date.UTC(2024, 4, 20 - i, 3)),
      state: 'complete' as const,
    }));
    const text = listReply('app-db', objects);
    const lines = text.split('\n');
    expect(lines[0]).toBe('*Backups of `app-db`*, newest first (15 of 20):');
    expect(lines[1]).toBe('• `dumptruck/app-db/2024/05/20/x.sql.gz`: 1.0 KiB, 2024-05-20 03:00 UTC');
    expect(lines).toHaveLength(17);
    expect(lines.at(-1)).toBe('`/backup link app-db <key>` makes a download link.');
    expect(listReply('app-db', [])).toBe('No backups of `app-db` are stored yet. `/backup run app-db` makes one.');
  });

  it('link', () => {
    const object = { key: 'dumptruck/app-db/x.sql.gz', size: 2048, lastModified: t0, state: 'complete' as const };
    expect(linkReply(object, { url: 'https://s3.example/x?sig=1', expiresAt: new Date('2024-05-02T03:00:00Z') })).toBe(
      'Download `dumptruck/app-db/x.sql.gz` (2.0 KiB, 2024-05-01 03:00 UTC); the link expires 2024-05-02 03:00 UTC:\nhttps://s3.example/x?sig=1',
    );
  });

  it('link to an unsigned backup: warns, after the link', () => {
    const object = {
      key: 'dumptruck/app-db/x.sql.gz',
      size: 2048,
      lastModified: t0,
      state: 'legacy' as const,
      provenance: 'unsigned' as const,
    };
    expect(linkReply(object, { url: 'https://s3.example/x?sig=1', expiresAt: new Date('2024-05-02T03:00:00Z') }).split('\n')).toEqual([
      'Download `dumptruck/app-db/x.sql.gz` (2.0 KiB, 2024-05-01 03:00 UTC); the link expires 2024-05-02 03:00 UTC:',
      'https://s3.example/x?sig=1',
      ':warning: Not signed by this dumptruck: written before backups were signed, or by someone else who can write to the bucket. Check it (verify) before you restore it.',
    ]);
  });

  it('link to an encrypted backup: says so, with the restore command', () => {
    const object = { key: 'dumptruck/app-db/app-db_20240501T030000Z.dump.age', size: 2048, lastModified: t0, state: 'complete' as const };
    expect(
      linkReply(object, { url: 'https://s3.example/x?sig=1', expiresAt: new Date('2024-05-02T03:00:00Z') })
        .split('\n')
        .at(-1),
    ).toBe(
      'Encrypted with age; restore with the private key: age -d -i key.txt app-db_20240501T030000Z.dump.age | pg_restore --no-owner -d "$DATABASE_URL"',
    );
  });
});
