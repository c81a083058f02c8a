import { describe, expect, it } from 'vitest';
import { parseCommand as parseCli } from '../../src/cli/main.js';
import { createSnapshotPrinter, snapshotListLines, snapshotResultLines } from '../../src/cli/snapshot.js';
import { CancelledError, DumptruckError, TimeoutError } from '../../src/errors.js';
import type { SnapshotResult } from '../../src/snapshots/types.js';
import { parseCommand } from '../../src/slack/commands/parse.js';
import {
  applySnapshotEvent,
  snapshotParentMessage,
  snapshotResultMessage,
  snapshotStatusMessage,
  snapshotsReply,
  type SnapshotPhase,
  type SnapshotView,
} from '../../src/slack/messages/snapshot.js';

const ID = 'dumptruck-app-db-20240501t030000z';
const view = (phase: SnapshotPhase): SnapshotView => ({
  jobId: 'job1',
  target: 'app-db',
  trigger: { kind: 'slack', by: 'U1' },
  instanceId: 'app-db-prod',
  phase,
});
const started = { target: 'app-db', instanceId: 'app-db-prod', region: 'eu-west-1', identifier: ID, status: 'creating' };
const progress = { status: 'creating', percent: 42, elapsedMs: 95_000 };
const result: SnapshotResult = {
  target: 'app-db',
  instanceId: 'app-db-prod',
  region: 'eu-west-1',
  identifier: ID,
  arn: `arn:aws:rds:eu-west-1:123456789012:snapshot:${ID}`,
  allocatedGiB: 100,
  createdAt: new Date('2024-05-01T03:00:04Z'),
  startedAt: new Date('2024-05-01T03:00:00Z'),
  finishedAt: new Date('2024-05-01T03:12:00Z'),
  durationMs: 720_000,
};

