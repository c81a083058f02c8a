// npm run bench:fleet: the fleet's scaling curve on small databases (issue 14). Real bot processes
// (`node dist/slack/main.js`, Bolt's HTTP receiver) against one recording fake Slack, the local
// stack's PostgreSQL and versitygw. For each scenario, `/backup run <target>` for every target is
// sent round-robin to the replicas as signed slash commands, and the clock runs from the first
// command until every run has finished:
//   fleet-1, fleet-2, fleet-3  one, two, three replicas sharing a fresh state database (`state:`)
//   in-process                 one replica without `state:` (the in-process queue)
// Finished means every target's result posted in its Slack thread and, with `state:`, every run
// recorded in the state database's runs table (exactly one per target, succeeded or flagged).
// Prints backups per minute for each, then ratios from this run only (the machine is shared and
// noisy: only figures measured side by side mean anything). Every replica runs
// `queue.concurrency` jobs (BENCH_FLEET_CONCURRENCY, default 1) so that the replica count is
// what changes. Targets: BENCH_FLEET_TARGETS (default 24) databases of BENCH_FLEET_MB (default 4)
// MB of rows each, created once and reused. BENCH_FLEET_REPEAT (default 2) rounds of the four
// scenarios, each one's fastest kept. Replica logs: .local/bench-fleet-<scenario>-<n>.log.
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOCAL, localStack, log, PG_PORT, ROOT, S3_ENDPOINT } from './local-stack.mjs';

const TARGETS = Math.max(1, Number(process.env.BENCH_FLEET_TARGETS || 24));
const TARGET_MB = Math.max(1, Number(process.env.BENCH_FLEET_MB || 4));
const CONCURRENCY = Math.max(1, Number(process.env.BENCH_FLEET_CONCURRENCY || 1));
const REPEAT = Math.max(1, Number(process.env.BENCH_FLEET_REPEAT || 2));
const STATE_DB = 'bench_fleet_state';
// Generous: a run that has not finished by then is stuck, not slow.
const RUN_TIMEOUT_MS = 10 * 60_000;

const { startFakeSlack } = await import('../dist-bench/test/helpers/slack-fake.js');
const { freePort } = await import('../dist-bench/test/helpers/free-port.js');
const { sendCommand, TEST_SIGNING_SECRET } = await import('../dist-bench/test/helpers/slack-sign.js');
const { BENCH_BOT_TOKEN, spawnBot } = await import('../dist-bench/bench/bot.js');

const { env: baseEnv, psqlAdmin, ensureDatabase } = localStack();

// ---- databases -----------------------------------------------------------------------------
const targets = Array.from({ length: TARGETS }, (_, i) => `fleet-${String(i + 1).padStart(2, '0')}`);
const dbOf = (target) => `bench_${target.replace('-', '_')}`;
for (const target of targets) ensureDatabase(dbOf(target), TARGET_MB);
const dbMb = Number(psqlAdmin(dbOf(targets[0]), 'select pg_database_size(current_database()) / 1048576'));

/** A fresh state database for one scenario, owned by the backup role (it creates dumptruck's schemas in it). */
function freshStateDb() {
  psqlAdmin('postgres', `drop database if exists ${STATE_DB} with (force)`);
  psqlAdmin('postgres', `create database ${STATE_DB} owner backup`);
}

// ---- configs -------------------------------------------------------------------------------
const dbUrl = (db) => `postgres://backup@127.0.0.1:${PG_PORT}/${db}`;
function configFile(scenario, withState) {
  const targetLines = targets.map((t) => `  ${t}:\n    url: ${dbUrl(dbOf(t))}\n    password: { env: BENCH_DB_PASSWORD }`);
  const state = withState ? `state:\n  url: ${dbUrl(STATE_DB)}\n  password: { env: BENCH_DB_PASSWORD }\n` : '';
  const file = join(LOCAL, `bench-fleet-${scenario}.yml`);
  writeFileSync(
    file,
    `storage:\n  bucket: dumptruck\n  prefix: bench-fleet/${scenario}\n  endpoint: ${S3_ENDPOINT}\n  region: us-east-1\ntargets:\n${targetLines.join('\n')}\nqueue:\n  concurrency: ${CONCURRENCY}\n  maxPending: ${TARGETS}\n${state}`,
  );
  return file;
}

