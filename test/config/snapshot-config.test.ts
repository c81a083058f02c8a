import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { alertSteps } from '../../src/snapshots/alert-action.js';
import { configProblems } from '../helpers/config-problems.js';

const base = (targets: string, alerts = '') => `storage: { bucket: backups }
targets:
${targets}
${alerts}`;

describe('rds, snapshots and alert actions in the config', () => {
  it('accepts an instance, its retention and the alert action', () => {
    const config = parseConfig(
      base(
        `  app-db:
    url: postgres://backup@db:5432/app
    rds: { instanceId: app-db-prod, region: eu-west-1 }
    snapshots: { keepLast: 3 }
    alertAction: both
  plain:
    url: postgres://backup@db:5432/plain`,
        'alerts: { channels: [C0ALERTS], action: snapshot }',
      ),
      {},
    );
    expect(config.targets['app-db']?.rds).toEqual({ instanceId: 'app-db-prod', region: 'eu-west-1' });
    expect(config.targets['app-db']?.snapshots).toEqual({ keepLast: 3 });
    expect(config.alerts.action).toBe('snapshot');
    expect(alertSteps(config, 'app-db')).toEqual(['snapshot', 'dump']);
    // The global action cannot snapshot a target without an instance: it dumps.
    expect(alertSteps(config, 'plain')).toEqual(['dump']);
    expect(alertSteps(config, 'nope')).toEqual([]);
  });

  it('defaults: the alert action is dump', () => {
    const config = parseConfig(base(`  app-db: { url: 'postgres://backup@db:5432/app', rds: { instanceId: app-db-prod } }`), {});
    expect(config.alerts.action).toBe('dump');
    expect(alertSteps(config, 'app-db')).toEqual(['dump']);
    const snapshotOnly = parseConfig(
      base(
        `  app-db: { url: 'postgres://backup@db:5432/app', rds: { instanceId: app-db-prod }, alertAction: snapshot }`,
        'alerts: { action: both }',
      ),
      {},
    );
    expect(alertSteps(snapshotOnly, 'app-db')).toEqual(['snapshot']);
  });

  it('reports each problem by path, in words that say what would work', () => {
    expect(
      configProblems(
        base(
          `  a:
    url: postgres://backup@db:5432/a
    rds: { instanceId: 1bad--id, region: Frankfurt, endpoint: nope, extra: 1 }
  b:
    url: postgres://backup@db:5432/b
    snapshots: { keepLast: 0 }
  c:
    url: postgres://backup@db:5432/c
    snapshots: { keepLast: 2 }
    alertAction: snapshot
  d:
    url: postgres://backup@db:5432/d
    alertAction: sometimes`,
          'alerts: { action: never }',
        ),
      ),
    ).toEqual([
      'targets.a.rds.instanceId: expected an RDS DB instance identifier: 1-63 letters, digits and hyphens, starting with a letter, no double or trailing hyphen',
      'targets.a.rds.region: expected an AWS region like eu-west-1',
      'targets.a.rds.endpoint: expected an http(s) URL like https://rds.eu-west-1.amazonaws.com',
      'targets.a.rds: unknown key "extra"',
      'targets.b.snapshots.keepLast: Too small: expected number to be >=1',
      'targets.b.snapshots: only meaningful with rds: { instanceId } (the RDS instance to snapshot)',
      'targets.c.snapshots: only meaningful with rds: { instanceId } (the RDS instance to snapshot)',
      'targets.c.alertAction: "snapshot" takes an RDS snapshot: set rds: { instanceId } on this target, or use "dump"',
      'targets.d.alertAction: expected dump, snapshot or both',
      'alerts.action: expected dump, snapshot or both',
    ]);
  });
});
