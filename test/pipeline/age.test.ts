// The age stage on its own, with the real `age` tool: what age itself says about a changed or
// cut-short ciphertext and a wrong identity, in dumptruck's words. (verify's checksum and size
// checks usually decide first; these are the reasons when they cannot, e.g. for the ciphertext
// alone.)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
});
