import { describe, expect, it } from 'vitest';
import { CancelledError, DumptruckError, userMessage } from '../../src/errors.js';
import type { BackupResult } from '../../src/jobs/events.js';
import type { PruneReport } from '../../src/retention/prune.js';
import { catchUpFailedMessage, scheduleRefusedMessage, scheduleSkippedMessage } from '../../src/slack/messages/schedule.js';
import { describeTrigger } from '../../src/slack/messages/format.js';
import {
  applyVerifyEvent,
  prunePlanReply,
  pruneParentMessage,
  pruneResultMessage,
  pruneStatusMessage,
  verifyParentMessage,
  verifyResultMessage,
  verifyStatusMessage,
  type PruneView,
  type TaskPhase,
  type VerifyStarted,
  type VerifyView,
} from '../../src/slack/messages/maintenance.js';
import { parentMessage, resultMessage, statusMessage } from '../../src/slack/messages/thread.js';
import type { ThreadView } from '../../src/slack/messages/view.js';
import type { VerifyReport } from '../../src/verify/verify.js';
import { fakeResult } from '../jobs/fake-runner.js';

// Verify and prune threads, the prune plan, the checks after a backup in its result, and the
// schedule's notes: exact messages.

const KEY = 'dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz';
const SHA = 'a'.repeat(64);
const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
const context = (text: string) => ({ type: 'context', elements: [{ type: 'mrkdwn', text }] });
const fieldsBlock = (pairs: Array<[string, string]>) => ({
  type: 'section',
  fields: pairs.map(([n, v]) => ({ type: 'mrkdwn', text: `*${n}*\n${v}` })),
});

const report: VerifyReport = {
  target: 'app-db',
  bucket: 'backups',
  key: KEY,
  format: 'plain',
  storedBytes: 12_582_912,
  sha256: SHA,
  dumpedBytes: 47_185_920,
  checks: ['metadata names target app-db', 'sha256 matches metadata', 'gunzip | psql -v ON_ERROR_STOP=1 restored it'],
  restore: {
    database: 'dumptruck_verify_app_db_0badcafe',
    tables: [
      { schema: 'public', name: 'customers', rows: 5 },
      { schema: 'public', name: 'events', rows: 2000 },
    ],
    rows: 2005,
    durationMs: 4000,
  },
  verifiedAt: new Date('2024-05-01T04:00:05Z'),
  durationMs: 5000,
};
const started: VerifyStarted = {
  object: { key: KEY, size: 12_582_912, lastModified: new Date('2024-05-01T03:01:03Z'), state: 'complete' },
  restore: true,
};
const vview = (phase: TaskPhase<VerifyReport, VerifyStarted>, key = 'latest'): VerifyView => ({
  jobId: 'job1',
  target: 'app-db',
  trigger: { kind: 'slack', by: 'U1' },
  key,
  phase,
});
const corrupted = new DumptruckError(
  'CORRUPTED',
  'verify',
  `${KEY}: SHA-256 of the stored bytes is ${'b'.repeat(64)}, metadata says ${SHA}: the object changed after it was written`,
);