// ---- replicas ------------------------------------------------------------------------------
/** Every replica started and not yet seen exiting: stopped by pid in `stopAll`, and killed if this process exits first. */
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1));

async function startReplica(scenario, n, config, slack) {
  const port = await freePort();
  const logFd = openSync(join(LOCAL, `bench-fleet-${scenario}-${n}.log`), 'w');
  const child = spawnBot({
    root: ROOT,
    configPath: config,
    env: baseEnv,
    port,
    slackApiUrl: slack.apiUrl,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  running.add(child);
  const exited = new Promise((done) => child.once('close', done));
  exited.then(() => running.delete(child));
  const base = `http://127.0.0.1:${port}`;
  const replica = { child, exited, events: `${base}/slack/events`, scenario, n };
  // Ready: the bot token checked, and with `state:` the state database migrated and reachable.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`replica ${n} of ${scenario} exited; see its log`);
    const status = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return replica;
    if (Date.now() > deadline) throw new Error(`replica ${n} of ${scenario} not ready within 60 s; see its log`);
    await sleep(100);
  }
}

/** SIGTERM by pid, SIGKILL if it has not exited within 30 s. */
async function stop(replica) {
  if (replica.child.exitCode !== null || replica.child.signalCode !== null) return;
  replica.child.kill('SIGTERM');
  const timer = setTimeout(() => replica.child.kill('SIGKILL'), 30_000);
  await replica.exited;
  clearTimeout(timer);
}

// ---- measuring -----------------------------------------------------------------------------
const RESULT = /Backup of `([^`]+)`.*?(finished|stored, but flagged|failed|cancelled)/;

/** Targets whose result the replicas posted in Slack (the thread's closing message), and any that did not succeed. */
function slackResults(slack) {
  const done = new Set();
  const bad = [];
  for (const call of slack.ok('chat.postMessage')) {
    const m = RESULT.exec(String(call.args.text ?? ''));
    if (!m || !targets.includes(m[1]) || done.has(m[1])) continue;
    done.add(m[1]);
    if (m[2] === 'failed' || m[2] === 'cancelled') bad.push(`${m[1]}: ${String(call.args.text).replaceAll('\n', ' / ')}`);
  }
  return { count: done.size, bad };
}

/** The runs recorded in the state database: one row per run, with its outcome. */
function stateResults() {
  const rows = psqlAdmin(STATE_DB, "select target, outcome, coalesce(error, '') from dumptruck.runs")
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('|'));
  return { count: rows.length, bad: rows.filter(([, outcome]) => !/^(succeeded|flagged)$/.test(outcome)).map((r) => r.join(' ')) };
}

async function scenario(name, replicas, withState) {
  log(`   ${name}: ${replicas} replica(s), ${withState ? 'state database (pg-boss)' : 'in-process queue'}, ${TARGETS} backups`);
  if (withState) freshStateDb();
  const config = configFile(name, withState);
  const slack = await startFakeSlack({ token: BENCH_BOT_TOKEN });
  const fleet = [];
  try {
    // One at a time: replicas starting together would race in the first migration (they take
    // turns under a lock, but then the clock would include it for nobody).
    for (let n = 1; n <= replicas; n++) fleet.push(await startReplica(name, n, config, slack));
    const started = performance.now();
    const acks = await Promise.all(
      targets.map((target, i) =>
        sendCommand(fleet[i % replicas].events, TEST_SIGNING_SECRET, { text: `run ${target}`, response_url: slack.responseUrl() }),
      ),
    );
    const refused = acks.filter((a) => a.status !== 200);
    if (refused.length > 0) throw new Error(`${name}: ${refused.length} commands answered ${refused[0].status}`);
    // Finished: every result posted in its thread, the same end for every scenario (a run is
    // recorded in the state database just before its result is posted); with `state:`, also
    // every run recorded. The runs table is the truth there: a thread saying "failed" for a run
    // recorded as succeeded is a wrong report, counted and printed, not a failed run.
    let posted;
    let recorded;
    for (;;) {
      posted = slackResults(slack);
      recorded = withState ? stateResults() : undefined;
      const bad = recorded ? recorded.bad : posted.bad;
      if (bad.length > 0) throw new Error(`${name}: runs that did not succeed: ${bad.join(', ')}; see the replica logs`);
      const count = Math.min(posted.count, recorded?.count ?? TARGETS);
      if (count >= TARGETS) break;
      if (performance.now() - started > RUN_TIMEOUT_MS) throw new Error(`${name}: only ${count}/${TARGETS} runs finished in time`);
      await sleep(100);
    }
    const seconds = (performance.now() - started) / 1000;
    if (recorded && recorded.count !== TARGETS) throw new Error(`${name}: ${recorded.count} runs recorded for ${TARGETS} backups`);
    return { name, seconds, perMinute: (TARGETS / seconds) * 60, misreported: posted.bad };
  } finally {
    await Promise.all(fleet.map(stop));
    await slack.close();
  }
}

// ---- run -----------------------------------------------------------------------------------
log(`== ${TARGETS} targets of ${dbMb} MB (pg_database_size), queue.concurrency ${CONCURRENCY} per replica`);
const results = {};
const misreported = [];
try {
  // Rounds of all four, interleaved, each scenario's fastest kept: load from other work on the
  // machine then spreads over the scenarios instead of landing on one.
  for (let round = 1; round <= REPEAT; round++) {
    for (const [name, replicas, withState] of [
      ['in-process', 1, false],
      ['fleet-1', 1, true],
      ['fleet-2', 2, true],
      ['fleet-3', 3, true],
    ]) {
      const r = await scenario(name, replicas, withState);
      if (!results[name] || r.seconds < results[name].seconds) results[name] = r;
      if (r.misreported.length > 0) misreported.push(`${name} round ${round}: ${r.misreported.join(' | ')}`);
    }
  }
} finally {
  psqlAdmin('postgres', `drop database if exists ${STATE_DB} with (force)`);
}

const fmt = (n) => n.toFixed(2);
const cores = (await import('node:os')).availableParallelism();
console.log(
  `\nfleet bench: ${TARGETS} backups of ${dbMb} MB databases, queue.concurrency ${CONCURRENCY}, fastest of ${REPEAT}, machine: ${cores} cores\n`,
);
for (const n of [1, 2, 3]) {
  const r = results[`fleet-${n}`];
  console.log(`fleet backups/min ${n} replica${n > 1 ? 's' : ''} ${fmt(r.perMinute)} (${fmt(r.seconds)} s)`);
}
const inProcess = results['in-process'];
console.log(`in-process backups/min 1 replica ${fmt(inProcess.perMinute)} (${fmt(inProcess.seconds)} s)\n`);
console.log(`ratio fleet-2/fleet-1 ${fmt(results['fleet-2'].perMinute / results['fleet-1'].perMinute)}`);
console.log(`ratio fleet-3/fleet-1 ${fmt(results['fleet-3'].perMinute / results['fleet-1'].perMinute)}`);
// Per-job overhead: the same backups on one replica, time per job with the PostgreSQL queue
// against the in-process one (above 1: the PostgreSQL queue costs that much more per job).
console.log(`ratio pg-queue/in-process ${fmt(results['fleet-1'].seconds / inProcess.seconds)}`);
// A thread that said "failed" for a run the runs table has as succeeded: a wrong report by the
// bot, not a failed backup; printed so that it is not lost in the figures.
for (const line of misreported) console.log(`\nwrong report (thread said failed, run recorded as succeeded) in ${line}`);
