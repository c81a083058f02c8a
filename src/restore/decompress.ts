import { PassThrough, type Transform } from 'node:stream';
import { InputError } from '../errors.js';
import { createDecompressor } from '../pipeline/compress.js';
import { backupKind } from '../storage/keys.js';

// One place that turns a stored object's bytes back into the dump, chosen by what the key says
// (backupKind: format, compression, encryption). age (`.age`) plugs in here as a further case.

export type RestoreTool = 'psql' | 'pg_restore';

export interface Decoding {
  /** The stored bytes in, the dump out. */
  readonly decompress: () => Transform;
  /** What reads the dump: a plain SQL script goes to psql, a custom archive to pg_restore. */
  readonly tool: RestoreTool;
}

export function decodingFor(key: string): Decoding {
  const kind = backupKind(key);
  if (kind !== undefined && !kind.encrypted) {
    // pg_dump -Fc compresses its own blocks; pg_restore reads them as they are.
    if (kind.format === 'custom') return { decompress: () => new PassThrough(), tool: 'pg_restore' };
    const algorithm = kind.algorithm ?? 'gzip';
    return { decompress: () => createDecompressor(algorithm), tool: 'psql' };
  }
  throw new InputError(
    `don't know how to restore ${JSON.stringify(key.slice(key.lastIndexOf('/') + 1))}`,
    'restorable backups end in .sql.gz, .sql.zst or .dump',
  );
}
