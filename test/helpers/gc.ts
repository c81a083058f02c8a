import { vi } from 'vitest';

/**
 * Runs `run` with a recording `globalThis.gc` in place of the collector --expose-gc gives, and with
 * the module registry reset, so that modules `run` imports read it as they load. Each call's
 * options go to `record`; the previous global is put back after.
 */
export async function withRecordedGc<T>(record: (options: unknown) => void, run: () => Promise<T>): Promise<T> {
  const global = globalThis as { gc?: unknown };
  const before = global.gc;
  global.gc = record;
  vi.resetModules();
  try {
    return await run();
  } finally {
    global.gc = before;
    vi.resetModules();
  }
}
