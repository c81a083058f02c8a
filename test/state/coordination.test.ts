// What the replicas of a fleet agree on through the state database, on the real PostgreSQL: two
// stores (two replicas' connection pools) race for the same claim with Promise.all, and exactly
// one wins every time.
import { beforeAll, describe, expect, it } from 'vitest';
import type { RestoreRequest } from '../../src/restore/approvals.js';
import type { PgCoordination } from '../../src/state/coordination.js';
import type { LedgerVerdict } from '../../src/types.js';
import { testServers } from '../helpers/fixtures.js';
import { stateStores } from '../helpers/state-db.js';

const stores = stateStores(testServers(), 'state_coordination');
let a: PgCoordination;
let b: PgCoordination;

beforeAll(() => {
  a = stores[0]!.coordination('host-a:1');
  b = stores[1]!.coordination('host-b:2');
});

/** Runs `race` `rounds` times and returns how many of each pair won. */
async function wins(rounds: number, race: (round: number) => Promise<[boolean, boolean]>): Promise<number[]> {
  const counts: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const [x, y] = await race(round);
    counts.push(Number(x) + Number(y));
  }
  return counts;
}

/** A verdict in one word; a join names the alert whose run it joins. */
const said = (v: LedgerVerdict) => (v.kind === 'joined' ? `joined ${v.alert.ts}` : v.kind);

const run = (id: string, target: string, ts: string) => ({
  id,
  target,
  alert: { channel: 'C0ALERTS', ts, by: 'B0WEBHOOK' },
  attempts: 3,
  startedAt: new Date(),
});

describe('schedule fire claims', () => {
  it('one replica claims each fire time of a target; other targets and fire times are claims of their own', async () => {
    const base = Date.parse('2026-11-28T00:00:00Z');
    const at = (round: number) => new Date(base + round * 60_000);
    expect(await wins(20, (round) => Promise.all([a.claim('nightly', at(round)), b.claim('nightly', at(round))]))).toEqual(
      Array(20).fill(1),
    );
    // Claimed once, never again (a late catch-up of the same fire time).
    expect(await b.claim('nightly', at(3))).toBe(false);
    expect(await a.claim('hourly', at(3))).toBe(true);
  });
});

describe('alert runs', () => {
  it('the same alert delivered to two replicas at once starts one run; the other is told it is a duplicate', async () => {
    const verdicts = await Promise.all([
      a.begin(run('r-a', 'dup-db', '1.1'), 600_000, 3_600_000),
      b.begin(run('r-b', 'dup-db', '1.1'), 600_000, 3_600_000),
    ]);
    expect(verdicts.map(said).sort()).toEqual(['claimed', 'duplicate']);
    // A re-delivery later (after a restart of either) is still a duplicate.
    expect(said(await b.begin(run('r-c', 'dup-db', '1.1'), 600_000, 3_600_000))).toBe('duplicate');
  });

  it('an alert answered without a run (a refusal) is answered by one replica', async () => {
    expect(
      await wins(10, (i) =>
        Promise.all([a.answered({ channel: 'C0ALERTS', ts: `5.${i}` }), b.answered({ channel: 'C0ALERTS', ts: `5.${i}` })]),
      ),
    ).toEqual(Array(10).fill(1));
  });

  it('two alerts for one target at once: one run, the other joins it; a new run only after the window', async () => {
    const verdicts = await Promise.all([
      a.begin(run('r-1', 'join-db', '2.1'), 600_000, 3_600_000),
      b.begin(run('r-2', 'join-db', '2.2'), 600_000, 3_600_000),
    ]);
    const [first, second] = verdicts.map(said);
    // The one that joins is told which alert's thread has the run.
    expect([first, second]).toEqual(first === 'claimed' ? ['claimed', 'joined 2.1'] : ['joined 2.2', 'claimed']);
    const winner = first === 'claimed' ? 'r-1' : 'r-2';
    const winnerTs = first === 'claimed' ? '2.1' : '2.2';
    await a.end(winner, 'succeeded');
    // Ended, but within the window: joins.
    expect(said(await b.begin(run('r-3', 'join-db', '2.3'), 600_000, 3_600_000))).toBe(`joined ${winnerTs}`);
    // A window of nothing: a new run.
    expect(said(await b.begin(run('r-4', 'join-db', '2.4'), 0, 3_600_000))).toBe('claimed');
  });

  it('a pending retry is listed for any replica, and exactly one replica takes each attempt', async () => {
    expect(said(await a.begin(run('r-retry', 'retry-db', '3.1'), 600_000, 3_600_000))).toBe('claimed');
    const due = new Date(Date.now() + 5_000);
    await a.retrying('r-retry', 1, due);
    const pending = (await b.pending()).find((p) => p.id === 'r-retry');
    expect(pending).toEqual({
      id: 'r-retry',
      target: 'retry-db',
      alert: { channel: 'C0ALERTS', ts: '3.1', by: 'B0WEBHOOK' },
      attempt: 1,
      attempts: 3,
      startedAt: expect.any(Date),
      nextAttemptAt: due,
    });
    const taken = await Promise.all([a.takeAttempt('r-retry', 1), b.takeAttempt('r-retry', 1)]);
    expect(taken.filter(Boolean)).toHaveLength(1);
    expect((await a.pending()).some((p) => p.id === 'r-retry')).toBe(false);
    // The second retry: again one taker.
    await b.retrying('r-retry', 2, due);
    expect(await wins(1, () => Promise.all([a.takeAttempt('r-retry', 2), b.takeAttempt('r-retry', 2)]))).toEqual([1]);
    // An ended run has no retry to take.
    await a.end('r-retry', 'failed');
    await b.retrying('r-retry', 3, due);
    expect(await a.takeAttempt('r-retry', 3)).toBe(false);
  });

  it('an active run unheard of for longer than the stale bound (its replica died mid-attempt) is replaced', async () => {
    expect(said(await a.begin(run('r-dead', 'stale-db', '4.1'), 600_000, 3_600_000))).toBe('claimed');
    expect(said(await b.begin(run('r-next', 'stale-db', '4.2'), 600_000, 3_600_000))).toBe('joined 4.1');
    expect(said(await b.begin(run('r-next', 'stale-db', '4.3'), 600_000, 0))).toBe('claimed');
  });
});

