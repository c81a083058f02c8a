import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import type { Env } from '../config/load.js';
import { DumptruckError } from '../errors.js';
import { scrubSecrets } from '../redact.js';

// Encryption runs the `age` command-line tool (the Go reference implementation) as a child
// process, like pg_dump: measured on this project's machine it encrypts 200 MiB in well under a
// second, while the pure-JavaScript `age-encryption` package manages about 23-60 MiB/s, slower
// than the rest of the pipeline put together.

export type AgeSpawn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

/** `age` on PATH: Debian's package installs it as /usr/bin/age. */
export const AGE_BIN = 'age';

/** Recipients are public keys: they may travel in argv. */
export function ageEncryptArgs(recipients: readonly string[]): string[] {
  return ['--encrypt', ...recipients.flatMap((r) => ['--recipient', r])];
}

export const AGE_DECRYPT_ARGS: readonly string[] = ['--decrypt'];

/**
 * The identity (a private key) must reach age as a file it opens, yet never be written to disk or
 * argv. Node's stdio "pipes" are socket pairs, which /dev/fd/N cannot open, so bash's process
 * substitution turns fd 3 into a real pipe: age reads the key from /dev/fd/63, which `cat` fills
 * from fd 3, where we write it. The command line holds only paths.
 */
export function withIdentityPipe(bin: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: 'bash', args: ['--norc', '--noprofile', '-c', 'exec "$0" "$@" --identity <(exec cat <&3)', bin, ...args] };
}

/** A short, stable name for a recipient, for metadata and messages: the first 16 hex digits of its SHA-256. */
export function recipientFingerprint(recipient: string): string {
  return createHash('sha256').update(recipient.trim()).digest('hex').slice(0, 16);
}

type Exit = { code: number | null; signal: NodeJS.Signals | null; spawnError?: Error };

export interface AgeProcess {
  /** Bytes in, bytes out (encrypted, or decrypted). */
  readonly stage: Duplex;
  /** Resolves when age has exited and its pipes closed; never rejects. */
  readonly exited: Promise<Exit>;
  stderrTail(): string;
  kill(): void;
}

const STDERR_KEEP = 4096;

/**
 * Starts `age` as a stream stage. Its environment holds only PATH: nothing of the bot's (tokens,
 * passwords) reaches it. With `identity`, the key is written into fd 3 and the pipe closed
 * (see withIdentityPipe).
 */
/** How long after age's exit its stdio may take to close before the exit status is taken as it is. */
const CLOSE_GRACE_MS = 1000;

export function startAge(
  spawn: AgeSpawn,
  bin: string,
  args: readonly string[],
  options: { readonly env: Env; readonly identity?: string },
): AgeProcess {
  const env: Record<string, string> = {};
  if (options.env.PATH !== undefined) env.PATH = options.env.PATH;
  const command = options.identity === undefined ? { command: bin, args: [...args] } : withIdentityPipe(bin, args);
  const child = spawn(command.command, command.args, {
    env,
    stdio: ['pipe', 'pipe', 'pipe', ...(options.identity === undefined ? [] : ['pipe' as const])],
  });
  let tail = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_KEEP);
  });
  // age may exit before it read all its input (a wrong identity, a damaged file): that is
  // reported from its exit status and stderr, not as an EPIPE.
  child.stdin?.on('error', () => undefined);
  const keyPipe = child.stdio[3] as NodeJS.WritableStream | null | undefined;
  if (options.identity !== undefined && keyPipe) {
    (keyPipe as unknown as { on(e: 'error', f: () => void): void }).on('error', () => undefined);
    keyPipe.end(`${options.identity.trim()}\n`);
    // The key's socket is also readable: drained, it can close once age and the `cat` feeding it are gone.
    (keyPipe as unknown as { resume(): void }).resume();
  }
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (spawnError) => resolve({ code: null, signal: null, spawnError }));
    // 'close' waits for every stdio stream, so stderr is complete; but a descriptor that a helper
    // process (bash's `cat` for the identity) or an unread stream keeps open must not hold the run
    // forever: a second after age itself exited, its exit status is enough.
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('exit', (code, signal) => setTimeout(() => resolve({ code, signal }), CLOSE_GRACE_MS).unref());
  });
  return {
    stage: Duplex.from({ writable: child.stdin!, readable: child.stdout! }),
    exited,
    // age ends every error with a line asking for bug reports: noise in a backup's error. The
    // identity is scrubbed: age may quote a key it could not parse.
    stderrTail: () => {
      const lines = tail
        .trim()
        .split('\n')
        .filter((l) => !/report unexpected or unhelpful errors/.test(l));
      return scrubSecrets(lines.slice(-10).join('\n'), options.identity === undefined ? [] : [options.identity.trim()]);
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      // Nobody reads a stopped age's output, and it may hold bytes that a reader which gave up
      // (pg_restore --list) left paused there. Destroying the stage does not reach it once age's
      // stdin has finished (Duplex.from of a pair destroys only a side still open): that stdout
      // would never end, the child never emit 'close', and a pipeline through the stage never settle.
      child.stdin?.destroy();
      child.stdout?.destroy();
    },
  };
}

/** age's exit as a backup error: its failure fails the backup, as pg_dump's does. */
export function encryptFailure(exit: Exit, stderr: string): DumptruckError | undefined {
  if (exit.spawnError) {
    return new DumptruckError('ENCRYPT_FAILED', 'encrypt', `cannot start age: ${exit.spawnError.message}`, {
      cause: exit.spawnError,
      hint: 'install the age tool (Debian/Ubuntu: apt-get install age)',
    });
  }
  if (exit.code === 0) return undefined;
  return new DumptruckError(
    'ENCRYPT_FAILED',
    'encrypt',
    `age exited with ${exit.code === null ? `signal ${exit.signal}` : `code ${exit.code}`}`,
    {
      ...(stderr ? { stderrTail: stderr, tool: 'age' } : {}),
    },
  );
}

/**
 * age's refusal to decrypt, in the words of a backup. Its messages (age 1.1): "no identity matched
 * any of the recipients"; "failed to read header: ... EOF" (cut short inside the header); "failed
 * to decrypt and authenticate payload chunk" for a changed byte and for a payload cut short alike
 * (its STREAM construction cannot tell them apart; verify's size check against the metadata does).
 */
export function decryptFailure(key: string, exit: Exit, stderr: string): DumptruckError | undefined {
  if (exit.spawnError) return encryptFailure(exit, stderr);
  if (exit.code === 0) return undefined;
  const options = stderr ? { stderrTail: stderr, tool: 'age' } : {};
  if (/no identity matched/i.test(stderr)) {
    return new DumptruckError(
      'WRONG_IDENTITY',
      'verify',
      `${key}: the configured identity is not one of the backup's recipients: age cannot decrypt it`,
      {
        ...options,
        hint: 'set encrypt.identity to the private key of one of the recipients the backup was encrypted to',
      },
    );
  }
  if (/\bEOF\b|premature|truncated|last chunk is empty/i.test(stderr)) {
    return new DumptruckError('TRUNCATED', 'verify', `${key}: the age ciphertext ends early: the object was cut short`, options);
  }
  if (/authenticate|header|MAC|malformed|invalid|parse/i.test(stderr)) {
    return new DumptruckError(
      'CORRUPTED',
      'verify',
      `${key}: age cannot authenticate the ciphertext: the object was changed or cut short`,
      options,
    );
  }
  return new DumptruckError(
    'VERIFY_FAILED',
    'verify',
    `${key}: age exited with ${exit.code === null ? `signal ${exit.signal}` : `code ${exit.code}`}`,
    options,
  );
}