describe('verify thread', () => {
  it('parent: while active, and each outcome', () => {
    const active = ':mag: Verification of `app-db` (its latest backup) requested by <@U1>. Result in the thread.';
    expect(verifyParentMessage(vview({ kind: 'queued', position: 1 }))).toEqual({
      text: active,
      blocks: [section(active), context('job `job1`')],
    });
    expect(verifyParentMessage(vview({ kind: 'running' }, KEY)).text).toBe(
      `:mag: Verification of \`app-db\` (\`${KEY}\`) requested by <@U1>. Result in the thread.`,
    );
    expect(verifyParentMessage(vview({ kind: 'finished', result: report })).text).toBe(
      `:white_check_mark: Verification of \`app-db\` requested by <@U1>: \`${KEY}\` is good and restores (2 tables, 2005 rows).`,
    );
    const { restore: _, ...noRestore } = report;
    expect(verifyParentMessage(vview({ kind: 'finished', result: noRestore })).text).toBe(
      `:white_check_mark: Verification of \`app-db\` requested by <@U1>: \`${KEY}\` is good.`,
    );
    expect(verifyParentMessage(vview({ kind: 'failed', error: corrupted, started })).text).toBe(
      ':x: Verification of `app-db` requested by <@U1> failed: corrupted.',
    );
    expect(
      verifyParentMessage(vview({ kind: 'failed', error: new DumptruckError('NOT_FOUND', 'storage', 'no backups of app-db yet') })).text,
    ).toBe(':x: Verification of `app-db` requested by <@U1> failed: stage storage.');
    expect(verifyParentMessage(vview({ kind: 'failed', error: new CancelledError('cancelled: the bot is shutting down') })).text).toBe(
      ':no_entry_sign: Verification of `app-db` requested by <@U1> was cancelled.',
    );
  });

  it('status: queued, looking up, verifying (with or without a restore test), done', () => {
    const queued = ':hourglass_flowing_sand: The verification of `app-db` is queued: position 2, 1 ahead of it.';
    expect(verifyStatusMessage(vview({ kind: 'queued', position: 2 }))).toEqual({ text: queued, blocks: [section(queued)] });
    expect(verifyStatusMessage(vview({ kind: 'running' })).text).toBe(':mag: Looking up the backup of `app-db` to verify…');
    expect(verifyStatusMessage(vview({ kind: 'running', started })).text).toBe(
      `:mag: Verifying \`${KEY}\` (12.0 MiB): reading it back, checking its SHA-256 and restoring it into a scratch database…`,
    );
    expect(verifyStatusMessage(vview({ kind: 'running', started: { ...started, restore: false } })).text).toBe(
      `:mag: Verifying \`${KEY}\` (12.0 MiB): reading it back, checking its SHA-256 and that it decompresses to the end…`,
    );
    expect(verifyStatusMessage(vview({ kind: 'finished', result: report })).text).toBe(':white_check_mark: Verified in 5s.');
    expect(verifyStatusMessage(vview({ kind: 'failed', error: corrupted })).text).toBe(':x: Not verified: corrupted.');
    expect(verifyStatusMessage(vview({ kind: 'failed', error: new CancelledError('cancelled: the bot is shutting down') })).text).toBe(
      ':no_entry_sign: Cancelled: the bot is shutting down.',
    );
  });

  it('result, verified: SHA-256, size, tables with row counts and the restore duration', () => {
    expect(verifyResultMessage(vview({ kind: 'finished', result: report }))).toEqual({
      text: [
        `:white_check_mark: \`${KEY}\` of \`app-db\` is verified.`,
        `Key: ${KEY}`,
        `SHA-256: ${SHA} (matches the metadata)`,
        'Size: 12.0 MiB stored, 45.0 MiB dump',
        'Duration: 5s',
        'Restore test: 2 tables, 2005 rows restored in 4s; the scratch database dumptruck_verify_app_db_0badcafe was dropped',
        '  public.customers: 5 rows',
        '  public.events: 2000 rows',
        'Checks: metadata names target app-db; sha256 matches metadata; gunzip | psql -v ON_ERROR_STOP=1 restored it',
      ].join('\n'),
      blocks: [
        section(`:white_check_mark: \`${KEY}\` of \`app-db\` is verified.`),
        fieldsBlock([
          ['Key', `\`${KEY}\``],
          ['Size', '12.0 MiB (45.0 MiB dump)'],
          ['SHA-256', `\`${SHA}\``],
          ['Duration', '5s'],
        ]),
        section(
          '*Restore test*: 2 tables, 2005 rows restored in 4s; the scratch database dumptruck_verify_app_db_0badcafe was dropped.\n```public.customers: 5 rows\npublic.events: 2000 rows```',
        ),
        context('Checked: metadata names target app-db · sha256 matches metadata · gunzip | psql -v ON_ERROR_STOP=1 restored it'),
      ],
    });
  });

  it('result, verified without a restore test: says how to get one; long table lists are counted', () => {
    const { restore: _, ...noRestore } = report;
    expect(verifyResultMessage(vview({ kind: 'finished', result: noRestore })).blocks[2]).toEqual(
      context('No restore test: `verify.restoreUrl` (a scratch PostgreSQL server) is not set.'),
    );
    const tables = Array.from({ length: 23 }, (_, i) => ({ schema: 'public', name: `t${i}`, rows: i }));
    const many = verifyResultMessage(vview({ kind: 'finished', result: { ...report, restore: { ...report.restore!, tables } } }));
    expect(many.text).toContain('\n  public.t19: 19 rows\n  … and 3 more tables\nChecks: ');
  });

  it('result, failed: the verdict, the reason through userMessage (escaped), and the lost marker', () => {
    const reason = userMessage(corrupted);
    const head = `:x: \`${KEY}\` of \`app-db\` failed verification: corrupted.`;
    expect(verifyResultMessage(vview({ kind: 'failed', error: corrupted, started }), { reason })).toEqual({
      text: `${head}\n${reason}`,
      blocks: [
        section(head),
        section(`\`\`\`${reason}\`\`\``),
        context('Its `.verified` marker was removed: retention no longer keeps it as the newest verified backup.'),
      ],
    });
    const restoreFailed = new DumptruckError('RESTORE_FAILED', 'verify', `${KEY} did not restore: psql exited with code 3`, {
      stderrTail: 'ERROR: role "app" does not exist <!here>',
    });
    const failed = verifyResultMessage(vview({ kind: 'failed', error: restoreFailed, started }), { reason: userMessage(restoreFailed) });
    expect(failed.text.split('\n')[0]).toBe(`:x: \`${KEY}\` of \`app-db\` failed verification: restore failed.`);
    expect(failed.text).toContain('ERROR: role "app" does not exist &lt;!here&gt;');
    expect(failed.blocks).toHaveLength(2);
  });

  it('result, not checked: a missing backup or a storage error is not a verdict on the object', () => {
    const missing = new DumptruckError('NOT_FOUND', 'storage', 'no backups of app-db yet');
    expect(verifyResultMessage(vview({ kind: 'failed', error: missing }), { reason: userMessage(missing) })).toEqual({
      text: ':x: The latest backup of `app-db` could not be verified (stage `storage`).\nstorage failed: no backups of app-db yet',
      blocks: [
        section(':x: The latest backup of `app-db` could not be verified (stage `storage`).'),
        section('```storage failed: no backups of app-db yet```'),
      ],
    });
    const cancelled = ':no_entry_sign: Verification of `app-db` cancelled by <@U2>. Nothing was changed.';
    expect(verifyResultMessage(vview({ kind: 'failed', error: new CancelledError('cancelled by <@U2>') }))).toEqual({
      text: cancelled,
      blocks: [section(cancelled)],
    });
  });

  it('folds the started event, and keeps it for a failure', () => {
    let v = applyVerifyEvent(vview({ kind: 'queued', position: 1 }), {
      type: 'verify-started',
      jobId: 'job1',
      object: started.object,
      restore: true,
    });
    expect(v.phase).toEqual({ kind: 'running', started });
    v = applyVerifyEvent(v, { type: 'failed', jobId: 'job1', target: 'app-db', error: corrupted });
    expect(v.phase).toEqual({ kind: 'failed', error: corrupted, started });
  });
});

