import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { Env } from '../types.js';
import { TARGET_NAME, configSchema, type Config } from './schema.js';

export type { Env } from '../types.js';

/** Reads, overrides from the environment and validates the config; all problems at once. */
export async function loadConfig(path: string, env: Env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([
      code === 'ENOENT'
        ? `${path}: file not found (set DUMPTRUCK_CONFIG or create ./dumptruck.yml; see dumptruck.example.yml)`
        : `${path}: cannot read (${code ?? String(err)})`,
    ]);
  }
  return parseConfig(text, env, path);
}

/** Pure: YAML text + environment -> validated Config, or a ConfigError listing every problem. */
export function parseConfig(text: string, env: Env, source = 'config'): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${source}: YAML syntax: ${e.message.split('\n')[0]}`));
  }
  const raw = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError([`${source}: expected a YAML mapping at the top level`]);
  const envProblems: string[] = [];
  const merged = applyEnvOverrides(raw, env, envProblems);
  const parsed = configSchema.safeParse(merged);
  const problems = [...envProblems, ...targetNameProblems(merged.targets), ...(parsed.success ? [] : formatIssues(parsed.error.issues))];
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return parsed.data;
}

// Checked here rather than in the schema: zod skips refinements of an object whose fields
// already failed, and a bad name should be reported alongside everything else.
function targetNameProblems(targets: unknown): string[] {
  if (typeof targets !== 'object' || targets === null || Array.isArray(targets)) return [];
  const names = Object.keys(targets);
  if (names.length === 0) return ['targets: expected at least one target'];
  return names
    .filter((name) => !TARGET_NAME.test(name))
    .map((name) => `targets.${name}: target name must match [a-z0-9][a-z0-9_-]{0,62}, got ${JSON.stringify(name)}`);
}

/** S3_* variables win over `storage:`, so one config file can serve several environments. */
function applyEnvOverrides(raw: Record<string, unknown>, env: Env, problems: string[]): Record<string, unknown> {
  const storage = { ...((raw.storage as Record<string, unknown> | undefined) ?? {}) };
  const set = (name: string, key: string) => {
    const value = env[name];
    if (value !== undefined && value !== '') storage[key] = value;
  };
  set('S3_BUCKET', 'bucket');
  set('S3_REGION', 'region');
  set('S3_ENDPOINT', 'endpoint');
  set('S3_PREFIX', 'prefix');
  const pathStyle = env.S3_FORCE_PATH_STYLE;
  if (pathStyle !== undefined && pathStyle !== '') {
    if (/^(true|1|yes)$/i.test(pathStyle)) storage.forcePathStyle = true;
    else if (/^(false|0|no)$/i.test(pathStyle)) storage.forcePathStyle = false;
    else problems.push(`S3_FORCE_PATH_STYLE: expected true or false, got ${JSON.stringify(pathStyle)}`);
  }
  return { ...raw, storage };
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    // A union's own message ("expected { env } or { file }") says more than its branches.
    const path = issue.path.map(String).join('.') || '(top level)';
    let message = issue.message;
    if (issue.code === 'unrecognized_keys')
      message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    if (issue.code === 'invalid_type' && /received undefined/.test(message))
      message = `required (${message.replace(/^Invalid input: /, '')})`;
    out.push(`${path}: ${message}`);
  }
  return out;
}
