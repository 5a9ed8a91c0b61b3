import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal's native worker has crashed under worker threads; separate processes are safe.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: integration files each run a worker and Postgres work; keep the machine responsive.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        // Pure logic: no database, no Temporal, no emulator (npm run test:unit).
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        // Real Temporal dev server and PostgreSQL, started once for the run by the global setup.
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**'],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
