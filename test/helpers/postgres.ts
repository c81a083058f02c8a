// A throwaway PostgreSQL cluster for integration tests: initdb into a temp dir, a free port on
// loopback, real SCRAM passwords on TCP (so tests can prove a wrong password fails), trust only
// on the private unix socket.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

export interface PgCredentials {
  readonly user: string;
  readonly password: string;
}

/** Plain data, so that vitest's `provide` can hand it from the global setup to test workers. */
export interface PgServerInfo {
  readonly host: string;
  readonly port: number;
  readonly superuser: PgCredentials;
  /** A login role with pg_read_all_data, the role a production backup user would have. */
  readonly backup: PgCredentials;
  /** Directory of the server's binaries; on Debian the matching pg_dump lives there too. */
  readonly binDir: string;
}

export interface PgHandle extends PgServerInfo {
  /** `postgres://user@127.0.0.1:port/db`, never with a password (the config contract forbids one). */
  url(db: string, user?: string): string;
  /** A connected client as the superuser; the caller ends it. */
  adminClient(db?: string): Promise<pg.Client>;
  createDatabase(name: string): Promise<void>;
  /** Drops even while sessions are connected (WITH (FORCE)); no error when it does not exist. */
  dropDatabase(name: string): Promise<void>;
}

export interface PgServer extends PgHandle {
  readonly info: PgServerInfo;
  /** Stops the server and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/** Wraps connection info (e.g. from `inject('postgres')`) with the convenience methods. */
export function postgresFromInfo(info: PgServerInfo): PgHandle {
  const adminClient = async (db = 'postgres') => {
    const client = new pg.Client({
      host: info.host,
      port: info.port,
      user: info.superuser.user,
      password: info.superuser.password,
      database: db,
    });
    await client.connect();
    return client;
  };
  const admin = async (sql: (c: pg.Client) => string) => {
    const client = await adminClient();
    try {
      await client.query(sql(client));
    } finally {
      await client.end();
    }
  };
  return {
    ...info,
    url: (db, user = info.backup.user) => `postgres://${encodeURIComponent(user)}@${info.host}:${info.port}/${encodeURIComponent(db)}`,
    adminClient,
    createDatabase: (name) => admin((c) => `CREATE DATABASE ${c.escapeIdentifier(name)}`),
    dropDatabase: (name) => admin((c) => `DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`),
  };
}

export async function startPostgres(): Promise<PgServer> {
  const binDir = findPgBinDir();
  const owner = isRoot() ? await postgresUser() : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'dumptruck-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const superuser = { user: 'postgres', password: secret() };
  const backup = { user: 'backup', password: secret() };
  const pgCtl = (args: readonly string[]) => runPg(join(binDir, 'pg_ctl'), args, dir, owner !== undefined);
  let port = 0;
  let started = false;
  // If the test process dies without stop(), do not leave a postmaster running.
  const onExit = () => {
    if (started)
      spawnSync(...asPostgres(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop'], owner !== undefined), {
        cwd: dir,
        stdio: 'ignore',
      });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  try {
    if (owner) await chown(dir, owner.uid, owner.gid);
    // The superuser password goes in through a file, never argv.
    const pwFile = join(dir, 'pwfile');
    await writeFile(pwFile, `${superuser.password}\n`, { mode: 0o600 });
    if (owner) await chown(pwFile, owner.uid, owner.gid);
    await runPg(
      join(binDir, 'initdb'),
      [
        '-D',
        dataDir,
        '-U',
        superuser.user,
        `--pwfile=${pwFile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=trust',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      dir,
      owner !== undefined,
    );
    await rm(pwFile);
    // Durability is worthless for a cluster that lives for one test run; speed is not.
    const settings = [
      `listen_addresses = '${HOST}'`,
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
    ];
    await writeFile(join(dataDir, 'postgresql.conf'), `\n# dumptruck test cluster\n${settings.join('\n')}\n`, { flag: 'a' });

    // Another process can take the free port before the postmaster binds it: retry on a new one.
    for (let attempt = 1; ; attempt++) {
      port = await freePort(HOST);
      try {
        await pgCtl(['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', `-p ${port}`, 'start']);
        started = true;
        break;
      } catch (err) {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        if (attempt < 3 && /could not bind|already in use/i.test(log)) continue;
        throw new Error(`${(err as Error).message}\n--- server log ---\n${tail(log)}`, { cause: err });
      }
    }

    const handle = postgresFromInfo({ host: HOST, port, superuser, backup, binDir });
    const client = await handle.adminClient();
    try {
      await client.query(`CREATE ROLE ${client.escapeIdentifier(backup.user)} LOGIN PASSWORD ${client.escapeLiteral(backup.password)}`);
      const { rows } = await client.query<{ v: number }>(`SELECT current_setting('server_version_num')::int AS v`);
      if ((rows[0]?.v ?? 0) >= 140000) await client.query(`GRANT pg_read_all_data TO ${client.escapeIdentifier(backup.user)}`);
    } finally {
      await client.end();
    }

    let stopped = false;
    return {
      ...handle,
      info: { host: HOST, port, superuser, backup, binDir },
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', onExit);
        // immediate: the data is thrown away next, so a clean checkpoint buys nothing.
        await pgCtl(['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    process.removeListener('exit', onExit);
    onExit();
    throw err;
  }
}

/** initdb and pg_ctl: PATH first, then Debian's /usr/lib/postgresql/<newest>/bin. */
function findPgBinDir(): string {
  const has = (dir: string) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'));
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    // Resolve links (e.g. /usr/local/bin/initdb) to the real bin dir, where pg_dump of the same version is.
    if (dir && has(dir)) return dirname(realpathSync(join(dir, 'initdb')));
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+(\.\d+)?$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const v of versions) if (has(join(root, v, 'bin'))) return join(root, v, 'bin');
  throw new Error(
    'initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin: install the PostgreSQL server (Debian: apt-get install -y postgresql)',
  );
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** initdb refuses to run as root, so the cluster belongs to Debian's `postgres` user. */
async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      "running as root, but there is no `postgres` user to own the test cluster (Debian's postgresql package creates it: apt-get install -y postgresql)",
    );
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function asPostgres(bin: string, args: readonly string[], viaRunuser: boolean): [string, string[]] {
  return viaRunuser ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, [...args]];
}

/** Runs a PostgreSQL tool; the error carries its output, which says why it failed. */
function runPg(bin: string, args: readonly string[], cwd: string, viaRunuser: boolean): Promise<void> {
  const [cmd, argv] = asPostgres(bin, args, viaRunuser);
  return new Promise((resolve, reject) => {
    // cwd: the postgres user may not be able to enter the caller's directory (e.g. /root).
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${[bin, ...args].join(' ')} exited with ${code}\n${tail(output)}`));
    });
  });
}

function secret(): string {
  return randomBytes(18).toString('base64url');
}

function tail(text: string, chars = 4000): string {
  return text.length > chars ? `...${text.slice(-chars)}` : text;
}
