import { readFile } from 'node:fs/promises';
import type { PasswordSource } from '../config/schema.js';
import { DumptruckError } from '../errors.js';
import type { Env } from '../config/load.js';

export interface SecretDeps {
  readonly env: Env;
  readonly readFile?: (path: string) => Promise<string>;
}

/**
 * Fetches a target's password when a job starts (not at boot), so a rotated secret is picked up
 * by the next run. The error names the source, never the value.
 */
export async function resolvePassword(target: string, source: PasswordSource | undefined, deps: SecretDeps): Promise<string | undefined> {
  if (source === undefined) return undefined;
  const where = `targets.${target}.password`;
  if ('env' in source) {
    const value = deps.env[source.env];
    if (value === undefined || value === '') {
      throw new DumptruckError('SECRET_UNAVAILABLE', 'secret', `${where}: environment variable ${source.env} is not set`, {
        hint: `set ${source.env} in the environment or in .env`,
      });
    }
    return value;
  }
  const read = deps.readFile ?? ((p: string) => readFile(p, 'utf8'));
  try {
    // Secret files written by orchestrators usually end with a newline that is not part of the password.
    return (await read(source.file)).replace(/\r?\n$/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new DumptruckError('SECRET_UNAVAILABLE', 'secret', `${where}: cannot read ${source.file} (${code})`, { cause: err });
  }
}
