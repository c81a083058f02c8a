// `dumptruck backup` and `dumptruck history` with a state database, as users run them: the built
// bin, config files, the environment; the state DB is a database of its own on the shared PostgreSQL.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { configYaml, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';

const servers = testServers();
const prefix = uniquePrefix('cli-history');
const STATE_DB = 'cli_history_state';
const LIMITED = 'cli_history_limited';
const LIMITED_PW = 'limited-pw-9d2e7a';
let dir: string;

const targets = { 'app-db': { db: 'cli_history_src' } };
const state = (user: string, env: string) => `state:\n  url: ${servers.pg.url(STATE_DB, user)}\n  password: { env: ${env} }\n`;

function cli(args: string[], config: string): Promise<CliRun> {
  return runCli(args, {
    cwd: dir,
    env: { ...servers.env, STATE_PW: servers.pg.superuser.password, LIMITED_PW, DUMPTRUCK_CONFIG: join(dir, config) },
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-cli-history-'));
  await seedDatabase(servers.pg, 'cli_history_src', 500);
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.createDatabase(STATE_DB);
  const admin = await servers.pg.adminClient();
  try {
    await admin.query(`DROP ROLE IF EXISTS ${LIMITED}`);
    await admin.query(`CREATE ROLE ${LIMITED} LOGIN PASSWORD '${LIMITED_PW}'`);
  } finally {
    await admin.end();
  }
  await writeFile(
    join(dir, 'state.yml'),
    configYaml(servers, prefix, targets, `${state(servers.pg.superuser.user, 'STATE_PW')}  schema: cli_state\n`),
  );
  await writeFile(
    join(dir, 'limited.yml'),
    configYaml(servers, prefix, targets, `${state(LIMITED, 'LIMITED_PW')}  schema: limited_state\n`),
  );
  await writeFile(join(dir, 'plain.yml'), configYaml(servers, prefix, targets));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await servers.pg.dropDatabase(STATE_DB);
  const admin = await servers.pg.adminClient();
  try {
    await admin.query(`DROP ROLE IF EXISTS ${LIMITED}`);
  } finally {
    await admin.end();
  }
});

describe('dumptruck history', () => {
  it('a CLI backup is recorded; history lists it, newest first, one tab-separated line a run', async () => {
    const empty = await cli(['history', 'app-db'], 'state.yml');
    expect(empty).toMatchObject({ code: 0, stdout: 'app-db: no runs recorded yet\n' });

    const backup = await cli(['backup', 'app-db'], 'state.yml');
    expect(backup.code).toBe(0);
    const key = /^key: s3:\/\/[^/]+\/(\S+)$/m.exec(backup.stdout)![1]!;
    expect((await cli(['backup', 'app-db'], 'state.yml')).code).toBe(0);

    const history = await cli(['history', 'app-db', '1'], 'state.yml');
    expect(history.code).toBe(0);
    expect(history.stderr).toBe('');
    const lines = history.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const [finished, outcome, size, duration, trigger, what, thread] = lines[0]!.split('\t');
    expect(new Date(finished!).getTime()).toBeGreaterThan(Date.now() - 120_000);
    expect([outcome, thread]).toEqual(['succeeded', '-']);
    expect(size).toMatch(/^[\d.]+ (B|KiB|MiB)$/);
    expect(duration).toMatch(/^\d/);
    expect(trigger).toMatch(/^cli:.+/);
    // The newest of the two: not the first backup's key.
    expect(what).toMatch(new RegExp(`^${prefix}/app-db/`));
    expect(what).not.toBe(key);
    expect((await cli(['history', 'app-db'], 'state.yml')).stdout.trimEnd().split('\n')).toHaveLength(2);
  });

  it('without state: it says what to add, exit 2; a bad count is bad usage', async () => {
    const plain = await cli(['history', 'app-db'], 'plain.yml');
    expect(plain.code).toBe(2);
    expect(plain.stderr).toBe(
      'dumptruck: run history is kept only with a state database\nadd a `state:` section to the config: its url and, as a secret source, its password (see README)\n',
    );
    expect((await cli(['history', 'app-db', 'ten'], 'plain.yml')).code).toBe(2);
  });

  it('a state role that may not create the schema stops a backup before it dumps, naming the right', async () => {
    const run = await cli(['backup', 'app-db'], 'limited.yml');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `dumptruck: state failed: the state database 127.0.0.1:${servers.pg.port}/${STATE_DB}: role ${LIMITED} lacks the right CREATE ON DATABASE ${STATE_DB}, so dumptruck cannot create its tables there\n` +
        `GRANT CREATE ON DATABASE ${STATE_DB} TO ${LIMITED}; or an admin creates schema limited_state and its tables once, and dumptruck only uses them.\n`,
    );
    expect(run.stdout).toBe('');
    // A list needs no state database, so it still works.
    expect((await cli(['list', 'app-db'], 'limited.yml')).code).toBe(0);
  });
});
