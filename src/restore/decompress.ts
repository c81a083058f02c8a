import { PassThrough, type Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InputError } from '../errors.js';
import { createZstdDecompress } from '../pipeline/unzstd.js';

// One place that turns a stored object's bytes back into the dump, chosen by the key's suffix
// (the suffix names format, compression and encryption). age (`.age`) plugs in here as a further case.

export type RestoreTool = 'psql' | 'pg_restore';

export interface Decoding {
  /** The stored bytes in, the dump out. */
  readonly decompress: () => Transform;
  /** What reads the dump: a plain SQL script goes to psql, a custom archive to pg_restore. */
  readonly tool: RestoreTool;
}

export function decodingFor(key: string): Decoding {
  if (key.endsWith('.sql.gz')) return { decompress: () => createGunzip(), tool: 'psql' };
  // Frame by frame: node's own zstd decoder stops after the first of dumptruck's frames.
  if (key.endsWith('.sql.zst')) return { decompress: () => createZstdDecompress(), tool: 'psql' };
  // pg_dump -Fc compresses its own blocks; pg_restore reads them as they are.
  if (key.endsWith('.dump')) return { decompress: () => new PassThrough(), tool: 'pg_restore' };
  throw new InputError(
    `don't know how to restore ${JSON.stringify(key.slice(key.lastIndexOf('/') + 1))}`,
    'restorable backups end in .sql.gz, .sql.zst or .dump',
  );
}
