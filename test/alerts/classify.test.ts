import { describe, expect, it } from 'vitest';
import { BUILT_IN_FAILURE, BUILT_IN_IGNORE, classifyAlert, compileRules } from '../../src/alerts/classify.js';
import { messageWords, SCAN_LIMITS } from '../../src/alerts/words.js';
import { catastrophicReason } from '../../src/config/pattern-safety.js';

const kind = (text: string, rules = compileRules()) => classifyAlert(text, rules).kind;

describe('classifyAlert: built-in rules', () => {
  it('every failure rule recognises its own examples', () => {
    for (const rule of BUILT_IN_FAILURE) {
      for (const example of rule.examples)
        expect({ example, result: classifyAlert(example) }).toEqual({
          example,
          result: { kind: 'failure', rule: expect.any(String), phrase: expect.any(String) },
        });
    }
  });

  it('every ignore rule ignores its own examples', () => {
    for (const rule of BUILT_IN_IGNORE) {
      for (const example of rule.examples) expect({ example, kind: kind(example) }).toEqual({ example, kind: 'ignored' });
    }
  });

  it.each([
    // English, as providers and monitoring tools word it
    'Backup failed',
    'backup failure',
    'Backup job failed',
    'Backup job 5f1e-22 for arn:aws:rds:ap-northeast-2:1234:db:app-db-prod failed.',
    'Failed to create backup of app-db',
    'Failed to create snapshot for DB instance pg-32lqva',
    'Automated backup of DB instance pg-32lqva failed',
    'Amazon RDS automated backup for pg-32lqva could not be completed',
    'Cloud SQL: backup run for instance orders-db was unsuccessful',
    'Backup of app-db.internal.example.com failed',
    'Backup error on app-db: disk full',
    '[FIRING:1] BackupFailed app-db (backup failed)',
    '*Backup* _failed_ for `app-db`',
    'BACKUP_JOB_FAILED app-db',
    'Error during automated backup of pg-1',
    'Failed backup for pg-32lqva',
    'pg_dump failed: connection refused',
    'AWS Backup job 1a2b\nResource: app-db\nState: FAILED',
    'Datadog: [Triggered] Backup failures on app-db',
    'Backup completed with errors',
    // Korean
    '백업 실패',
    '[NCP] Cloud DB for PostgreSQL 백업 실패: app-db',
    '백업이 실패했습니다 (pg-32lqva)',
    'pg-32lqva의 백업에 실패하였습니다',
    '백업 작업 실패 - app-db',
    '자동 백업 중 오류가 발생했습니다',
    '스냅샷 생성에 실패했습니다',
    '백업을 완료하지 못했습니다',
    '백업이 완료되지 않았습니다',
    '백업 시작 실패',
  ])('failure: %s', (text) => {
    expect(kind(text)).toBe('failure');
  });

  it.each([
    'Backup completed',
    'Backup completed successfully for app-db',
    'Backup succeeded',
    'backup started',
    'Backup in progress',
    'Automated backup of pg-32lqva is running',
    'Starting automated backup of app-db',
    'Backup job completed. Failed: 0',
    'Backups: 12 succeeded, 0 failed',
    '[RESOLVED] Backup failed for app-db',
    'RESOLVED: backup failure on app-db',
    'Recovered: [Triggered] Backup failures on app-db',
    '백업 성공',
    '백업 완료',
    '백업이 완료되었습니다',
    '백업 시작',
    '백업을 시작합니다',
    '백업 진행 중',
    '[복구됨] 백업 실패: app-db',
    '[해결됨] 백업 실패',
    '백업 결과: 성공 3건, 실패 0건',
  ])('not a failure: %s', (text) => {
    expect(kind(text)).not.toBe('failure');
  });

  it.each([
    'Disk usage 91% on app-db',
    'Deploy failed',
    'CPU alarm for pg-32lqva',
    'backup window changed to 03:00',
    'The backups bucket has 12 objects',
    '로그인 실패 5회',
    '',
  ])('unrelated: %s', (text) => {
    expect(kind(text)).toBe('other');
  });

  it('says which rule and phrase decided', () => {
    expect(classifyAlert('RDS: Automated backup of pg-1 failed.')).toEqual({
      kind: 'failure',
      rule: 'backup failed',
      phrase: 'backup of pg-1 failed',
    });
    expect(classifyAlert('[RESOLVED] backup failed')).toEqual({ kind: 'ignored', rule: 'resolved', phrase: 'resolved' });
    expect(classifyAlert('백업이 실패했습니다')).toEqual({ kind: 'failure', rule: '백업 실패', phrase: '백업이 실패' });
  });
});

