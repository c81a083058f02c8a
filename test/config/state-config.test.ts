import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config-problems.js';

const BASE = `
storage: { bucket: backups }
targets:
  app-db: { url: 'postgres://backup@db.internal:5432/app' }
`;

describe('config state:', () => {
  it('is optional; with it, the schema defaults to dumptruck and the password is a secret source', () => {
    expect(parseConfig(BASE, {}).state).toBeUndefined();
    const c = parseConfig(
      `${BASE}state:\n  url: postgres://dumptruck@ops-db.internal:5432/dumptruck\n  password: { env: STATE_DB_PASSWORD }\n`,
      {},
    );
    expect(c.state).toEqual({
      url: 'postgres://dumptruck@ops-db.internal:5432/dumptruck',
      password: { env: 'STATE_DB_PASSWORD' },
      schema: 'dumptruck',
      staleAfterMs: 120_000,
    });
    expect(parseConfig(`${BASE}state: { url: 'postgres://d@h/db', schema: ops_state }\n`, {}).state?.schema).toBe('ops_state');
  });

  it('reports each problem by its path, never echoing a password', () => {
    const problems = configProblems(
      `${BASE}state:\n  url: postgres://dumptruck:hunter22@ops-db/dumptruck\n  schema: Bad-Name\n  pasword: { env: X }\n`,
    );
    expect(problems).toEqual([
      'state.url: must not contain a password; give it as the password source instead ({ env: VAR } or { file: path })',
      'state.schema: expected a lowercase schema name ([a-z_][a-z0-9_]*, at most 63 characters)',
      expect.stringMatching(/^state: unknown key.*pasword/),
    ]);
    expect(problems.join('\n')).not.toContain('hunter22');
    expect(configProblems(`${BASE}state: {}\n`)).toEqual([expect.stringMatching(/^state\.url: /)]);
  });
});