const item = (day: string, ageDays: number, reasons: string[] = []) => ({
  key: `dumptruck/app-db/2024/05/${day}/app-db_202405${day}T030000Z.sql.gz`,
  time: new Date(`2024-05-${day}T03:00:00Z`),
  ageDays,
  flagged: false,
  reasons: reasons as never,
});
const plan: PruneReport = {
  target: 'app-db',
  rules: { keepLast: 2 },
  dryRun: true,
  newestVerified: undefined,
  kept: [item('10', 1, ['newest', 'last']), item('09', 2, ['last'])],
  deleted: [item('08', 3), item('01', 10.25)],
  failed: [],
  ignored: [],
};

describe('prune', () => {
  it('plan: what would go and what stays, and the command that deletes it', () => {
    expect(prunePlanReply(plan)).toBe(
      [
        '*Prune plan for `app-db`* (keepLast 2): 2 to delete, 2 kept. Nothing has been deleted yet.',
        'To delete:',
        '• `dumptruck/app-db/2024/05/08/app-db_20240508T030000Z.sql.gz` (3.0 days old)',
        '• `dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz` (10.3 days old)',
        'Kept:',
        '• `dumptruck/app-db/2024/05/10/app-db_20240510T030000Z.sql.gz` (newest, last)',
        '• `dumptruck/app-db/2024/05/09/app-db_20240509T030000Z.sql.gz` (last)',
        '`/backup prune app-db confirm` deletes them.',
      ].join('\n'),
    );
    expect(prunePlanReply({ ...plan, rules: { keepDays: 30 }, deleted: [] })).toBe(
      '*Prune plan for `app-db`* (keepDays 30): nothing to delete; the rules keep all 2 backups.',
    );
    const long = prunePlanReply({ ...plan, deleted: Array.from({ length: 17 }, (_, i) => item('01', 20 + i)) });
    expect(long.split('\n').filter((l) => l.startsWith('• '))).toHaveLength(15 + 1 + 2);
    expect(long).toContain('\n• … and 2 more\nKept:');
  });

  const pview = (phase: TaskPhase<PruneReport, never>): PruneView => ({
    jobId: 'job2',
    target: 'app-db',
    trigger: { kind: 'slack', by: 'U1' },
    rules: { keepLast: 2, keepDays: 30 },
    phase,
  });
  const done: PruneReport = { ...plan, dryRun: false };

  it('thread: parent, status and result of a confirmed prune', () => {
    const active = ':wastebasket: Prune of `app-db` (keepLast 2, keepDays 30) requested by <@U1>. Result in the thread.';
    expect(pruneParentMessage(pview({ kind: 'queued', position: 1 }))).toEqual({
      text: active,
      blocks: [section(active), context('job `job2`')],
    });
    expect(pruneParentMessage(pview({ kind: 'finished', result: done })).text).toBe(
      ':wastebasket: Prune of `app-db` requested by <@U1>: deleted 2, kept 2.',
    );
    expect(pruneStatusMessage(pview({ kind: 'running' })).text).toBe(
      ':wastebasket: Deleting the backups of `app-db` that its retention rules no longer keep…',
    );
    expect(pruneStatusMessage(pview({ kind: 'finished', result: done })).text).toBe(':white_check_mark: Done: deleted 2, kept 2.');
    const head = ':wastebasket: Prune of `app-db` (keepLast 2): deleted 2, kept 2.';
    const lists = [
      'Deleted:',
      '• `dumptruck/app-db/2024/05/08/app-db_20240508T030000Z.sql.gz` (3.0 days old)',
      '• `dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz` (10.3 days old)',
      'Kept:',
      '• `dumptruck/app-db/2024/05/10/app-db_20240510T030000Z.sql.gz` (newest, last)',
      '• `dumptruck/app-db/2024/05/09/app-db_20240509T030000Z.sql.gz` (last)',
    ].join('\n');
    expect(pruneResultMessage(pview({ kind: 'finished', result: done }))).toEqual({
      text: `${head}\n${lists}`,
      blocks: [section(head), section(lists)],
    });
  });

  it('thread: deletions the store refused, a failure, a cancel', () => {
    const partial = {
      ...done,
      deleted: done.deleted.slice(0, 1),
      failed: [{ key: done.deleted[1]!.key, message: 'AccessDenied: <denied> (HTTP 403)' }],
    };
    expect(pruneParentMessage(pview({ kind: 'finished', result: partial })).text).toBe(
      ':warning: Prune of `app-db` requested by <@U1>: deleted 1, kept 2, 1 could not be deleted.',
    );
    expect(
      pruneResultMessage(pview({ kind: 'finished', result: partial }))
        .text.split('\n')
        .slice(-2),
    ).toEqual([
      'Could not delete:',
      '• `dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz`: AccessDenied: &lt;denied&gt; (HTTP 403)',
    ]);
    const error = new DumptruckError('STORAGE_FAILED', 'storage', 'listing failed');
    expect(pruneResultMessage(pview({ kind: 'failed', error }), { reason: userMessage(error) })).toEqual({
      text: ':x: Prune of `app-db` failed (stage `storage`). Nothing was deleted.\nstorage failed: listing failed',
      blocks: [
        section(':x: Prune of `app-db` failed (stage `storage`). Nothing was deleted.'),
        section('```storage failed: listing failed```'),
      ],
    });
    expect(pruneParentMessage(pview({ kind: 'failed', error })).text).toBe(
      ':x: Prune of `app-db` requested by <@U1> failed (stage storage).',
    );
    expect(pruneResultMessage(pview({ kind: 'failed', error: new CancelledError('cancelled: the bot is shutting down') })).text).toBe(
      ':no_entry_sign: Prune of `app-db` cancelled: the bot is shutting down. Nothing was deleted.',
    );
  });
});