describe('restore approvals', () => {
  // Expiry is judged by the database's clock: this request is open for an hour from now.
  const request = (id: string, expiresAt = new Date(Date.now() + 3_600_000)): RestoreRequest => ({
    id,
    plan: {
      target: 'app-db',
      key: 'p/app-db/2026/11/28/app-db_20261128T000000Z.sql.gz',
      source: 'primary',
      bucket: 'backups',
      storedBytes: 1234,
      sha256: 'a'.repeat(64),
      backupAt: new Date('2026-11-28T00:00:00Z'),
      database: 'app_restored',
      server: '127.0.0.1:5432',
      replace: false,
      noOwner: false,
    },
    requestedBy: 'U0ALICE',
    channel: 'C0OPS',
    requestedAt: new Date('2026-11-28T01:00:00Z'),
    expiresAt,
  });

  it('a request stored by one replica reads the same on another, and is decided once when two approvers click at once', async () => {
    const req1 = request('req1');
    await a.put(req1);
    await a.put({ ...req1, ts: '1700000000.000100' });
    expect(await b.get('req1')).toEqual({ ...req1, ts: '1700000000.000100' });
    expect(await b.get('nope')).toBeUndefined();

    const decided = await Promise.all([
      a.decide('req1', { kind: 'approved', by: 'U0BOB' }),
      b.decide('req1', { kind: 'approved', by: 'U0CAROL' }),
    ]);
    expect(decided.filter(Boolean)).toHaveLength(1);
    const winner = decided[0] ? 'U0BOB' : 'U0CAROL';
    expect((await a.get('req1'))?.decision).toEqual({ kind: 'approved', by: winner });
    // Neither a later decision nor a later put overwrites it.
    expect(await b.decide('req1', { kind: 'denied', by: 'U0DAVE' })).toBe(false);
    await b.put({ ...req1, ts: '1700000000.000100' });
    expect((await b.get('req1'))?.decision).toEqual({ kind: 'approved', by: winner });
  });

  it('many races: always exactly one winner', async () => {
    const requests = Array.from({ length: 10 }, (_, i) => request(`race${i}`));
    await Promise.all(requests.map((r) => a.put(r)));
    expect(
      await wins(10, (i) =>
        Promise.all([a.decide(`race${i}`, { kind: 'approved', by: 'U0BOB' }), b.decide(`race${i}`, { kind: 'denied', by: 'U0ALICE' })]),
      ),
    ).toEqual(Array(10).fill(1));
  });

  it('expiry is judged by the database: an expired request cannot be approved or denied whatever a replica’s clock says', async () => {
    // Expired a second ago by the database's now(); the replica that shows the button may think otherwise.
    await a.put(request('stale', new Date(Date.now() - 1_000)));
    expect(
      await Promise.all([a.decide('stale', { kind: 'approved', by: 'U0BOB' }), b.decide('stale', { kind: 'denied', by: 'U0BOB' })]),
    ).toEqual([false, false]);
    expect((await b.get('stale'))?.decision).toBeUndefined();
    // Marked expired once; nothing after that.
    expect(await wins(1, () => Promise.all([a.decide('stale', { kind: 'expired' }), b.decide('stale', { kind: 'expired' })]))).toEqual([1]);
    expect((await a.get('stale'))?.decision).toEqual({ kind: 'expired' });
    // And a replica whose clock is ahead cannot mark a request expired before its time.
    await a.put(request('fresh'));
    expect(await b.decide('fresh', { kind: 'expired' })).toBe(false);
  });

  it('an approval taken back (its restore could not be queued) reopens the request; only that decision is taken back', async () => {
    await a.put(request('busy'));
    expect(await a.decide('busy', { kind: 'approved', by: 'U0BOB' })).toBe(true);
    await b.reopen('busy', { kind: 'approved', by: 'U0CAROL' });
    expect((await a.get('busy'))?.decision).toEqual({ kind: 'approved', by: 'U0BOB' });
    await a.reopen('busy', { kind: 'approved', by: 'U0BOB' });
    expect((await b.get('busy'))?.decision).toBeUndefined();
    expect(await b.decide('busy', { kind: 'approved', by: 'U0CAROL' })).toBe(true);
  });
});
