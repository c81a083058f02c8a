import { defineConfig } from 'vitest/config';

// The AWS SDK is pinned for Node 20 on purpose; its upgrade notice would drown the test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

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
