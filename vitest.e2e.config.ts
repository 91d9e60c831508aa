import { defineConfig } from 'vitest/config';

// End-to-end tests: each file starts a real `wrangler dev` (test/e2e/server.ts) and talks HTTP to
// it with Node's fetch. Plain Node, not the Workers pool; files run one after another so that the
// wrangler processes do not compete for this machine's cores.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
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
