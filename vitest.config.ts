import { defineWorkersConfig } from '@cloudflare/vitest-pool-workers/config';

// Unit and object tests run inside workerd, against the real Worker and Durable Objects.
export default defineWorkersConfig({
  test: {
    include: ['test/workers/**/*.test.ts'],
    setupFiles: ['test/workers/setup.ts'],
    poolOptions: {
      workers: {
        singleWorker: true,
        isolatedStorage: true,
        wrangler: { configPath: './wrangler.toml' },
        // push acks held for 2 s before they are applied (10 ms in production): every way that reads
        // consume state must apply the acks received first, and these tests see it if one does not;
        // a push delivery's lease written once out 500 ms unacked (1 s in production)
        // COST_COUNTERS: the tests that bound rows written per operation read the Brokers' counters
        miniflare: { bindings: { ALLOW_ANONYMOUS: 'true', PUSH_ACK_FLUSH_MS: '2000', PUSH_LEASE_HOLD_MS: '500', COST_COUNTERS: 'true' } },
      },
    },
  },
});
