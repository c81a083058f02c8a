import { describe, expect, it } from 'vitest';
import { DumptruckError, InputError, userMessage } from '../src/errors.js';
import { Redactor, scrubSecrets } from '../src/redact.js';

describe('errors', () => {
  it('scrubs known secrets, password pairs, URL credentials and presigned signatures', () => {
    expect(scrubSecrets('auth failed for hunter22 again', ['hunter22'])).toBe('auth failed for [redacted] again');
    expect(scrubSecrets('password=abc123 host=db')).toBe('password=[redacted] host=db');
    expect(scrubSecrets("password: 'two words' host=db")).toBe('password: [redacted] host=db');
    expect(scrubSecrets('PGPASSWORD=abc123 psql')).toBe('PGPASSWORD=[redacted] psql');
    expect(scrubSecrets('verify.password: environment variable X is not set')).toBe('verify.password: environment variable X is not set');
    expect(scrubSecrets('postgres://backup:s3cret@db/app')).toBe('postgres://backup:[redacted]@db/app');
    expect(scrubSecrets('https://x/k?X-Amz-Signature=abcdef0123&x-id=1')).toBe('https://x/k?X-Amz-Signature=[redacted]&x-id=1');
    // a short password is still a password: values of 4 characters and more go
    expect(scrubSecrets('auth failed for pw42', ['pw42'])).toBe('auth failed for [redacted]');
  });

  it('age private keys by their shape, whichever redactor and wherever they came from (a file, a secret manager)', () => {
    const key = 'AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS0SEXMR';
    expect(scrubSecrets(`age: malformed identity ${key} in /dev/fd/63`)).toBe('age: malformed identity [redacted] in /dev/fd/63');
    expect(scrubSecrets(`k=${key.toLowerCase()};`)).toBe('k=[redacted];');
    expect(userMessage(new DumptruckError('WRONG_IDENTITY', 'verify', 'no match', { stderrTail: key }))).toBe(
      'verify failed: no match\npg_dump said:\n[redacted]',
    );
    expect(scrubSecrets('identity AGE-PLUGIN-FIDO2-HMAC-1QVQSYQCYQ5RQWZQFPG9SCYQCZ2E3 used')).toBe('identity [redacted] used');
    // The public key is not a secret: recipients stay readable.
    expect(scrubSecrets('to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p')).toBe(
      'to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p',
    );
  });

  it('error texts go through the process redactor, which a job extends with its password without changing it', () => {
    const process = new Redactor(['xoxb-not-a-shape-but-env']).add('hmac-key-0123456789');
    const job = process.with('jobpass');
    const err = new DumptruckError(
      'CONNECT_FAILED',
      'connect',
      'login as jobpass failed; key hmac-key-0123456789; token xoxb-not-a-shape-but-env',
    );
    expect(userMessage(err, job)).toBe('connect failed: login as [redacted] failed; key [redacted]; token xoxb-[redacted]');
    expect(userMessage(err, process)).toBe('connect failed: login as jobpass failed; key [redacted]; token xoxb-[redacted]');
  });

  it('renders stage, message, hint and pg_dump stderr in one place', () => {
    const err = new DumptruckError('DUMP_FAILED', 'dump', 'pg_dump exited with code 1', {
      stderrTail: 'pg_dump: error: connection to server failed: password is sekret',
      hint: 'check the target',
    });
    expect(userMessage(err, new Redactor(['sekret']))).toBe(
      'dump failed: pg_dump exited with code 1\ncheck the target\npg_dump said:\npg_dump: error: connection to server failed: password is [redacted]',
    );
    expect(userMessage(new InputError('unknown target "x"', 'known targets: a, b'))).toBe('unknown target "x"\nknown targets: a, b');
    expect(userMessage(new Error('boom'))).toBe('internal failed: boom');
  });

  it('labels the stderr tail with the program that wrote it; pg_dump when none is named', () => {
    for (const tool of ['pg_restore', 'psql', 'age']) {
      const err = new DumptruckError('RESTORE_FAILED', 'restore', `${tool} exited with code 1`, { stderrTail: `${tool}: error: x`, tool });
      expect(userMessage(err)).toBe(`restore failed: ${tool} exited with code 1\n${tool} said:\n${tool}: error: x`);
    }
  });
});
