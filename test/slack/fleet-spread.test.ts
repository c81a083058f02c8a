// Twenty targets over three real replicas (`node dist/slack/main.js` with `state:`) sharing one
// state database and one fake Slack: every target is backed up exactly once, the work is spread,
// and no replica ever runs more than `queue.concurrency` backups at once (read from the runs
// history: each run's start and end, and the replica that ran it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { botProcesses, eventually } from '../helpers/bot-process.js';
import { configYaml, seedDatabase, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';
import { startFakeSlack, type FakeSlack } from '../helpers/slack-fake.js';

const servers = testServers();
const prefix = uniquePrefix('fleetspread');
const STATE_DB = 'fleet_spread_state';
const SOURCE = 'fleet_spread_source';
const bots = botProcesses(servers);
const TARGETS = Array.from({ length: 20 }, (_, i) => `t${String(i + 1).padStart(2, '0')}`);
const CONCURRENCY = 2;
let slack: FakeSlack;

beforeAll(async () => {
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.createDatabase(STATE_DB);
  await seedDatabase(servers.pg, SOURCE, 500);
  slack = await startFakeSlack({ token: TEST_BOT_TOKEN });
});

afterAll(async () => {
  await slack?.close();
  await servers.pg.dropDatabase(STATE_DB);
  await servers.pg.dropDatabase(SOURCE);
});

interface Run {
  readonly target: string;
  readonly outcome: string;
  readonly replica: string;
  readonly start: number;
  readonly end: number;
}

async function runs(): Promise<Run[]> {
  const client = await servers.pg.adminClient(STATE_DB);
  try {
    const { rows } = await client.query<{ target: string; outcome: string; replica: string; finished_at: Date; duration_ms: string }>(
      'select target, outcome, replica, finished_at, duration_ms from dumptruck.runs order by id',
    );
    return rows.map((r) => ({
      target: r.target,
      outcome: r.outcome,
      replica: r.replica,
      end: r.finished_at.getTime(),
      start: r.finished_at.getTime() - Number(r.duration_ms),
    }));
  } finally {
    await client.end();
  }
}

/** Pure: the most runs of one replica that overlapped in time. */
function mostAtOnce(list: readonly Run[]): number {
  const edges = list.flatMap((r) => [
    { at: r.start, d: 1 },
    { at: r.end, d: -1 },
  ]);
  // Ends before starts at the same instant: a slot freed and taken in the same millisecond is not two at once.
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const e of edges) most = Math.max(most, (now += e.d));
  return most;
}

describe('a fleet of three replicas', () => {
  it('backs up twenty targets exactly once each, spread over the replicas, each within its concurrency', { timeout: 240_000 }, async () => {
    const targets = Object.fromEntries(TARGETS.map((t) => [t, { db: SOURCE }]));
    const config = configYaml(
      servers,
      prefix,
      targets,
      `queue:\n  concurrency: ${CONCURRENCY}\n  maxPending: 50\nstate:\n  url: ${servers.pg.url(STATE_DB, servers.pg.superuser.user)}\n  password: { env: STATE_PW }\n  staleAfter: 30s\n`,
    );
    const env = { STATE_PW: servers.pg.superuser.password };
    const fleet = (await Promise.all([1, 2, 3].map(() => bots.start({ config, fakeToken: TEST_BOT_TOKEN, env, slack })))).map((s) => s.bot);
    await Promise.all(fleet.map((b) => b.waitFor('/readyz', (a) => a.status === 200, 60_000)));

    // Round-robin over the replicas, and every target asked twice (to two replicas): still one run each.
    await Promise.all(TARGETS.flatMap((t, i) => [fleet[i % 3]!.command(`run ${t}`), fleet[(i + 1) % 3]!.command(`run ${t}`)]));
    const done = await eventually(
      async () => {
        const r = await runs();
        return r.length >= TARGETS.length ? r : undefined;
      },
      'twenty runs recorded',
      180_000,
    );
    // Long enough for a doubled run to have been recorded, had there been one.
    await new Promise((r) => setTimeout(r, 3000));
    const all = await runs();
    expect(all).toHaveLength(TARGETS.length);
    expect(all.map((r) => r.target).sort()).toEqual(TARGETS);
    expect(all.every((r) => /^(succeeded|flagged)$/.test(r.outcome))).toBe(true);

    const byReplica = new Map<string, Run[]>();
    for (const r of done) byReplica.set(r.replica, [...(byReplica.get(r.replica) ?? []), r]);
    expect(byReplica.size, 'runs spread over the replicas').toBeGreaterThanOrEqual(2);
    for (const [replica, list] of byReplica) expect(mostAtOnce(list), `most at once on ${replica}`).toBeLessThanOrEqual(CONCURRENCY);
  });
});
