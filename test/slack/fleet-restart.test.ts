// A lone replica of a fleet (`node dist/slack/main.js` with `state:`) across a restart and across a
// short outage of its state database: queued work survives the restart, and a running backup goes
// on through the outage while /readyz says the state database is unreachable.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { locatePgDump } from '../../src/pipeline/probe.js';
import { botProcesses, eventually, type BotProcess } from '../helpers/bot-process.js';
import { configYaml, lockTable, releaseLock, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { uploadInProgress } from '../helpers/held-dump.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';
import { startFakeSlack } from '../helpers/slack-fake.js';

const servers = testServers();
const prefix = uniquePrefix('fleetrestart');
const STATE_DB = 'fleet_restart_state';
const SOURCE = 'fleet_restart_source';
const bots = botProcesses(servers);
const env = { STATE_PW: servers.pg.superuser.password };

function config(stateUrl: string, staleAfter: string): string {
  return configYaml(
    servers,
    prefix,
    { first: { db: SOURCE }, second: { db: SOURCE } },
    `queue:\n  concurrency: 1\nshutdown:\n  graceTimeout: 1s\nstate:\n  url: ${stateUrl}\n  password: { env: STATE_PW }\n  staleAfter: ${staleAfter}\n`,
  );
}

beforeAll(async () => {
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.createDatabase(STATE_DB);
  await seedDatabase(servers.pg, SOURCE, 2000);
});

afterAll(async () => {
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.dropDatabase(SOURCE);
});

async function runs(): Promise<Array<{ target: string; outcome: string }>> {
  const client = await servers.pg.adminClient(STATE_DB);
  try {
    return (await client.query('select target, outcome from dumptruck.runs order by id')).rows;
  } finally {
    await client.end();
  }
}

/** Polls until `get` gives something truthy. */
const until = <T>(get: () => Promise<T | undefined> | T | undefined, what: string, ms = 60_000): Promise<T> =>
  eventually(async () => (await get()) || undefined, what, ms);

async function start(cfg: string): Promise<BotProcess> {
  const { bot } = await bots.start({ config: cfg, fakeToken: TEST_BOT_TOKEN, env });
  await bot.waitFor('/readyz', (a) => a.status === 200, 60_000);
  return bot;
}

/** A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored: a state database that goes away for a while. */
async function switchableProxy(port: number): Promise<{ url: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let up = true;
  const server: Server = createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxyPort = (server.address() as AddressInfo).port;
  const direct = new URL(servers.pg.url(STATE_DB, servers.pg.superuser.user));
  direct.port = String(proxyPort);
  return {
    url: direct.toString(),
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      up = true;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('a lone fleet replica', () => {
  it('restarted with a running and a queued backup: after the restart it carries out both', { timeout: 120_000 }, async () => {
    const cfg = config(servers.pg.url(STATE_DB, servers.pg.superuser.user), '30s');
    const bot = await start(cfg);
    const before = (await runs()).length;
    const lock = await lockTable(servers.pg, SOURCE);
    onTestFinished(() => releaseLock(lock).catch(() => undefined));
    await bot.command('run first');
    await until(async () => (await bot.command('status')).json?.text?.includes('*Running* (1)'), 'the first backup to run');
    await bot.command('run second');
    // concurrency 1: `second` waits behind `first`, which waits on the lock.
    await until(async () => (await bot.command('status')).json?.text?.includes('*Queued* (1)'), 'the second backup to be queued');
    bot.child.kill('SIGTERM');
    expect((await bot.exited).code, bot.stderr()).toBe(0);
    await releaseLock(lock);

    const again = await start(cfg);
    const done = await until(async () => {
      const rows = (await runs()).slice(before).filter((r) => /^(succeeded|flagged)$/.test(r.outcome));
      return rows.length >= 2 ? rows : undefined;
    }, 'both backups to be carried out after the restart');
    expect(done.map((r) => r.target).sort()).toEqual(['first', 'second']);
    // The first was cancelled by the SIGTERM (handed back), then run again; the second ran once.
    expect((await runs()).slice(before).map((r) => `${r.target}:${r.outcome.replace('flagged', 'succeeded')}`)).toEqual([
      'first:cancelled',
      ...done.map((r) => `${r.target}:succeeded`),
    ]);
    again.child.kill('SIGTERM');
    await again.exited;
  });

  it('keeps a running backup going through a short outage of the state database, says so on /readyz, and reconnects', {
    timeout: 120_000,
  }, async () => {
    const proxy = await switchableProxy(Number(new URL(servers.pg.url(STATE_DB)).port));
    onTestFinished(() => proxy.close());
    const bot = await start(config(proxy.url, '60s'));
    const before = (await runs()).length;
    const lock = await lockTable(servers.pg, SOURCE);
    onTestFinished(() => releaseLock(lock).catch(() => undefined));
    await bot.command('run first');
    await until(async () => (await bot.command('status')).json?.text?.includes('*Running* (1)'), 'the backup to run');

    proxy.cut();
    const down = await bot.waitFor('/readyz', (a) => a.status !== 200, 30_000);
    expect(JSON.stringify(down.json)).toMatch(/state/);
    // Longer than a few refreshes and heartbeats of the fleet queue.
    await sleep(4000);
    proxy.restore();
    await releaseLock(lock);

    const rows = await until(async () => {
      const r = (await runs()).slice(before);
      return r.length > 0 ? r : undefined;
    }, 'the backup to finish and be recorded');
    expect(rows.map((r) => `${r.target}:${r.outcome.replace('flagged', 'succeeded')}`)).toEqual(['first:succeeded']);
    await bot.waitFor('/readyz', (a) => a.status === 200, 30_000);
    bot.child.kill('SIGTERM');
    expect((await bot.exited).code, bot.stderr()).toBe(0);
  });

  it("SIGKILL of a replica mid-upload: the replica that notices aborts the dead one's multipart upload at once, and the retry completes", {
    timeout: 120_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-fleet-upload-'));
    const pids = join(dir, 'held.pid');
    onTestFinished(async () => {
      // The held wrapper outlives the killed bot: stop it by its pid.
      for (const pid of (await readFile(pids, 'utf8').catch(() => '')).split('\n').map(Number)) {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    });
    // The first pg_dump writes its dump and 8 MB more, then keeps its output open: an upload with
    // parts in, never finished. Later runs (the retry) are the real pg_dump.
    const real = (await locatePgDump(undefined)).path;
    const wrapper = join(dir, 'pg_dump');
    await writeFile(
      wrapper,
      `#!/bin/sh\ncase "$1" in --version|-V) exec "${real}" "$@";; esac\nif mkdir "${dir}/first" 2>/dev/null; then "${real}" "$@"; head -c 8000000 /dev/urandom; echo $$ >> "${pids}"; exec sleep 120; fi\nexec "${real}" "$@"\n`,
    );
    await chmod(wrapper, 0o755);
    const cfg = configYaml(
      servers,
      prefix,
      { held: { db: SOURCE, extra: `pgDump: ${wrapper}` } },
      `queue:\n  concurrency: 1\nstate:\n  url: ${servers.pg.url(STATE_DB, servers.pg.superuser.user)}\n  password: { env: STATE_PW }\n  staleAfter: 2s\n`,
    );
    const slack = await startFakeSlack({ token: TEST_BOT_TOKEN });
    onTestFinished(() => slack.close());
    const fleet = (await Promise.all([1, 2].map(() => bots.start({ config: cfg, fakeToken: TEST_BOT_TOKEN, env, slack })))).map(
      (s) => s.bot,
    );
    await Promise.all(fleet.map((b) => b.waitFor('/readyz', (a) => a.status === 200, 60_000)));
    const before = (await runs()).length;

    await fleet[0]!.command('run held');
    await uploadInProgress(servers.s3, servers.bucket, `${prefix}/held/`);
    const [upload] = (await servers.s3.listMultipartUploads(servers.bucket)).filter((u) => u.Key?.startsWith(`${prefix}/held/`));
    const owner = await until(async () => {
      const client = await servers.pg.adminClient(STATE_DB);
      try {
        const { rows } = await client.query<{ replica: string }>('select replica from dumptruck.fleet_uploads where upload_id = $1', [
          upload!.UploadId,
        ]);
        return rows[0]?.replica;
      } finally {
        await client.end();
      }
    }, 'the upload to be recorded with its replica');
    const victim = fleet.find((b) => owner.endsWith(`:${b.pid}`))!;
    victim.child.kill('SIGKILL');
    await victim.exited;

    // Aborted within staleAfter and a heartbeat or two, not after storage.abortUploadsAfter (7h here).
    await until(
      async () => !(await servers.s3.listMultipartUploads(servers.bucket)).some((u) => u.UploadId === upload!.UploadId),
      "the dead replica's upload to be aborted",
      30_000,
    );
    const done = await until(async () => {
      const r = (await runs()).slice(before);
      return r.some((x) => /^(succeeded|flagged)$/.test(x.outcome)) ? r : undefined;
    }, 'the retry to complete');
    expect(done.map((r) => r.outcome.replace('flagged', 'succeeded'))).toEqual(['succeeded']);
    expect((await servers.s3.listMultipartUploads(servers.bucket)).filter((u) => u.Key?.startsWith(`${prefix}/held/`))).toEqual([]);
  });
});