describe("classifyAlert: teams' patterns", () => {
  const rules = compileRules({ failure: ['dump did not finish', 'BCK-\\d{3}'], ignore: ['test alert', 'staging'] });

  it('adds failure wordings, matched case-insensitively on the words as shown too', () => {
    expect(classifyAlert('Nightly dump did NOT finish on app-db', rules)).toEqual({
      kind: 'failure',
      rule: 'alerts.patterns.failure: dump did not finish',
      phrase: 'dump did NOT finish',
    });
    expect(kind('code bck-042 on app-db', rules)).toBe('failure');
  });

  it('ignore patterns win over every failure rule, built-in or own', () => {
    expect(classifyAlert('TEST ALERT: backup failed', rules)).toEqual({
      kind: 'ignored',
      rule: 'alerts.patterns.ignore: test alert',
      phrase: 'TEST ALERT',
    });
    expect(kind('staging: dump did not finish', rules)).toBe('ignored');
  });

  it('built-in rules still apply beside them', () => {
    expect(kind('backup failed', rules)).toBe('failure');
    expect(kind('backup completed', rules)).toBe('ignored');
  });
});

describe('classifyAlert: hostile messages', () => {
  // Runs of spacing that survive NFKC and Slack's text (not folded to a plain space) after the
  // words the rules start from: with `\\s*` chains each of these took 10-20 s.
  const runs = ['\u1680', '\r', '\u2028', '\v', '\ufeff', ' \u1680'];
  const hostile = [
    ...runs.map((ws) => `app-db 백업${ws.repeat(40_000 / ws.length)}x`),
    ...runs.map((ws) => `app-db backup status${ws.repeat(40_000 / ws.length)}x`),
    `실패한${'\u1680'.repeat(40_000)}x`,
    `${'backup '.repeat(3_000)}status${'\v'.repeat(20_000)}`,
    `${'백업 '.repeat(10_000)}x`,
  ];

  it('a 40 KB alert is classified quickly, whatever it holds', () => {
    for (const text of hostile) {
      const started = performance.now();
      classifyAlert(messageWords({ text }));
      // Generous: linear rules take a few milliseconds; the old ones took seconds.
      expect(performance.now() - started, JSON.stringify(text.slice(0, 30))).toBeLessThan(500);
    }
  });

  it('reads at most SCAN_LIMITS: a line past its limit, and text past the total, are not read', () => {
    expect(SCAN_LIMITS).toEqual({ lineChars: 1_000, totalChars: 8_000 });
    expect(kind(`app-db ${'x'.repeat(1_000)} backup failed`)).toBe('other');
    expect(kind(`${'x'.repeat(990)}\napp-db backup failed`)).toBe('failure');
    expect(kind(`${'ok\n'.repeat(3_000)}app-db backup failed`)).toBe('other');
    expect(messageWords({ text: `${'y'.repeat(2_000)}\n`.repeat(20) })).toHaveLength(SCAN_LIMITS.totalChars);
  });

  it('still understands the wordings whose spacing the rules no longer repeat', () => {
    for (const text of [
      'app-db 백업  이   완료되었습니다',
      'Backup job 1a2b\nState :\u2003FAILED',
      '실패한\u3000자동 백업',
      '백업을\u1680완료하지\u1680못했습니다',
    ]) {
      expect({ text, kind: kind(text) }).not.toEqual({ text, kind: 'other' });
    }
  });

  it("every built-in rule passes the check that teams' patterns must pass at load", () => {
    for (const rule of [...BUILT_IN_FAILURE, ...BUILT_IN_IGNORE])
      expect({ rule: rule.name, why: catastrophicReason(rule.regex.source) }).toEqual({ rule: rule.name, why: undefined });
  });
});
