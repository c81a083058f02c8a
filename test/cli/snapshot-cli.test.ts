// `dumptruck snapshot` and `dumptruck snapshots` as cron runs them: the built bin, a config
// file, credentials from the environment (moto's dummy keys), the RDS API on moto's server.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { startMoto, type MotoServer } from '../helpers/moto.js';
import { createInstance, rdsAdmin } from '../helpers/rds.js';

let moto: MotoServer;
let admin: RDSClient;
let dir: string;

function cli(args: string[]): Promise<CliRun> {
  return runCli(args, {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml'),
      AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
    },
  });
}

beforeAll(async () => {
  moto = await startMoto();
  admin = rdsAdmin(moto);
  await createInstance(admin, 'cli-db-prod');
  dir = await mkdtemp(join(tmpdir(), 'dt-snap-cli-'));
  await writeFile(
    join(dir, 'dumptruck.yml'),
    `storage: { bucket: backups }
targets:
  cli-db:
    url: postgres://backup@127.0.0.1:5432/cli
    rds: { instanceId: cli-db-prod, region: us-east-1, endpoint: ${moto.endpoint} }
  ghost:
    url: postgres://backup@127.0.0.1:5432/ghost
    rds: { instanceId: ghost-db, region: us-east-1, endpoint: ${moto.endpoint} }
  plain:
    url: postgres://backup@127.0.0.1:5432/plain
`,
  );
}, 60_000);

afterAll(async () => {
  admin?.destroy();
  await moto?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dumptruck snapshot / snapshots', () => {
  it('snapshot creates and follows one, prints its identifier, and exits 0; snapshots lists it', async () => {
    const run = await cli(['snapshot', 'cli-db']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const id = /^identifier: (dumptruck-cli-db-\d{8}t\d{6}z-\d{3}-[0-9a-f]{6})$/m.exec(run.stdout)?.[1];
    expect(id).toBeDefined();
    expect(run.stdout).toMatch(new RegExp(`^cli-db: creating snapshot ${id} of RDS instance cli-db-prod \\(us-east-1\\)$`, 'm'));
    expect(run.stdout).toMatch(/^cli-db: snapshot available after [\d.]+s$/m);
    expect(run.stdout).toMatch(
      /^instance: cli-db-prod \(us-east-1\)\narn: arn:aws:rds:us-east-1:\d+:snapshot:dumptruck-cli-db-\S+\nsize: 20 GiB allocated\ncreated: \d{4}-\d\d-\d\dT/m,
    );

    const list = await cli(['snapshots', 'cli-db']);
    expect(list.code).toBe(0);
    const rows = list.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t'));
    expect(rows.map((r) => [r[1], r[2], r[3]?.trim(), r[5]])).toEqual([
      ['manual', 'available', '20 GiB', expect.stringMatching(/^dumptruck \(cli:.+\)$/)],
      ['automated', 'available', '20 GiB', '-'],
    ]);
    expect(rows[0]?.[4]).toBe(id);
  });

  it('exit codes: 2 for a target without rds, 1 for what the provider refuses', async () => {
    const plain = await cli(['snapshot', 'plain']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toBe(
      'dumptruck: plain has no RDS instance configured, so there is nothing to snapshot\n' +
        'Add targets.plain.rds: { instanceId, region } to the config, or snapshot one that has it: cli-db, ghost. A logical dump works for every target.\n',
    );
    const ghost = await cli(['snapshot', 'ghost']);
    expect(ghost.code).toBe(1);
    expect(ghost.stderr).toBe(
      "dumptruck: snapshot failed: instance ghost-db not found in us-east-1\nCheck targets.ghost.rds.instanceId (the DB identifier, not the endpoint's host name) and targets.ghost.rds.region.\n",
    );
    expect((await cli(['snapshot'])).code).toBe(2);
  });
});
