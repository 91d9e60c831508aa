import { defineConfig } from 'vitest/config';

/**
 * Suites against real `wrangler dev` servers (test/e2e/server.ts), in plain Node rather than the
 * Workers pool; files run one after another so that the wrangler processes do not compete for
 * this machine's cores. The end-to-end tests talk HTTP and WebSocket to them; the browser tests
 * (vitest.browser.config.ts) drive Debian's Chromium against them.
 */
export function serverSuite(include: string) {
  return defineConfig({
    test: {
      include: [include],
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
}

export default serverSuite('test/e2e/**/*.test.ts');
