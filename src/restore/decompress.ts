import { PassThrough, type Transform } from 'node:stream';
import { InputError } from '../errors.js';
import { createDecompressor } from '../pipeline/compress.js';
import { backupKind } from '../storage/keys.js';

// One place that turns a stored object's bytes back into the dump, chosen by what the key says
// (backupKind: format, compression, encryption). Decryption (`.age`) runs in front of these
// stages, in restore.ts, because it needs the target's identity.

export type RestoreTool = 'psql' | 'pg_restore';

export interface Decoding {
  /** The stored bytes in, the dump out. */
  readonly decompress: () => Transform;
  /** What reads the dump: a plain SQL script goes to psql, a custom archive to pg_restore. */
  readonly tool: RestoreTool;
  /** Encrypted with age (`.age`): the stored bytes are decrypted before `decompress`. */
  readonly encrypted: boolean;
}

export function decodingFor(key: string): Decoding {
  const kind = backupKind(key);
  if (kind !== undefined) {
    const { encrypted } = kind;
    // pg_dump -Fc compresses its own blocks; pg_restore reads them as they are.
    if (kind.format === 'custom') return { decompress: () => new PassThrough(), tool: 'pg_restore', encrypted };
    const algorithm = kind.algorithm ?? 'gzip';
    return { decompress: () => createDecompressor(algorithm), tool: 'psql', encrypted };
  }
  throw new InputError(
    `don't know how to restore ${JSON.stringify(key.slice(key.lastIndexOf('/') + 1))}`,
    'restorable backups end in .sql.gz, .sql.zst or .dump, each optionally followed by .age',
  );
}
