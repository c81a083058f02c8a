import { describe, expect, it } from 'vitest';
import { DumptruckError, InputError, scrubSecrets, userMessage } from '../src/errors.js';

describe('errors', () => {
  it('scrubs known secrets, password pairs, URL credentials and presigned signatures', () => {
    expect(scrubSecrets('auth failed for hunter22 again', ['hunter22'])).toBe('auth failed for *** again');
    expect(scrubSecrets('password=abc123 host=db')).toBe('password=*** host=db');
    expect(scrubSecrets('PGPASSWORD=abc123 psql')).toBe('PGPASSWORD=*** psql');
    expect(scrubSecrets('verify.password: environment variable X is not set')).toBe('verify.password: environment variable X is not set');
    expect(scrubSecrets('postgres://backup:s3cret@db/app')).toBe('postgres://backup:***@db/app');
    expect(scrubSecrets('https://x/k?X-Amz-Signature=abcdef0123&x-id=1')).toBe('https://x/k?X-Amz-Signature=***&x-id=1');
  });

  it('renders stage, message, hint and pg_dump stderr in one place', () => {
    const err = new DumptruckError('DUMP_FAILED', 'dump', 'pg_dump exited with code 1', {
      stderrTail: 'pg_dump: error: connection to server failed: password is sekret',
      hint: 'check the target',
    });
    expect(userMessage(err, ['sekret'])).toBe('dump failed: pg_dump exited with code 1\ncheck the target\npg_dump said:\npg_dump: error: connection to server failed: password is ***');
    expect(userMessage(new InputError('unknown target "x"', 'known targets: a, b'))).toBe('unknown target "x"\nknown targets: a, b');
    expect(userMessage(new Error('boom'))).toBe('internal failed: boom');
  });
});
