import { describe, expect, it } from 'vitest';
import type { AlertRun } from '../../src/alerts/reruns.js';
import type { Job } from '../../src/jobs/queue.js';
import {
  ambiguousTargetReply,
  channelRefusedReply,
  exhaustedReply,
  followedFinishedReply,
  followingReply,
  joinedReply,
  restartingAlertReply,
  retryingReply,
  stoppedReply,
  unknownTargetReply,
} from '../../src/slack/messages/alerts.js';
import { fakeResult } from '../jobs/fake-runner.js';

const thread = { channel: 'C0ALERTS', ts: '1700000001.000100', permalink: 'https://fake.slack.com/archives/C0ALERTS/p1700000001000100' };
const now = new Date('2024-05-01T03:10:00Z');

function run(fields: Partial<AlertRun>): AlertRun {
  return {
    id: 'r1',
    target: 'app-db',
    alert: { channel: 'C0ALERTS', ts: '1700000001.000100', by: 'B0AWS' },
    state: 'active',
    attempt: 1,
    attempts: 3,
    job: undefined,
    startedAt: new Date('2024-05-01T03:00:00Z'),
    endedAt: undefined,
    nextAttemptAt: undefined,
    result: undefined,
    error: undefined,
    joined: 0,
    ...fields,
  };
}

const job = (state: 'queued' | 'running') =>
  ({ id: 'job1', target: 'app-db', state, trigger: { kind: 'slack', by: 'U0ALICE' } }) as unknown as Job;

