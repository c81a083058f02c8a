import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { ageKeygen } from '../helpers/age.js';
import { configYaml, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';

// The CLI as users run it: the built bin, a config file, the environment, exit codes.
const servers = testServers();
const prefix = uniquePrefix('cli');
let dir: string;
const sealedKey = ageKeygen();

function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { cwd: dir, env: { ...servers.env, DUMPTRUCK_CONFIG: join(dir, 'dumptruck.yml'), ...env } });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-cli-'));
  await seedDatabase(servers.pg, 'cli_src', 2000);
  await writeFile(
    join(dir, 'dumptruck.yml'),
    configYaml(servers, prefix, {
      'app-db': { db: 'cli_src' },
      broken: { db: 'cli_src', passwordEnv: 'WRONG_PW' },
      sealed: { db: 'cli_src', extra: `encrypt: { recipients: [${sealedKey.recipient}] }` },
      unlinked: { db: 'cli_src', extra: `encrypt: { recipients: [${sealedKey.recipient}] }\nlinks: false` },
    }),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dumptruck CLI', () => {
  it('backup prints plain lines, the key, the sha256 and a link, and exits 0; list and link find it', async () => {
    const backup = await cli(['backup', 'app-db']);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const key = /key: s3:\/\/[^/]+\/(\S+)/.exec(backup.stdout)?.[1];
    expect(key).toMatch(new RegExp(`^${prefix}/app-db/\\d{4}/\\d{2}/\\d{2}/app-db_\\d{8}T\\d{6}Z-\\d{3}-[0-9a-f]{6}\\.sql\\.gz$`));
    expect(backup.stdout).toMatch(/^sha256: [0-9a-f]{64}$/m);
    expect(backup.stdout).toMatch(/^app-db: done in .+: .+ dumped, .+ stored \(gzip level 6, ratio \d+\.\d\dx\)$/m);
    expect(backup.stdout).toMatch(/^link \(until .*\): http:\/\/.*X-Amz-Signature=/m);
    // not a TTY: no carriage-return progress redraws
    expect(backup.stdout).not.toContain('\r');

    const list = await cli(['list', 'app-db']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(key!);

    const link = await cli(['link', 'app-db', 'latest']);
    expect(link.code).toBe(0);
    const url = link.stdout.trim().split('\n').at(-1)!;
    expect(link.stdout).toContain(key!);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${key!.split('/').at(-1)}"`);
    // Read to the end: Node 24's fetch (undici) asserts when a server closes a socket under a body nobody read.
    await res.arrayBuffer();
  });

  it('an encrypted backup prints that it is encrypted and how to restore it; links: false prints no link and refuses link', async () => {
    const sealed = await cli(['backup', 'sealed']);
    expect(sealed.code).toBe(0);
    expect(sealed.stdout).toMatch(
      /^Encrypted with age to 1 recipient \([0-9a-f]{16}\); restore with the private key: age -d -i key\.txt sealed_\d{8}T\d{6}Z-\d{3}-[0-9a-f]{6}\.sql\.gz\.age \| gunzip \| psql -v ON_ERROR_STOP=1 "\$DATABASE_URL"$/m,
    );
    expect(sealed.stdout).toMatch(/^link \(until .*\): http:\/\/.*X-Amz-Signature=/m);
    const link = await cli(['link', 'sealed']);
    expect(link.code).toBe(0);
    expect(link.stdout.trim().split('\n').at(-2)).toMatch(/^Encrypted with age; restore with the private key: age -d -i key\.txt /);

    const unlinked = await cli(['backup', 'unlinked']);
    expect(unlinked.code).toBe(0);
    expect(unlinked.stdout).toMatch(/^key: s3:\/\/.*\.sql\.gz\.age$/m);
    expect(unlinked.stdout).not.toMatch(/X-Amz-Signature|^link/m);
    const refused = await cli(['link', 'unlinked']);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/download links are turned off for unlinked \(targets\.unlinked\.links: false\)/);
  });

  it('exits 1 with the stage and reason when a backup fails, without the password', async () => {
    const r = await cli(['backup', 'broken']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^dumptruck: connect failed: cannot connect to 127\.0\.0\.1:\d+\/cli_src: password authentication failed for user "backup"/,
    );
    expect(r.stdout + r.stderr).not.toContain(servers.env.WRONG_PW);
  });

  it('exits 2 on bad usage and unknown targets, changing nothing', async () => {
    const unknown = await cli(['backup', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('dumptruck: unknown target "nope"\nknown targets: app-db, broken, sealed, unlinked\n');
    const bad = await cli(['link', 'app-db', 'other/2026/01/01/x.sql.gz']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not a backup key of app-db/);
    expect((await cli([])).code).toBe(2);
  });

  it('exits 3 on an invalid config, listing the problems by path', async () => {
    const path = join(dir, 'bad.yml');
    await writeFile(path, 'storage: { bucket: X }\ntargets: { a: { url: nope } }\n');
    const r = await cli(['targets'], { DUMPTRUCK_CONFIG: path });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('storage.bucket: expected an S3 bucket name');
    expect(r.stderr).toContain('targets.a.url: expected postgres://user@host:port/database, got "nope"');
  });
});
