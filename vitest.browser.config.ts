import { defineConfig } from 'vitest/config';

// Browser tests of the dashboard: a real `wrangler dev` (test/e2e/server.ts) driven by Debian's
// Chromium through playwright-core (no browser download). Plain Node; one file after another.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    fileParallelism: false,
    sequence: { concurrent: false },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
