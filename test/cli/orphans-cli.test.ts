// A backup killed with SIGKILL mid-stream runs no cleanup: its multipart upload stays in the
// store. The next start of dumptruck finds it (older than storage.abortUploadsAfter, owned by no
// running job) and aborts it.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locatePgDump } from '../../src/pipeline/probe.js';
import { startCli } from '../helpers/cli.js';
import { configYaml, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { uploadInProgress } from '../helpers/held-dump.js';

const servers = testServers();
const DB = 'cli_orphan_src';
const prefix = uniquePrefix('cli-orphan');
let dir: string;
let heldPidFile = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-cli-orphan-'));
  await seedDatabase(servers.pg, DB, 300_000);
}, 120_000);

afterAll(async () => {
  // The held pg_dump wrapper outlives the killed CLI: stop it by its pid.
  for (const pid of (await readFile(heldPidFile, 'utf8').catch(() => '')).split('\n').map(Number)) {
    if (!(pid > 0)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone (the second run's wrapper is killed by its CLI).
    }
  }
  await rm(dir, { recursive: true, force: true });
  await servers.pg.dropDatabase(DB);
});

describe('uploads orphaned by a crash', () => {
  it('a CLI backup killed with SIGKILL mid-stream leaves an upload that the next start aborts', async () => {
    // pg_dump writes the whole dump and then does not exit: the upload has parts in, and waits.
    const real = (await locatePgDump(undefined)).path;
    heldPidFile = join(dir, 'held.pid');
    const wrapper = join(dir, 'pg_dump');
    await writeFile(
      wrapper,
      `#!/bin/sh\ncase "$1" in --version|-V) exec "${real}" "$@";; esac\n"${real}" "$@"\necho $$ >> "${heldPidFile}"\nexec sleep 120\n`,
    );
    await chmod(wrapper, 0o755);
    const yaml = configYaml(servers, prefix, {
      app: { db: DB, extra: `pgDump: ${wrapper}\ncompression: { algorithm: gzip, level: 1 }` },
    }).replace('\ntargets:', '\n  abortUploadsAfter: 1s\ntargets:');
    const path = join(dir, 'dumptruck.yml');
    await writeFile(path, yaml);
    const env = { ...servers.env, DUMPTRUCK_CONFIG: path };

    const killed = startCli(['backup', 'app'], { cwd: dir, env });
    await Promise.race([
      uploadInProgress(servers.s3, servers.bucket, `${prefix}/app/`),
      killed.done.then((r) => Promise.reject(new Error(`the CLI exited first: ${r.stdout}${r.stderr}`))),
    ]);
    killed.child.kill('SIGKILL');
    await killed.done;
    const orphans = async () => (await servers.s3.listMultipartUploads(servers.bucket)).filter((u) => u.Key?.startsWith(`${prefix}/`));
    const [orphan] = await orphans();
    expect(orphan).toBeDefined();

    // Older than storage.abortUploadsAfter (1s) by the next start.
    await new Promise((r) => setTimeout(r, 2_100));
    const next = startCli(['backup', 'app'], { cwd: dir, env });
    // The sweep runs before the new run's upload begins; stop that run once its own upload is in.
    for (let i = 0; i < 600 && !(await orphans()).some((u) => u.UploadId !== orphan!.UploadId); i++)
      await new Promise((r) => setTimeout(r, 50));
    next.child.kill('SIGTERM');
    const r = await next.done;
    expect(r.stdout).toContain(`aborted an upload orphaned by a crash: ${orphan!.Key}`);
    expect((await orphans()).map((u) => u.UploadId)).not.toContain(orphan!.UploadId);
    expect(await servers.s3.listKeys(servers.bucket, `${prefix}/`)).toEqual([]);
  }, 60_000);
});
