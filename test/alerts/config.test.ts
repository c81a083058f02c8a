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

  it('refuses, by path, a pattern that could backtrack catastrophically on a hostile alert', () => {
    expect(
      configProblems(`${base}alerts:
  patterns: { failure: ['backup (\\w+\\s?)+ failed', 'ok: BCK-\\d{3}'], ignore: ['status\\s*:?\\s*ok'] }
`),
    ).toEqual([
      'alerts.patterns.failure.0: expected a regular expression that runs in linear time, got "backup (\\\\w+\\\\s?)+ failed": a repeated group "(\\w+\\s?)+" contains another repeat ("\\w+"), so one long message could stall the bot. Use bounded repeats where two repeats meet ("\\s?" or "[^\\n]{0,80}" rather than "\\s*"), and no repeat inside a repeat',
      'alerts.patterns.ignore.0: expected a regular expression that runs in linear time, got "status\\\\s*:?\\\\s*ok": two unbounded repeats ("\\s*" and "\\s*") can match the same characters with nothing required between them, so one long message could stall the bot. Use bounded repeats where two repeats meet ("\\s?" or "[^\\n]{0,80}" rather than "\\s*"), and no repeat inside a repeat',
    ]);
  });

  it('posters: an allowlist of bot ids, app ids, user ids and bot-id:username pairs; a bare username is refused; empty by default', () => {
    expect(parseConfig(base, {}).alerts.posters).toEqual([]);
    expect(parseConfig(`${base}alerts:\n  posters: [B0AWSCHAT, A0GRAFANA, U0ADMIN, "B0HOOK:RDS alerts"]\n`, {}).alerts.posters).toEqual([
      'B0AWSCHAT',
      'A0GRAFANA',
      'U0ADMIN',
      'B0HOOK:RDS alerts',
    ]);
    const expected =
      'expected a bot id (B0123ABC), app id (A0123ABC), user id (U0123ABC) or a bot id with its username (B0123ABC:RDS alerts); a username alone can be used by any app';
    expect(configProblems(`${base}alerts:\n  posters: ['', "RDS alerts", "A0APP:RDS alerts", 7]\n`)).toEqual([
      `alerts.posters.0: ${expected}`,
      `alerts.posters.1: ${expected}`,
      `alerts.posters.2: ${expected}`,
      expect.stringMatching(/^alerts\.posters\.3: /),
    ]);
  });
});