describe('a backup result with the checks after the upload', () => {
  const tview = (result: BackupResult): ThreadView => ({
    jobId: 'job1',
    target: 'app-db',
    trigger: { kind: 'schedule', by: 'scheduler' },
    phase: { kind: 'finished', result },
  });
  const link = {
    kind: 'ok' as const,
    link: { url: 'https://s3.example/x?X-Amz-Signature=abc', expiresAt: new Date('2024-05-02T03:01:03Z') },
  };
  const empty = {
    kind: 'empty' as const,
    dumpedBytes: 700,
    emptyBelow: 1024,
    message: 'the dump is empty: 700 bytes (less than 1.0 KiB), a database without tables or data?',
  };

  it('an empty backup is flagged, not a plain success: header, parent and status say why', () => {
    const result = fakeResult('app-db', { dumpedBytes: 700, storedBytes: 420, warnings: [empty] });
    const message = resultMessage(tview(result), { link });
    const head =
      ':warning: Backup of `app-db` stored, but flagged: the dump is empty: 700 bytes (less than 1.0 KiB), a database without tables or data?';
    expect(message.text.split('\n')).toEqual([
      head,
      `Key: ${KEY}`,
      'Size: 420 B stored, 700 B dumped',
      `SHA-256: ${SHA}`,
      'Duration: 1m 3s',
      `Download (link expires 2024-05-02 03:01 UTC): ${link.link.url}`,
    ]);
    expect(message.blocks[0]).toEqual(section(head));
    expect(JSON.stringify(message.blocks)).not.toContain('white_check_mark');
    expect(parentMessage(tview(result)).text).toBe(
      ':warning: Backup of `app-db` requested by the schedule stored, but flagged (empty): 420 B in 1m 3s.',
    );
    expect(statusMessage(tview(result)).text).toBe(':warning: Done in 1m 3s, flagged (empty): dumped 700 B, stored 420 B.');
  });

  it('a shrunk backup, a failed verification, a failed mirror and skipped checks: each said plainly', () => {
    const shrunk = {
      kind: 'shrunk' as const,
      storedBytes: 1000,
      medianBytes: 10_000,
      compared: 3,
      ratio: 0.1,
      threshold: 0.5,
      message: 'much smaller than usual: 1000 B stored, 10% of the median 9.8 KiB of the previous 3 backups (threshold 50%)',
    };
    const verifyError = new DumptruckError(
      'TRUNCATED',
      'verify',
      `${KEY}: the gzip stream ends early (unexpected end of file): the object was cut short`,
    );
    const result = fakeResult('app-db', {
      warnings: [
        shrunk,
        { kind: 'mirror-failed', message: 'mirror copy not stored: NoSuchBucket' },
        { kind: 'check-skipped', message: 'retention not applied: this backup is flagged, so no older backup was deleted' },
      ],
      verification: { ok: false, error: verifyError },
      mirror: { bucket: 'backups-copy', stored: false, error: 'NoSuchBucket: <gone>' },
    });
    const message = resultMessage(tview(result), {});
    const head =
      ':warning: Backup of `app-db` stored, but flagged: much smaller than usual: 1000 B stored, 10% of the median 9.8 KiB of the previous 3 backups (threshold 50%).';
    expect(message.text.split('\n')).toEqual([
      head,
      `Key: ${KEY}`,
      'Size: 12.0 MiB stored, 45.0 MiB dumped',
      `SHA-256: ${SHA}`,
      'Duration: 1m 3s',
      `Verification: FAILED (truncated): verify failed: ${KEY}: the gzip stream ends early (unexpected end of file): the object was cut short`,
      'Mirror: NOT stored in backups-copy: NoSuchBucket: &lt;gone&gt;',
      'Note: retention not applied: this backup is flagged, so no older backup was deleted',
    ]);
    expect(message.blocks[2]).toEqual(
      section(
        [
          `:x: Automatic verification failed (truncated): verify failed: ${KEY}: the gzip stream ends early (unexpected end of file): the object was cut short`,
          ':warning: Second copy not stored in `backups-copy`: NoSuchBucket: &lt;gone&gt;',
          ':information_source: retention not applied: this backup is flagged, so no older backup was deleted',
        ].join('\n'),
      ),
    );
    expect(parentMessage(tview(result)).text).toBe(
      ':warning: Backup of `app-db` requested by the schedule stored, but flagged (much smaller than usual, verification failed): 12.0 MiB in 1m 3s.',
    );
    const onlyVerify = fakeResult('app-db', { verification: { ok: false, error: verifyError } });
    expect(resultMessage(tview(onlyVerify), {}).text.split('\n')[0]).toBe(
      ':warning: Backup of `app-db` stored, but its automatic verification failed: truncated.',
    );
  });

  it('a verified, pruned, mirrored backup stays a success and lists each check', () => {
    const pruned: PruneReport = { ...plan, dryRun: false };
    const result = fakeResult('app-db', {
      verification: { ok: true, report },
      pruned,
      mirror: { bucket: 'backups-copy', endpoint: 'http://127.0.0.1:9000', stored: true },
    });
    const message = resultMessage(tview(result), {});
    expect(message.text.split('\n')).toEqual([
      ':white_check_mark: Backup of `app-db` finished.',
      `Key: ${KEY}`,
      'Size: 12.0 MiB stored, 45.0 MiB dumped',
      `SHA-256: ${SHA}`,
      'Duration: 1m 3s',
      'Verification: passed (SHA-256 matches, restored 2 tables, 2005 rows in 4s)',
      'Retention: deleted 2 older backups, kept 2',
      'Mirror: stored in backups-copy',
    ]);
    expect(message.blocks[2]).toEqual(
      section(
        [
          ':white_check_mark: Verified: SHA-256 matches, restored 2 tables, 2005 rows in 4s',
          ':wastebasket: Retention (keepLast 2): deleted 2 older backups, kept 2',
          ':card_file_box: Second copy stored in `backups-copy`',
        ].join('\n'),
      ),
    );
    expect(parentMessage(tview(result)).text).toBe(
      ':white_check_mark: Backup of `app-db` requested by the schedule finished: 12.0 MiB in 1m 3s.',
    );
  });
});

