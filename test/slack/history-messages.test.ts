import { describe, expect, it } from 'vitest';
import { historyNeedsStateReply, historyReply } from '../../src/slack/messages/history.js';
import { parseCommand } from '../../src/slack/commands/parse.js';
import type { RunRecord } from '../../src/state/store.js';

const base: RunRecord = {
  jobId: 'j1',
  target: 'app-db',
  key: 'dumptruck/app-db/2026/01/02/app-db_20260102T100000Z.sql.gz',
  outcome: 'succeeded',
  storedBytes: 5 * 1024 * 1024,
  durationMs: 65_000,
  finishedAt: new Date('2026-01-02T10:01:05Z'),
  trigger: { kind: 'slack', by: 'U0ALICE', detail: 'C0OPS' },
  requester: 'U0ALICE',
  thread: { channel: 'C0OPS', ts: '1700000001.000100', permalink: 'https://slack.test/archives/C0OPS/p1700000001000100' },
  error: undefined,
  replica: 'host:1',
};

describe('/backup history', () => {
  it('one line a run, newest first: when, outcome, size, duration, who, the thread; then the key or the error', () => {
    const failed: RunRecord = {
      ...base,
      key: undefined,
      outcome: 'failed',
      storedBytes: undefined,
      durationMs: 2_000,
      finishedAt: new Date('2026-01-01T03:00:02Z'),
      trigger: { kind: 'schedule', by: 'scheduler', detail: undefined },
      requester: undefined,
      thread: { channel: 'C0OPS', ts: '1700000000.000100', permalink: undefined },
      error: 'connect failed: cannot connect to db.internal:5432/app: password authentication failed\nCheck the password.',
    };
    expect(historyReply('app-db', [base, failed])).toBe(
      [
        '*Last 2 runs of `app-db`* (newest first)',
        '• <!date^1767348065^{date_short_pretty} {time}|2026-01-02 10:01 UTC> · :white_check_mark: stored · 5.0 MiB · in 1m 5s · by <@U0ALICE> · <https://slack.test/archives/C0OPS/p1700000001000100|thread>',
        '   `dumptruck/app-db/2026/01/02/app-db_20260102T100000Z.sql.gz`',
        '• <!date^1767236402^{date_short_pretty} {time}|2026-01-01 03:00 UTC> · :x: failed · in 2s · by the schedule · thread in <#C0OPS>',
        '   connect failed: cannot connect to db.internal:5432/app: password authentication failed',
      ].join('\n'),
    );
  });

  it('says so when there is nothing yet, and when the bot keeps no state database', () => {
    expect(historyReply('app-db', [])).toBe('No runs of `app-db` are recorded yet.');
    expect(historyReply('app-db', [{ ...base, thread: undefined }]).split('\n')[0]).toBe('*Last run of `app-db`* (newest first)');
    expect(historyNeedsStateReply()).toBe(
      'Run history is kept only when the bot has a state database: an admin adds `state: { url: postgres://..., password: { env: ... } }` to the config.',
    );
  });

  it('parses a target and an optional number of runs', () => {
    expect(parseCommand('history app-db', ['app-db'])).toEqual({ kind: 'history', target: 'app-db', count: 10 });
    expect(parseCommand('history app-db 25', ['app-db'])).toEqual({ kind: 'history', target: 'app-db', count: 25 });
    expect(() => parseCommand('history app-db 0', ['app-db'])).toThrow('`0` is not a number of runs from 1 to 50');
    expect(() => parseCommand('history app-db 51', ['app-db'])).toThrow('`51` is not a number of runs from 1 to 50');
    expect(() => parseCommand('history', ['app-db'])).toThrow(/which target\? `\/backup history <target> \[n\]` needs a target name/);
  });
});
