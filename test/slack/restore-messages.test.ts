import { describe, expect, it } from 'vitest';
import { CancelledError, DumptruckError } from '../../src/errors.js';
import type { RestoreRequest } from '../../src/restore/approvals.js';
import type { RestorePlan, RestoreRunReport } from '../../src/restore/restore.js';
import {
  applyRestoreEvent,
  replaceModal,
  restoreApprovalMessage,
  restoreParentMessage,
  restoreResultMessage,
  restoreStatusMessage,
  type RestoreView,
} from '../../src/slack/messages/restore.js';

// The restore's Block Kit builders, compared exactly.

const KEY = 'dumptruck/app-db/2026/11/20/app-db_20261120T020000Z.sql.gz';
const SHA = 'ab'.repeat(32);
const plan: RestorePlan = {
  target: 'app-db',
  key: KEY,
  source: 'primary',
  bucket: 'backups',
  storedBytes: 3 * 1024 * 1024,
  sha256: SHA,
  backupAt: new Date('2026-11-20T02:00:00Z'),
  database: 'app_copy',
  server: 'db.internal:5432',
  replace: false,
  noOwner: false,
};
const request: RestoreRequest = {
  id: '0123456789abcdef',
  plan,
  requestedBy: 'U0ALICE',
  channel: 'C0OPS',
  ts: '1700000001.000100',
  requestedAt: new Date('2026-11-28T08:00:00Z'),
  expiresAt: new Date('2026-11-28T09:00:00Z'),
};
const INTO = '`' + KEY + '` of `app-db` into `app_copy` on db.internal:5432';

describe('restoreApprovalMessage', () => {
  it('pending: the facts an approver needs, and Approve and Deny carrying the request id', () => {
    const text = `:rotating_light: Restore requested by <@U0ALICE>: ${INTO}. Needs approval by <@U0BOB>, <@U0CAROL> before <!date^1795856400^{date_short_pretty} {time}|2026-11-28 09:00 UTC>.`;
    expect(restoreApprovalMessage(request, ['U0BOB', 'U0CAROL'])).toEqual({
      text,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text } },
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: `*Backup*\n\`${KEY}\`` },
            { type: 'mrkdwn', text: '*Taken*\n<!date^1795140000^{date_short_pretty} {time}|2026-11-20 02:00 UTC>' },
            { type: 'mrkdwn', text: '*Size*\n3.0 MiB' },
            { type: 'mrkdwn', text: `*SHA-256*\n\`${SHA}\`` },
            { type: 'mrkdwn', text: '*Into*\n`app_copy` on db.internal:5432 (new database)' },
            { type: 'mrkdwn', text: '*Requested by*\n<@U0ALICE>' },
          ],
        },
        {
          type: 'actions',
          elements: [
            {
              type: 'button',
              action_id: 'dumptruck_restore_approve',
              text: { type: 'plain_text', text: 'Approve' },
              value: '0123456789abcdef',
              style: 'primary',
            },
            {
              type: 'button',
              action_id: 'dumptruck_restore_deny',
              text: { type: 'plain_text', text: 'Deny' },
              value: '0123456789abcdef',
              style: 'danger',
            },
          ],
        },
      ],
    });
  });

  it('a replace says so plainly', () => {
    const message = restoreApprovalMessage({ ...request, plan: { ...plan, replace: true } }, ['U0BOB']);
    expect(message.text).toBe(
      `:rotating_light: Restore requested by <@U0ALICE>: ${INTO}. It REPLACES the existing \`app_copy\`: the approver types its name to confirm, and the old one is renamed aside, not dropped. Needs approval by <@U0BOB> before <!date^1795856400^{date_short_pretty} {time}|2026-11-28 09:00 UTC>.`,
    );
    expect(JSON.stringify(message.blocks)).toContain('(replacing it)');
  });

  it('decided: approved, denied or expired, without buttons', () => {
    const decided = (decision: RestoreRequest['decision']) => restoreApprovalMessage({ ...request, decision }, ['U0BOB']);
    expect(decided({ kind: 'approved', by: 'U0BOB' }).text).toBe(
      `:white_check_mark: Restore of ${INTO} requested by <@U0ALICE>, approved by <@U0BOB>. Progress in the thread.`,
    );
    expect(decided({ kind: 'denied', by: 'U0BOB' }).text).toBe(
      `:no_entry_sign: Restore of ${INTO} requested by <@U0ALICE>, denied by <@U0BOB>. Nothing was restored.`,
    );
    expect(decided({ kind: 'expired' }).text).toBe(
      `:hourglass: Restore of ${INTO} requested by <@U0ALICE> expired without approval. Nothing was restored.`,
    );
    expect(decided({ kind: 'expired' }).blocks.map((b) => b.type)).toEqual(['section', 'section']);
  });
});

describe('replaceModal', () => {
  it('asks for the exact database name, with the request id as private_metadata', () => {
    expect(replaceModal({ ...request, plan: { ...plan, replace: true } })).toEqual({
      type: 'modal',
      callback_id: 'dumptruck_restore_replace',
      private_metadata: '0123456789abcdef',
      title: { type: 'plain_text', text: 'Replace a database' },
      submit: { type: 'plain_text', text: 'Replace it' },
      close: { type: 'plain_text', text: 'Cancel' },
      blocks: [
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: `This restore replaces the database \`app_copy\` on db.internal:5432 with \`${KEY}\`. The old database is renamed aside, not dropped, until the restore has succeeded.`,
          },
        },
        {
          type: 'input',
          block_id: 'database',
          label: { type: 'plain_text', text: 'Type app_copy to confirm' },
          element: { type: 'plain_text_input', action_id: 'typed' },
        },
      ],
    });
  });
});

