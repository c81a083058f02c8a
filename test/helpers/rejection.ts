import { expect } from 'vitest';
import { DumptruckError } from '../../src/errors.js';

/** The DumptruckError a promise rejects with; fails the test when it resolves or throws anything else. */
export async function rejection(p: Promise<unknown>): Promise<DumptruckError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DumptruckError);
  return err as DumptruckError;
}
