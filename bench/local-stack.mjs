// The local stack the benches run against: scripts/local-up.sh's PostgreSQL (55432, or
// DUMPTRUCK_LOCAL_PG_PORT) and versitygw (57070, or DUMPTRUCK_LOCAL_S3_PORT), started or reused,
// its secrets, and psql as postgres over the unix socket. Shared by bench/run.mjs and bench/fleet.mjs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const LOCAL = join(ROOT, '.local');
export const PG_PORT = Number(process.env.DUMPTRUCK_LOCAL_PG_PORT || 55432);
export const S3_ENDPOINT = `http://127.0.0.1:${process.env.DUMPTRUCK_LOCAL_S3_PORT || 57070}`;

export function log(line) {
  process.stderr.write(`${line}\n`);
}

export function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** Starts (or reuses) the local servers; exits the process with local-up.sh's log tail if that fails. */
export function localStack() {
  log('== local servers (scripts/local-up.sh, log in .local/bench-setup.log)');
  mkdirSync(LOCAL, { recursive: true });
  try {
    sh('bash', ['-c', `bash scripts/local-up.sh > "${LOCAL}/bench-setup.log" 2>&1`], {
      cwd: ROOT,
      env: { ...process.env, DUMPTRUCK_LOCAL_SKIP_DEMO: '1' },
    });
  } catch {
    log(readFileSync(join(LOCAL, 'bench-setup.log'), 'utf8').split('\n').slice(-30).join('\n'));
    process.exit(1);
  }
  const secrets = Object.fromEntries(
    readFileSync(join(LOCAL, 'secrets.env'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const pgRoot = realpathSync(join(LOCAL, 'pg'));
  /** psql as postgres, over the local stack's unix socket. */
  const adminArgs = (db) => ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', pgRoot, '-p', String(PG_PORT), '-U', 'postgres', '-d', db];
  const psqlAdmin = (db, sql) => sh('psql', [...adminArgs(db), '-tA', '-c', sql]).trim();
  // Rows shaped like an application's event table: ids, timestamps, short enums, JSON with a hash,
  // optional free text. pg_dump's output of it compresses about 3-4x with gzip -6, as real dumps do.
  function ensureDatabase(name, targetMb) {
    const exists = psqlAdmin('postgres', `select count(*) from pg_database where datname = '${name}'`) === '1';
    if (exists) {
      const mb = Number(psqlAdmin(name, 'select pg_database_size(current_database()) / 1048576'));
      if (mb >= targetMb * 0.9) return mb;
      psqlAdmin('postgres', `drop database ${name}`);
    }
    log(`== creating ${name} (~${targetMb} MB on disk; once, reused by later runs)`);
    psqlAdmin('postgres', `create database ${name}`);
    psqlAdmin(
      name,
      `create table events (id bigint primary key, created_at timestamptz not null, user_id int not null,
      kind text not null, payload jsonb not null, note text)`,
    );
    const rowsPerMb = 4600;
    const batch = 500_000;
    const total = targetMb * rowsPerMb;
    for (let start = 1; start <= total; start += batch) {
      const end = Math.min(total, start + batch - 1);
      psqlAdmin(
        name,
        `insert into events
        select g, timestamptz '2025-01-01' + g * interval '7 seconds', (g::bigint * 7919 % 100000)::int,
          (array['login','logout','purchase','refund','view','search'])[1 + g % 6],
          jsonb_build_object('ip', '10.' || (g % 250) || '.' || (g * 7 % 250) || '.' || (g * 13 % 250), 'sha', md5(g::text), 'n', g % 1000, 'ok', g % 7 <> 0),
          case when g % 3 = 0 then 'customer note ' || repeat('lorem ipsum dolor sit amet ', 1 + g % 4) || g end
        from generate_series(${start}, ${end}) g`,
      );
      log(`   ${end.toLocaleString()} / ${total.toLocaleString()} rows`);
    }
    psqlAdmin(name, 'vacuum analyze events');
    psqlAdmin('postgres', `grant connect on database ${name} to backup`);
    return Number(psqlAdmin(name, 'select pg_database_size(current_database()) / 1048576'));
  }
  /** What dumptruck's processes need: the store's keys, and the targets' password in BENCH_DB_PASSWORD. */
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? '/root',
    AWS_ACCESS_KEY_ID: secrets.S3_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: secrets.S3_SECRET_KEY,
    AWS_REGION: 'us-east-1',
    BENCH_DB_PASSWORD: secrets.DEMO_DB_PASSWORD,
  };
  return { secrets, env, adminArgs, psqlAdmin, ensureDatabase };
}
