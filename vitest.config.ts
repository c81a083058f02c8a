import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Child processes, not threads: tests spawn pg_dump and servers and may change process.env.
    pool: 'forks',
    // The machine has 2 cores, and the shared servers run beside the workers.
    maxWorkers: 2,
  },
});
