import { describe, expect, it } from 'vitest';
import { identifiersIn, matchTarget } from '../../src/alerts/targets.js';

const targets = {
  'app-db': { alertNames: ['pg-32lqva', 'app-db-prod'] },
  billing: { alertNames: ['billing.internal'] },
  orders_db: { alertNames: [] },
  app: { alertNames: ['arn:aws:rds:ap-northeast-2:1234:db:app-main'] },
};

describe('matchTarget', () => {
  it.each([
    ['Backup failed for app-db', 'app-db', 'app-db'],
    ['Automated backup of PG-32LQVA failed', 'app-db', 'pg-32lqva'],
    ['backup of app-db-prod failed', 'app-db', 'app-db-prod'],
    ['id=pg-32lqva|console', 'app-db', 'pg-32lqva'],
    ['pg-32lqva의 백업에 실패', 'app-db', 'pg-32lqva'],
    ['host billing.internal: backup failed', 'billing', 'billing'],
    ['(orders_db) backup failed', 'orders_db', 'orders_db'],
    ['Source: arn:aws:rds:ap-northeast-2:1234:db:app-main', 'app', 'arn:aws:rds:ap-northeast-2:1234:db:app-main'],
  ])('%s -> %s via %s', (words, target, via) => {
    expect(matchTarget(words, targets)).toEqual({ kind: 'one', target, via });
  });

  it('matches whole tokens only, never inside a longer identifier', () => {
    expect(matchTarget('backup of my-app-db failed', targets)).toEqual({ kind: 'none', seen: ['my-app-db'] });
    expect(matchTarget('backup of app-db2 failed', targets)).toEqual({ kind: 'none', seen: ['app-db2'] });
    expect(matchTarget('backup of orders_db_old failed', targets)).toEqual({ kind: 'none', seen: ['orders_db_old'] });
    expect(matchTarget('backup of pg-32lqva-replica failed', targets)).toEqual({ kind: 'none', seen: ['pg-32lqva-replica'] });
  });

  it('the longer of two overlapping identifiers wins (an alertName that contains another target name)', () => {
    expect(matchTarget('backup of app-db-prod failed', { ...targets, 'app-db-prod-x': { alertNames: [] } })).toEqual({
      kind: 'one',
      target: 'app-db',
      via: 'app-db-prod',
    });
    // `billing.internal` holds the token `billing` too: one target, named twice.
    expect(matchTarget('billing.internal failed', targets)).toEqual({ kind: 'one', target: 'billing', via: 'billing' });
    // app-main is inside the ARN of `app`; a target named app-main would lose to the longer ARN.
    expect(matchTarget('arn:aws:rds:ap-northeast-2:1234:db:app-main', { ...targets, 'app-main': { alertNames: [] } })).toEqual({
      kind: 'one',
      target: 'app',
      via: 'arn:aws:rds:ap-northeast-2:1234:db:app-main',
    });
  });

  it('two targets named: many, each with what matched', () => {
    expect(matchTarget('backups failed: app-db, billing', targets)).toEqual({
      kind: 'many',
      matches: [
        { target: 'app-db', via: 'app-db' },
        { target: 'billing', via: 'billing' },
      ],
    });
  });

  it('none: lists the identifier-like words it saw', () => {
    expect(matchTarget('Automated backup of pg-9xyz failed in ap-northeast-2 (see https://x.example/db?id=pg-9xyz)', targets)).toEqual({
      kind: 'none',
      seen: ['pg-9xyz', 'ap-northeast-2'],
    });
    expect(matchTarget('backup failed', targets)).toEqual({ kind: 'none', seen: [] });
  });
});

describe('identifiersIn', () => {
  it('keeps at most five distinct ones, in order', () => {
    expect(identifiersIn('a-1 db-one DB-ONE db_two x-y-z-w p-1 q-2 r-3 s-4')).toEqual(['db-one', 'db_two', 'x-y-z-w']);
    expect(identifiersIn('aa-1 bb-2 cc-3 dd-4 ee-5 ff-6')).toEqual(['aa-1', 'bb-2', 'cc-3', 'dd-4', 'ee-5']);
  });
});
