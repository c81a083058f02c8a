import { backupKind, fileName } from './keys.js';

// What a person holding the private key types to restore an encrypted backup after downloading
// it. Shown with every encrypted result and link, so that nobody has to look it up at 3 am.

/** The exact restore command for an encrypted backup's key: the private key in `key.txt`, the target database in $DATABASE_URL (no angle brackets: Slack reads those as links). */
export function restoreCommand(key: string): string {
  const file = fileName(key);
  const kind = backupKind(key);
  if (kind?.format === 'custom') return `age -d -i key.txt ${file} | pg_restore --no-owner -d "$DATABASE_URL"`;
  // A plain dump is decompressed by the tool that matches how dumptruck compressed it (.sql.zst.age: zstd).
  const decompress = kind?.algorithm === 'zstd' ? 'zstd -d' : 'gunzip';
  return `age -d -i key.txt ${file} | ${decompress} | psql -v ON_ERROR_STOP=1 "$DATABASE_URL"`;
}

/** One line: encrypted, to whom (fingerprints, when known), and how to restore. */
export function encryptedLine(key: string, fingerprints?: readonly string[]): string {
  const to = fingerprints ? ` to ${fingerprints.length} recipient${fingerprints.length === 1 ? '' : 's'} (${fingerprints.join(', ')})` : '';
  return `Encrypted with age${to}; restore with the private key: ${restoreCommand(key)}`;
}