describe('snapshot thread messages', () => {
  it('folds events into the view', () => {
    let v = view({ kind: 'queued', position: 2 });
    v = applySnapshotEvent(v, { type: 'snapshot-started', jobId: 'job1', info: started });
    v = applySnapshotEvent(v, { type: 'snapshot-progress', jobId: 'job1', progress });
    expect(v.phase).toEqual({ kind: 'running', started, progress });
    const failed = applySnapshotEvent(v, {
      type: 'failed',
      jobId: 'job1',
      target: 'app-db',
      error: new CancelledError('cancelled by <@U2>'),
    });
    expect(failed.phase).toMatchObject({ kind: 'failed', started, progress });
  });

  it('parent: while active, and with each outcome', () => {
    expect(snapshotParentMessage(view({ kind: 'queued', position: 1 })).text).toBe(
      ':camera_with_flash: Snapshot of `app-db` (RDS instance `app-db-prod`) requested by <@U1>. Progress in the thread.',
    );
    expect(snapshotParentMessage(view({ kind: 'finished', result })).text).toBe(
      `:white_check_mark: Snapshot of \`app-db\` requested by <@U1> is available: \`${ID}\` (100 GiB).`,
    );
    expect(snapshotParentMessage(view({ kind: 'failed', error: new CancelledError('cancelled by <@U2>') })).text).toBe(
      ':no_entry_sign: Snapshot of `app-db` requested by <@U1>: cancelled.',
    );
    expect(snapshotParentMessage(view({ kind: 'failed', error: new DumptruckError('RDS_SNAPSHOT_QUOTA', 'snapshot', 'quota') })).text).toBe(
      ':x: Snapshot of `app-db` requested by <@U1> failed (stage snapshot).',
    );
  });

  it("status: queued, requesting, the provider's status and percent with a Stop following button", () => {
    expect(snapshotStatusMessage(view({ kind: 'queued', position: 3 })).text).toBe(
      ':hourglass_flowing_sand: The snapshot of `app-db` is queued: position 3, 2 ahead of it.',
    );
    expect(snapshotStatusMessage(view({ kind: 'running' })).text).toBe(
      ':arrow_forward: Requesting a snapshot of RDS instance `app-db-prod`…',
    );
    const running = snapshotStatusMessage(view({ kind: 'running', started, progress }));
    expect(running.text).toBe(`:arrow_forward: Snapshot \`${ID}\` of \`app-db-prod\` (eu-west-1): creating, 42%, 1m 35s elapsed.`);
    expect(running.blocks[1]).toEqual({
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: '*Status*\ncreating' },
        { type: 'mrkdwn', text: '*Progress*\n42%' },
        { type: 'mrkdwn', text: '*Elapsed*\n1m 35s' },
      ],
    });
    expect(running.blocks[2]).toEqual({
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: 'dumptruck_cancel',
          text: { type: 'plain_text', text: 'Stop following' },
          value: 'job1',
          style: 'danger',
          confirm: {
            title: { type: 'plain_text', text: 'Stop following this snapshot?' },
            text: { type: 'mrkdwn', text: 'dumptruck stops following the snapshot of `app-db`; a snapshot AWS has started goes on there.' },
            confirm: { type: 'plain_text', text: 'Stop following' },
            deny: { type: 'plain_text', text: 'Keep following' },
          },
        },
      ],
    });
    expect(snapshotStatusMessage(view({ kind: 'finished', result })).text).toBe(':white_check_mark: Available after 12m 0s.');
    expect(
      snapshotStatusMessage(view({ kind: 'failed', error: new TimeoutError('timed out after 6h (queue.jobTimeout)'), started, progress }))
        .text,
    ).toBe(':no_entry_sign: Stopped following after 1m 35s: timed out.');
  });

  it('result: identifier, instance, size, time, duration and retention in the plain text', () => {
    const message = snapshotResultMessage(
      view({
        kind: 'finished',
        result: {
          ...result,
          pruned: { keepLast: 2, kept: [ID, 'b'], deleted: ['c'], skipped: [], failed: [{ identifier: 'd', message: 'AWS denied it' }] },
        },
      }),
    );
    expect(message.text).toBe(
      [
        ':white_check_mark: Snapshot of `app-db` is available.',
        `Identifier: ${ID}`,
        'Instance: app-db-prod (eu-west-1)',
        'Size: 100 GiB allocated',
        'Created: 2024-05-01 03:00 UTC',
        'Duration: 12m 0s',
        'Retention (keep the last 2): deleted c; could not delete d: AWS denied it.',
      ].join('\n'),
    );
  });

  it('result: a failure with the reason escaped, a cancel that says the snapshot goes on', () => {
    const failed = snapshotResultMessage(view({ kind: 'failed', error: new DumptruckError('RDS_INSTANCE_STATE', 'snapshot', 'x') }), {
      reason: 'snapshot failed: instance app-db-prod is stopped; snapshots need it available <!channel>',
    });
    expect(failed.text).toBe(
      ':x: Snapshot of `app-db` failed (stage `snapshot`).\nsnapshot failed: instance app-db-prod is stopped; snapshots need it available &lt;!channel&gt;',
    );
    expect(snapshotResultMessage(view({ kind: 'failed', error: new CancelledError('cancelled by <@U2>'), started })).text).toBe(
      `:no_entry_sign: Snapshot of \`app-db\`: cancelled by <@U2>. Stopped following it. The snapshot \`${ID}\` itself goes on at AWS; \`/backup snapshots app-db\` shows how it ends.`,
    );
    expect(snapshotResultMessage(view({ kind: 'failed', error: new CancelledError('cancelled by <@U2>') })).text).toBe(
      ':no_entry_sign: Snapshot of `app-db`: cancelled by <@U2>. No snapshot was requested.',
    );
  });

  it('the ephemeral list', () => {
    const base = { arn: undefined, percent: undefined, allocatedGiB: 100, tags: {}, requestedBy: undefined };
    expect(
      snapshotsReply('app-db', 'app-db-prod', [
        {
          ...base,
          identifier: 'dumptruck-app-db-2',
          type: 'manual',
          status: 'creating',
          percent: 40,
          createdAt: undefined,
          ours: true,
          requestedBy: 'slack:U1',
        },
        {
          ...base,
          identifier: 'rds:app-db-prod-2024-05-01-03-00',
          type: 'automated',
          status: 'available',
          createdAt: new Date('2024-05-01T03:00:00Z'),
          ours: false,
        },
      ]),
    ).toBe(
      [
        '*Snapshots of `app-db`* (RDS instance `app-db-prod`), newest first:',
        '• `dumptruck-app-db-2`: manual, by dumptruck for slack:U1, creating 40%, 100 GiB',
        '• `rds:app-db-prod-2024-05-01-03-00`: automated, available, 100 GiB, 2024-05-01 03:00 UTC',
      ].join('\n'),
    );
    expect(snapshotsReply('app-db', 'app-db-prod', [])).toBe(
      'No snapshots of `app-db-prod` (`app-db`) found. `/backup snapshot app-db` takes one.',
    );
  });
});

