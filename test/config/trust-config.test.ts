import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config-problems.js';

const BASE = `
storage:
  bucket: backups
targets:
  app-db:
    url: postgres://backup@db.internal:5432/app
`;

const problems = (yaml: string) => configProblems(yaml);

describe('config: verification, retention, anomaly and schedules', () => {
  it('defaults: nothing verified after backups, no retention, anomaly at half the median of 5, under 1 KiB is empty', () => {
    const config = parseConfig(BASE, {});
    expect(config.verify).toEqual({ afterBackup: false });
    expect(config.anomaly).toEqual({ threshold: 0.5, window: 5, emptyBelow: 1024 });
    const t = config.targets['app-db']!;
    expect([t.verify, t.retention, t.schedule, t.timezone, t.anomaly]).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it('reads every key', () => {
    const config = parseConfig(
      `${BASE}    verify: true
    retention: { keepLast: 7, keepDays: 30 }
    schedule: "0 2 * * *"
    timezone: Asia/Seoul
    anomaly: { threshold: 0.3, emptyBelow: 4KiB }
verify:
  restoreUrl: postgres://verify@scratch:5432/postgres
  password: { env: VERIFY_PW }
  afterBackup: true
anomaly: { window: 10 }
`,
      {},
    );
    expect(config.verify).toEqual({
      restoreUrl: 'postgres://verify@scratch:5432/postgres',
      password: { env: 'VERIFY_PW' },
      afterBackup: true,
    });
    expect(config.anomaly).toEqual({ threshold: 0.5, window: 10, emptyBelow: 1024 });
    expect(config.targets['app-db']).toMatchObject({
      verify: true,
      retention: { keepLast: 7, keepDays: 30 },
      schedule: '0 2 * * *',
      timezone: 'Asia/Seoul',
      anomaly: { threshold: 0.3, emptyBelow: 4096 },
    });
  });

  it('reports every problem by path', () => {
    expect(
      problems(`${BASE}    retention: {}
    schedule: "every night"
    timezone: Mars/Olympus
  other:
    url: postgres://backup@db.internal:5432/other
    timezone: UTC
    anomaly: { threshold: 2 }
verify:
  restoreUrl: postgres://verify:hunter2@scratch:5432/postgres
`),
    ).toEqual([
      'targets.app-db.retention: expected keepLast, keepDays or both',
      expect.stringMatching(
        /^targets\.app-db\.schedule: expected a cron expression like "0 2 \* \* \*" \(minute hour day month weekday\), got "every night": /,
      ),
      'targets.app-db.timezone: expected an IANA time zone like "Europe/Berlin" or "UTC", got "Mars/Olympus"',
      expect.stringMatching(/^targets\.other\.anomaly\.threshold: /),
      'targets.other.timezone: only meaningful with schedule',
      'verify.restoreUrl: must not contain a password; give it as the password source instead ({ env: VAR } or { file: path })',
    ]);
  });

  it('a timezone without a schedule means nothing, and says so', () => {
    expect(problems(`${BASE}    timezone: UTC\n`)).toEqual(['targets.app-db.timezone: only meaningful with schedule']);
  });
});