describe('the restore thread', () => {
  const view: RestoreView = {
    jobId: 'j1',
    target: 'app-db',
    trigger: { kind: 'slack', by: 'U0ALICE' },
    phase: { kind: 'queued', position: 1 },
    plan,
    requestedBy: 'U0ALICE',
    approvedBy: 'U0BOB',
  };
  const report: RestoreRunReport = {
    plan,
    tables: [
      { schema: 'public', name: 'events', rows: 2000 },
      { schema: 'public', name: 'customers', rows: 5 },
    ],
    rows: 2005,
    dumpedBytes: 10 * 1024 * 1024,
    durationMs: 4200,
  };

  it('status: queued, then bytes read of the size with a Cancel button, then the outcome', () => {
    expect(restoreStatusMessage(view).text).toBe(':hourglass_flowing_sand: The restore of `app-db` is queued: next to start.');
    const running = applyRestoreEvent(applyRestoreEvent(view, { type: 'restore-started', jobId: 'j1', plan }), {
      type: 'restore-progress',
      jobId: 'j1',
      readBytes: 1024 * 1024,
    });
    const status = restoreStatusMessage(running);
    expect(status.text).toBe(`:arrows_counterclockwise: Restoring ${INTO}: 1.0 MiB of 3.0 MiB read (33%)…`);
    expect(status.blocks[1]).toMatchObject({
      type: 'actions',
      elements: [{ action_id: 'dumptruck_cancel', value: 'j1', text: { text: 'Cancel restore' } }],
    });
    expect(restoreStatusMessage({ ...view, phase: { kind: 'finished', result: report } }).text).toBe(':white_check_mark: Restored in 4s.');
  });

  it('result: tables and row counts, the checksum, and what was kept of a replaced database', () => {
    const done = restoreResultMessage({
      ...view,
      phase: { kind: 'finished', result: { ...report, keptAs: 'app_copy_before_restore_20261128T080000Z' } },
    });
    expect(done.text).toBe(
      [
        `:white_check_mark: Restored ${INTO}: 2 tables, 2005 rows in 4s.`,
        `SHA-256: ${SHA} (matches the backup)`,
        'Size: 3.0 MiB stored, 10.0 MiB dump',
        '  public.events: 2000 rows',
        '  public.customers: 5 rows',
        'The database it replaced is kept as `app_copy_before_restore_20261128T080000Z`; drop it when you no longer need it.',
      ].join('\n'),
    );
    expect(restoreParentMessage({ ...view, phase: { kind: 'finished', result: report } }).text).toBe(
      `:white_check_mark: Restore of ${INTO} requested by <@U0ALICE>, approved by <@U0BOB>: restored (2 tables, 2005 rows).`,
    );
  });

  it('result: what earlier interrupted restores left on the server, to drop', () => {
    const one = restoreResultMessage({
      ...view,
      phase: { kind: 'finished', result: { ...report, leftovers: ['app_copy_restoring_1f2e3d4c'] } },
    });
    expect(one.text.split('\n').at(-1)).toBe(
      'Also on the server, left by an interrupted restore and with nobody connected: `app_copy_restoring_1f2e3d4c`; drop it once no restore of app-db is running.',
    );
    expect(one.blocks.at(-1)).toEqual({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: 'Also on the server, left by an interrupted restore and with nobody connected: `app_copy_restoring_1f2e3d4c`; drop it once no restore of app-db is running.',
        },
      ],
    });
    const two = restoreResultMessage({
      ...view,
      phase: { kind: 'finished', result: { ...report, leftovers: ['app_copy_restoring_00000001', 'app_copy_restoring_00000002'] } },
    });
    expect(two.text.split('\n').at(-1)).toBe(
      'Also on the server, left by an interrupted restore and with nobody connected: `app_copy_restoring_00000001`, `app_copy_restoring_00000002`; drop them once no restore of app-db is running.',
    );
  });

  it('a restore whose rows could not be counted says so, and still reads as restored', () => {
    const uncounted = { ...report, tables: [], rows: 0, notCounted: 'canceling statement due to statement timeout' };
    expect(restoreResultMessage({ ...view, phase: { kind: 'finished', result: uncounted } }).text.split('\n')[0]).toBe(
      `:white_check_mark: Restored ${INTO}: rows not counted (canceling statement due to statement timeout) in 4s.`,
    );
    expect(restoreParentMessage({ ...view, phase: { kind: 'finished', result: uncounted } }).text).toBe(
      `:white_check_mark: Restore of ${INTO} requested by <@U0ALICE>, approved by <@U0BOB>: restored (rows not counted (canceling statement due to statement timeout)).`,
    );
  });

  it('failure and cancel: in plain words, with what is left', () => {
    const failed = (error: DumptruckError, replace = false) =>
      restoreResultMessage(
        { ...view, plan: { ...plan, replace }, phase: { kind: 'failed', error } },
        { reason: 'restore failed: <@U0EVE> said so' },
      );
    expect(failed(new DumptruckError('MISSING_ROLES', 'restore', 'x')).text).toBe(
      `:x: Restore of ${INTO} failed: the server lacks roles the dump uses. Nothing half-restored is left.\nrestore failed: &lt;@U0EVE&gt; said so`,
    );
    expect(failed(new DumptruckError('CORRUPTED', 'restore', 'x'), true).text.split('\n')[0]).toBe(
      `:x: Restore of ${INTO} failed: the checksum does not match the backup. Nothing half-restored is left, and \`app_copy\` is as it was.`,
    );
    expect(failed(new CancelledError('cancelled by <@U0BOB>')).text).toBe(
      `:no_entry_sign: Restore of ${INTO} cancelled by <@U0BOB>. Nothing half-restored is left.`,
    );
  });
});
