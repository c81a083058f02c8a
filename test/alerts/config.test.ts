import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config-problems.js';

const base = `
storage: { bucket: backups }
targets:
  app-db: { url: "postgres://backup@db:5432/app", alertNames: [pg-32lqva] }
`;

describe('alerts config', () => {
  it('defaults: 10 minute window, no patterns, nobody to escalate to', () => {
    expect(parseConfig(base, {}).alerts).toMatchObject({
      channels: [],
      retry: { attempts: 3, backoffMs: 120_000 },
      windowMs: 600_000,
      patterns: { failure: [], ignore: [] },
      escalate: [],
    });
  });

  it('window, patterns and escalation; bare user and group ids become mentions', () => {
    const c = parseConfig(
      `${base}alerts:
  channels: [C0ALERTS, G0PRIVATE]
  retry: { attempts: 2, backoff: 30s }
  window: 15m
  patterns:
    failure: ['dump did not finish', 'BCK-\\d{3}']
    ignore: ['^\\[TEST\\]']
  escalate: ["<@U0DBA>", U0ALICE, W0ENT, S0ONCALL, "<!subteam^S0DBA|@dba>", "<!here>"]
`,
      {},
    );
    expect(c.alerts).toMatchObject({
      channels: ['C0ALERTS', 'G0PRIVATE'],
      retry: { attempts: 2, backoffMs: 30_000 },
      windowMs: 900_000,
      patterns: { failure: ['dump did not finish', 'BCK-\\d{3}'], ignore: ['^\\[TEST\\]'] },
      escalate: ['<@U0DBA>', '<@U0ALICE>', '<@W0ENT>', '<!subteam^S0ONCALL>', '<!subteam^S0DBA|@dba>', '<!here>'],
    });
  });

  it('reports every bad pattern, mention and window by path, at once', () => {
    expect(
      configProblems(`${base}alerts:
  window: soon
  patterns: { failure: ['backup (failed', ''], ignore: ['[z-a]'], other: [] }
  escalate: ['@dba', '<#C0OPS>']
`),
    ).toEqual([
      'alerts.window: expected a duration like "30s", "2m", "6h" or "7d", got "soon"',
      'alerts.patterns.failure.0: expected a regular expression, got "backup (failed": Invalid regular expression: /backup (failed/iu: Unterminated group',
      'alerts.patterns.failure.1: expected a regular expression, got an empty string',
      'alerts.patterns.ignore.0: expected a regular expression, got "[z-a]": Invalid regular expression: /[z-a]/iu: Range out of order in character class',
      'alerts.patterns: unknown key "other"',
      'alerts.escalate.0: expected a user or user group to mention: <@U0123ABC>, <!subteam^S0123ABC>, U0123ABC or S0123ABC',
      'alerts.escalate.1: expected a user or user group to mention: <@U0123ABC>, <!subteam^S0123ABC>, U0123ABC or S0123ABC',
    ]);
  });
});
