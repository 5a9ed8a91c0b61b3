import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Temporal's native worker has crashed under worker threads; separate processes are safe.
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: integration files each run a worker and Postgres work; keep the machine responsive.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