describe('alert thread messages', () => {
  it('unknown target: what it saw and how to map it', () => {
    const m = unknownTargetReply({ phrase: 'backup of pg-9xyz failed' }, ['pg-9xyz', 'ap-northeast-2']);
    expect(m.text).toBe(
      ':grey_question: This reads as a backup failure ("backup of pg-9xyz failed"), but no configured target\'s name or `alertNames` appears in it, so nothing was started. Identifiers in it: `pg-9xyz`, `ap-northeast-2`. To rerun backups on alerts like this one, add the database\'s identifier to its target in the config, e.g. `alertNames: [pg-9xyz]`.',
    );
    expect(m.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: m.text } }]);
    expect(unknownTargetReply({ phrase: '백업 실패' }, []).text).toContain(
      "nothing was started. To rerun backups on alerts like this one, add the database's identifier to its target in the config, e.g. `alertNames: [&lt;identifier&gt;]`.",
    );
  });

  it('ambiguous: every target it names and through which identifier', () => {
    expect(
      ambiguousTargetReply({ phrase: 'backup failed' }, [
        { target: 'app-db', via: 'app-db' },
        { target: 'billing', via: 'pg-32lqva' },
      ]).text,
    ).toBe(
      ':grey_question: This reads as a backup failure ("backup failed"), but it names more than one target: `app-db`, `billing` (as `pg-32lqva`). Nothing was started. Make each target\'s `alertNames` match only its own database, or run `/backup run <target>` for the right one.',
    );
  });

  it('a target whose channels do not include the alert channel', () => {
    expect(channelRefusedReply({ phrase: 'backup failed' }, 'app-db', 'C0ALERTS', ['C0OPS']).text).toBe(
      ':no_entry_sign: This reads as a backup failure of `app-db` ("backup failed"), but `app-db` may only be backed up from <#C0OPS>, so nothing was started here. Add <#C0ALERTS> to `targets.app-db.channels` to rerun it on these alerts, or run `/backup run app-db` in an allowed channel.',
    );
  });

  it("the alert's own words are escaped: they cannot mention anyone", () => {
    expect(unknownTargetReply({ phrase: 'backup failed <!channel>' }, []).text).toContain('("backup failed &lt;!channel&gt;")');
  });

  it('joined: running, queued, waiting to retry, finished, gave up, stopped', () => {
    expect(joinedReply(run({ job: job('running') }), thread, now, 600_000).text).toBe(
      ':link: Already on it: the backup of `app-db` started for an earlier alert is running (attempt 1 of 3). Follow it in the <https://fake.slack.com/archives/C0ALERTS/p1700000001000100|thread>; this alert does not start another.',
    );
    expect(joinedReply(run({ job: job('queued') }), { channel: 'C0ALERTS', ts: '1.1' }, now, 600_000).text).toBe(
      ':link: Already on it: the backup of `app-db` started for an earlier alert is queued (attempt 1 of 3). Follow it in the thread in <#C0ALERTS>; this alert does not start another.',
    );
    expect(joinedReply(run({ attempt: 1, nextAttemptAt: new Date('2024-05-01T03:12:00Z') }), thread, now, 600_000).text).toContain(
      'is waiting to retry (attempt 2 of 3 at 2024-05-01 03:12 UTC).',
    );
    const ended = new Date('2024-05-01T03:07:00Z');
    expect(joinedReply(run({ state: 'succeeded', endedAt: ended, result: fakeResult('app-db') }), thread, now, 600_000).text).toBe(
      ':link: A backup of `app-db` finished 3m 0s ago after an earlier alert: `dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz`. See the <https://fake.slack.com/archives/C0ALERTS/p1700000001000100|thread>; no new run within `alerts.window` (10m 0s).',
    );
    expect(joinedReply(run({ state: 'failed', endedAt: ended }), thread, now, 600_000).text).toBe(
      ':link: The reruns of `app-db` after an earlier alert gave up 3m 0s ago (3 attempts failed; see the <https://fake.slack.com/archives/C0ALERTS/p1700000001000100|thread>). No new run within `alerts.window` (10m 0s): fix the cause, then `/backup run app-db`.',
    );
    expect(joinedReply(run({ state: 'stopped', endedAt: ended }), thread, now, 600_000).text).toBe(
      ':link: The rerun of `app-db` after an earlier alert was stopped 3m 0s ago (see the <https://fake.slack.com/archives/C0ALERTS/p1700000001000100|thread>). No new run within `alerts.window` (10m 0s); `/backup run app-db` starts one.',
    );
  });

  it('following a backup someone else started, and its end', () => {
    expect(
      followingReply(job('running'), { channel: 'C0OPS', ts: '9.9', permalink: 'https://x/p9' }, { attempt: 1, attempts: 3 }).text,
    ).toBe(
      ':eyes: A backup of `app-db` is already running, requested by <@U0ALICE>: this alert follows it (<https://x/p9|thread>) instead of starting another. If it fails, I retry here.',
    );
    expect(followingReply(job('queued'), undefined, { attempt: 3, attempts: 3 }).text).toBe(
      ':eyes: A backup of `app-db` is already queued, requested by <@U0ALICE>: this alert follows it instead of starting another.',
    );
    expect(followedFinishedReply(fakeResult('app-db'), { channel: 'C0OPS', ts: '9.9', permalink: 'https://x/p9' }).text).toBe(
      ':white_check_mark: That backup of `app-db` finished: `dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz`. Details and the download link are in its <https://x/p9|thread>.',
    );
  });

  it('each retry, and giving up with the escalation mentions', () => {
    expect(retryingReply('app-db', { attempt: 2, attempts: 3, delayMs: 120_000 }).text).toBe(
      ':repeat: Attempt 1 of 3 failed. Retrying the backup of `app-db` in 2m 0s (attempt 2 of 3).',
    );
    expect(
      retryingReply('app-db', { attempt: 3, attempts: 3, delayMs: 240_000 }, 'queue failed: 20 backups are already waiting').text,
    ).toBe(
      ':repeat: Attempt 2 of 3 failed: queue failed: 20 backups are already waiting. Retrying the backup of `app-db` in 4m 0s (attempt 3 of 3).',
    );
    expect(
      exhaustedReply('app-db', 3, 'connect failed: password authentication failed for user "backup"', ['<@U0DBA>', '<!subteam^S0ONCALL>'])
        .text,
    ).toBe(
      ':rotating_light: Giving up: the backup of `app-db` failed all 3 attempts after this alert, so there is no fresh backup. Last failure: connect failed: password authentication failed for user "backup"\n<@U0DBA> <!subteam^S0ONCALL> please take a look. Once the cause is fixed, `/backup run app-db` runs it again.',
    );
    expect(exhaustedReply('app-db', 1, 'x', []).text).toBe(
      ':rotating_light: Giving up: the backup of `app-db` failed its only attempt after this alert, so there is no fresh backup. Last failure: x\nNobody is set to be called (`alerts.escalate`); please take a look. Once the cause is fixed, `/backup run app-db` runs it again.',
    );
  });

  it('stopped and restarting', () => {
    expect(stoppedReply('app-db', 'cancelled').text).toBe(
      ':no_entry_sign: No more automatic retries of `app-db` for this alert: the backup was cancelled.',
    );
    expect(stoppedReply('app-db', 'shutdown').text).toBe(
      ':pause_button: No more attempts at `app-db` for this alert: the bot is restarting. Run `/backup run app-db` if a backup is still needed.',
    );
    expect(restartingAlertReply('app-db').text).toMatch(/^Not started: .*`\/backup run app-db`/);
  });
});
