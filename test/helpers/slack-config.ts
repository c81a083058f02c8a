// Configs for Slack tests, through the real parser so defaults match production.
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

export interface TargetSpec {
  readonly url?: string;
  readonly channels?: readonly string[];
  readonly users?: readonly string[];
  readonly format?: 'plain' | 'custom';
  readonly password?: { readonly env: string };
}

export function slackTestConfig(
  targets: Readonly<Record<string, TargetSpec>>,
  options: {
    readonly concurrency?: number;
    readonly maxPending?: number;
    readonly jobTimeout?: string;
    readonly storage?: Record<string, unknown>;
  } = {},
): Config {
  const doc = {
    storage: { bucket: 'backups', prefix: 'dumptruck', ...options.storage },
    queue: { concurrency: options.concurrency ?? 2, maxPending: options.maxPending ?? 20, jobTimeout: options.jobTimeout ?? '6h' },
    targets: Object.fromEntries(
      Object.entries(targets).map(([name, t]) => [
        name,
        {
          url: t.url ?? `postgres://backup@127.0.0.1:5432/${name}`,
          channels: t.channels ?? [],
          users: t.users ?? [],
          format: t.format ?? 'plain',
          ...(t.password ? { password: t.password } : {}),
        },
      ]),
    ),
  };
  // JSON is YAML.
  return parseConfig(JSON.stringify(doc), {});
}
