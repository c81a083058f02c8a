// The real `age` tools (Debian package `age`), as the people who restore use them.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface AgeKey {
  /** AGE-SECRET-KEY-1...: the private key. */
  readonly identity: string;
  /** age1...: the public key. */
  readonly recipient: string;
}

export function ageKeygen(): AgeKey {
  const out = execFileSync('age-keygen', [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const recipient = /# public key: (age1\S+)/.exec(out)?.[1];
  const identity = /^(AGE-SECRET-KEY-1\S+)$/m.exec(out)?.[1];
  if (!recipient || !identity) throw new Error('age-keygen printed no key');
  return { identity, recipient };
}

/** Runs `age` with `args` over `input`, with a key file as a person would keep it; rejects with age's stderr. */
export async function ageCli(args: readonly string[], input: Buffer, identity?: string): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'dt-age-'));
  try {
    const keyArgs: string[] = [];
    if (identity !== undefined) {
      await writeFile(join(dir, 'key.txt'), `${identity}\n`, { mode: 0o600 });
      keyArgs.push('-i', join(dir, 'key.txt'));
    }
    return await new Promise<Buffer>((resolve, reject) => {
      const child = spawn('age', [...args, ...keyArgs], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.stdin.on('error', () => undefined);
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`age exited ${code}: ${err}`))));
      child.stdin.end(input);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
