import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { reportChannelOf } from '../../src/slack/schedule.js';
import { configProblems } from '../helpers/config-problems.js';

const BASE = `
storage:
  bucket: backups
targets:
  app-db:
    url: postgres://backup@db.internal:5432/app
`;

describe('config: targets.<name>.reportChannel', () => {
  it('where scheduled runs post: reportChannel, else the first of channels, else nowhere', () => {
    const target = (extra: string) => parseConfig(`${BASE}${extra}`, {}).targets['app-db']!;
    expect(reportChannelOf(target('    schedule: "0 2 * * *"\n    reportChannel: C0REPORTS\n'))).toBe('C0REPORTS');
    expect(reportChannelOf(target('    channels: [C0OPS, C0DBA]\n    reportChannel: C0DBA\n'))).toBe('C0DBA');
    expect(reportChannelOf(target('    channels: [C0OPS, C0DBA]\n'))).toBe('C0OPS');
    expect(reportChannelOf(target(''))).toBeUndefined();
  });

  it('a channel id, and one of channels when the target limits them (links are only posted there)', () => {
    expect(configProblems(`${BASE}    reportChannel: ops\n`)).toEqual([
      'targets.app-db.reportChannel: expected a Slack channel id like C0123ABC',
    ]);
    expect(configProblems(`${BASE}    channels: [C0OPS]\n    reportChannel: C0ELSE\n`)).toEqual([
      'targets.app-db.reportChannel: expected one of channels (C0OPS), got "C0ELSE"',
    ]);
  });
});
