// The age stage on its own, with the real `age` tool: what age itself says about a changed or
// cut-short ciphertext and a wrong identity, in dumptruck's words. (verify's checksum and size
// checks usually decide first; these are the reasons when they cannot, e.g. for the ciphertext
// alone.)
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { AGE_DECRYPT_ARGS, ageEncryptArgs, decryptFailure, recipientFingerprint, startAge, type AgeSpawn } from '../../src/pipeline/age.js';
import { ageCli, ageKeygen } from '../helpers/age.js';

const env = { PATH: process.env.PATH };
const key = ageKeygen();

/** Decrypts `input` through startAge with `identity`; the output and age's verdict. */
async function decrypt(input: Buffer, identity: string) {
  const age = startAge(spawn as unknown as AgeSpawn, 'age', AGE_DECRYPT_ARGS, { env, identity });
  const out: Buffer[] = [];
  age.stage.on('data', (c: Buffer) => out.push(c));
  age.stage.on('error', () => undefined);
  age.stage.end(input);
  const exit = await age.exited;
  return { plain: Buffer.concat(out), error: decryptFailure('k.sql.gz.age', exit, age.stderrTail()) };
}

describe('age stage', () => {
  it('builds age arguments from recipients only, and short fingerprints', () => {
    expect(ageEncryptArgs(['age1a', 'ssh-ed25519 AAAA x'])).toEqual([
      '--encrypt',
      '--recipient',
      'age1a',
      '--recipient',
      'ssh-ed25519 AAAA x',
    ]);
    expect(recipientFingerprint(key.recipient)).toMatch(/^[0-9a-f]{16}$/);
    expect(recipientFingerprint(key.recipient)).not.toBe(recipientFingerprint(ageKeygen().recipient));
  });

  it('encrypts what the age CLI decrypts, and decrypts what it encrypts', async () => {
    const data = randomBytes(200_000);
    const age = startAge(spawn as unknown as AgeSpawn, 'age', ageEncryptArgs([key.recipient]), { env });
    const out: Buffer[] = [];
    age.stage.on('data', (c: Buffer) => out.push(c));
    age.stage.end(data);
    expect((await age.exited).code).toBe(0);
    expect((await ageCli(['-d'], Buffer.concat(out), key.identity)).equals(data)).toBe(true);

    const { plain, error } = await decrypt(await ageCli(['-r', key.recipient], data), key.identity);
    expect(error).toBeUndefined();
    expect(plain.equals(data)).toBe(true);
  });

  it('a wrong identity, a flipped byte and a cut-short ciphertext each fail with their reason', async () => {
    const cipher = await ageCli(['-r', key.recipient], randomBytes(300_000));
    const wrong = await decrypt(cipher, ageKeygen().identity);
    expect(wrong.error).toMatchObject({
      code: 'WRONG_IDENTITY',
      message: "k.sql.gz.age: the configured identity is not one of the backup's recipients: age cannot decrypt it",
    });

    const flipped = Buffer.from(cipher);
    flipped[200_000]! ^= 0x01;
    const changed = await decrypt(flipped, key.identity);
    expect(changed.error).toMatchObject({
      code: 'CORRUPTED',
      message: 'k.sql.gz.age: age cannot authenticate the ciphertext: the object was changed or cut short',
    });
    expect(changed.error!.stderrTail).toBe('age: error: failed to decrypt and authenticate payload chunk');

    expect((await decrypt(cipher.subarray(0, 150_000), key.identity)).error).toMatchObject({ code: 'CORRUPTED' });
    expect((await decrypt(cipher.subarray(0, 100), key.identity)).error).toMatchObject({
      code: 'TRUNCATED',
      message: 'k.sql.gz.age: the age ciphertext ends early: the object was cut short',
    });
  });

  it('age stopped after its reader gave up releases its stdout: the child closes', async () => {
    // verify's `age -d | pg_restore --list`: the whole ciphertext is written (age's stdin is
    // finished), then pg_restore exits once it has the table of contents, while age's output
    // waits unread. Destroying the stage then leaves that stdout alone (Duplex.from of a pair
    // destroys only the side still open), so only kill() can release it.
    const cipher = await ageCli(['-r', key.recipient], randomBytes(256 * 1024));
    let child: ChildProcess | undefined;
    const recording = ((command: string, args: readonly string[], options: object) => (child = spawn(command, args, options))) as AgeSpawn;
    const age = startAge(recording, 'age', AGE_DECRYPT_ARGS, { env, identity: key.identity });
    const reader = new Writable({ highWaterMark: 1, write: () => undefined });
    const piped = pipeline(Readable.from([cipher]), age.stage, reader).catch(() => undefined);
    while (!child!.stdin!.writableFinished || child!.stdout!.readableLength === 0) await new Promise((r) => setTimeout(r, 10));
    reader.destroy(new Error('pg_restore --list exited'));
    await piped;
    // age may have finished on its own (everything fits in the pipes) or be stopped: either way its
    // ChildProcess must close, and exited resolves.
    const closed = once(child!, 'close');
    age.kill();
    await closed;
    expect(child!.stdout!.destroyed).toBe(true);
    expect(child!.exitCode !== null || child!.signalCode !== null).toBe(true);
    await age.exited;
  }, 20_000);
});