describe('schedule notes', () => {
  const due = new Date('2024-05-01T02:00:00Z');

  it('a catch-up run says which run it replaces, wherever its trigger is shown', () => {
    expect(describeTrigger({ kind: 'schedule', by: 'scheduler', catchUpFor: due })).toBe(
      'the schedule (catch-up for the missed run due 2024-05-01 02:00 UTC)',
    );
    expect(describeTrigger({ kind: 'schedule', by: 'scheduler' })).toBe('the schedule');
  });

  it('skipped, refused, and a missed-run check that could not run', () => {
    const job = { kind: 'backup', state: 'running', trigger: { kind: 'slack', by: 'U1' } } as never;
    expect(scheduleSkippedMessage('app-db', due, job, { channel: 'C0OPS', ts: '1.2', permalink: 'https://x.slack.com/p1' })).toEqual({
      text: ':fast_forward: The scheduled backup of `app-db` due 2024-05-01 02:00 UTC was skipped: a backup of it is already running, requested by <@U1> (<https://x.slack.com/p1|thread>).',
      blocks: [
        section(
          ':fast_forward: The scheduled backup of `app-db` due 2024-05-01 02:00 UTC was skipped: a backup of it is already running, requested by <@U1> (<https://x.slack.com/p1|thread>).',
        ),
      ],
    });
    expect(scheduleRefusedMessage('app-db', due, 'queue failed: 20 backups are already waiting').text).toBe(
      ':warning: The scheduled backup of `app-db` due 2024-05-01 02:00 UTC was not started: queue failed: 20 backups are already waiting',
    );
    expect(catchUpFailedMessage('app-db', 'storage failed: <timeout>').text).toBe(
      ':warning: Could not check whether a scheduled backup of `app-db` was missed while the bot was down: storage failed: &lt;timeout&gt;. The schedule itself goes on.',
    );
  });
});
