import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// What the CLI loads before it runs a command. Every full collection V8 makes during a backup
// (one per uploaded part, and V8's own) marks the whole heap again, so SDKs a backup never
// uses are loaded at their first use instead (secrets/aws.ts, snapshots/rds.ts): ~3 MiB less heap.
// Runs the built CLI module (npm test builds first) with a resolve hook that records packages.
const HOOK = `
import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(r.url); if (m) seen.add(m[1]); return r; } });
process.on('exit', () => console.log(JSON.stringify([...seen].sort())));
`;

describe('the CLI at start', () => {
  it('loads the S3 client but not the RDS, Secrets Manager, pg-boss or Slack packages', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--import',
      `data:text/javascript,${encodeURIComponent(HOOK)}`,
      '--input-type=module',
      '-e',
      "await import('./dist/cli/main.js')",
    ]);
    const packages: string[] = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(packages).toContain('@aws-sdk/client-s3');
    for (const lazy of ['@aws-sdk/client-rds', '@aws-sdk/client-secrets-manager', 'pg-boss', '@slack/bolt']) {
      expect(packages, lazy).not.toContain(lazy);
    }
  });
});