describe('snapshot commands', () => {
  it('Slack and CLI parse them like the other per-target commands', () => {
    expect(parseCommand('snapshot app-db', ['app-db'])).toEqual({ kind: 'snapshot', target: 'app-db' });
    expect(parseCommand('SNAPSHOTS app-db', ['app-db'])).toEqual({ kind: 'snapshots', target: 'app-db' });
    expect(() => parseCommand('snapshot', ['app-db'])).toThrow('which target? `/backup snapshot <target>` needs a target name');
    expect(() => parseCommand('snapshot app-db now', ['app-db'])).toThrow(
      'unexpected extra words after `/backup snapshot <target>`: `now`',
    );
    expect(parseCli(['snapshot', 'app-db'])).toEqual({ name: 'snapshot', target: 'app-db' });
    expect(parseCli(['snapshots', 'app-db'])).toEqual({ name: 'snapshots', target: 'app-db' });
    expect(() => parseCli(['snapshot'])).toThrow('snapshot takes <target>');
  });

  it('the CLI printer: one line redrawn on a TTY, a line per change otherwise', () => {
    const out: string[] = [];
    const plain = createSnapshotPrinter({ isTTY: false, write: (t) => out.push(t) }, 'app-db');
    plain({ type: 'snapshot-started', jobId: 'j', info: started });
    for (const percent of [0, 0, 40, 100])
      plain({
        type: 'snapshot-progress',
        jobId: 'j',
        progress: { status: percent === 100 ? 'available' : 'creating', percent, elapsedMs: 15_000 },
      });
    expect(out).toEqual([
      `app-db: creating snapshot ${ID} of RDS instance app-db-prod (eu-west-1)\n`,
      'app-db: creating 0%, 15s\n',
      'app-db: creating 40%, 15s\n',
      'app-db: available 100%, 15s\n',
    ]);
    const tty: string[] = [];
    const live = createSnapshotPrinter({ isTTY: true, write: (t) => tty.push(t) }, 'app-db');
    live({ type: 'snapshot-progress', jobId: 'j', progress });
    live({ type: 'finished', jobId: 'j', result });
    expect(tty).toEqual(['\r\x1b[2Kapp-db: creating 42%, 1m 35s', '\n']);
    expect(snapshotResultLines(result)).toEqual([
      'app-db: snapshot available after 12m 0s',
      `identifier: ${ID}`,
      'instance: app-db-prod (eu-west-1)',
      `arn: arn:aws:rds:eu-west-1:123456789012:snapshot:${ID}`,
      'size: 100 GiB allocated',
      'created: 2024-05-01T03:00:04.000Z',
    ]);
    expect(snapshotListLines('app-db', [])).toEqual(["no snapshots of app-db's instance yet"]);
  });
});
