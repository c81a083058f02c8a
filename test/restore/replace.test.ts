// Which databases a restore may replace: a pure check on the config (the requester picks the name).
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { replaceRefusal } from '../../src/restore/restore.js';

const config = parseConfig(
  `
storage: { bucket: backups }
targets:
  app: { url: "postgres://backup@db:5432/app", restore: { allowReplace: true } }
  billing: { url: "postgres://backup@db:5432/billing" }
  staging: { url: "postgres://backup@db:5432/app_staging", restore: { allowReplace: true, replaceable: [app_staging, scratch, billing] } }
  elsewhere: { url: "postgres://backup@other:5432/orders", restore: { url: "postgres://admin@db:5432/postgres", allowReplace: true, replaceable: [orders, app] } }
  copy: { url: "postgres://backup@db:5432/app", format: custom, restore: { allowReplace: true } }
`,
  {},
);
const refusal = (target: string, database: string) => replaceRefusal(config, target, database)?.message;

describe('replaceRefusal', () => {
  it("by default only the target's own database may be replaced", () => {
    expect(refusal('app', 'app')).toBeUndefined();
    expect(refusal('app', 'app_scratch')).toBe(
      "app_scratch is not in targets.app.restore.replaceable (by default only app's own database, app)",
    );
    expect(replaceRefusal(config, 'app', 'app_scratch')).toMatchObject({
      code: 'NOT_ALLOWED',
      hint: 'an admin adds it to targets.app.restore.replaceable; or restore into a new database instead',
    });
  });

  it('restore.replaceable lists the databases instead', () => {
    expect(refusal('staging', 'scratch')).toBeUndefined();
    expect(refusal('staging', 'app_staging')).toBeUndefined();
    expect(refusal('staging', 'other')).toBe(
      'other is not in targets.staging.restore.replaceable (it lists app_staging, scratch, billing)',
    );
  });

  it('postgres, template0 and template1 never, whatever the list says', () => {
    for (const db of ['postgres', 'template0', 'template1']) {
      expect(refusal('app', db)).toBe(`${db} is a system database; postgres, template0, template1 are never replaced`);
    }
  });

  it("another target's database on the destination server never, even when listed", () => {
    expect(refusal('staging', 'billing')).toBe(
      "billing is the database of target billing; a restore of staging never replaces another target's database",
    );
    expect(replaceRefusal(config, 'staging', 'billing')?.hint).toBe('restore into a new database instead, or restore a backup of billing');
    // restore.url points at db:5432, where `app` is the app target's database.
    expect(refusal('elsewhere', 'app')).toMatch(/^app is the database of target (app|copy);/);
    // Its own database name on another server is its own to replace.
    expect(refusal('elsewhere', 'orders')).toBeUndefined();
  });

  it('two targets of one database may both replace it', () => {
    expect(refusal('copy', 'app')).toBeUndefined();
    expect(refusal('app', 'app')).toBeUndefined();
  });
});
