import { defineWorkersConfig } from '@cloudflare/vitest-pool-workers/config';

// Unit and object tests run inside workerd, against the real Worker and Durable Objects.
export default defineWorkersConfig({
  test: {
    include: ['test/workers/**/*.test.ts'],
    poolOptions: {
      workers: {
        singleWorker: true,
        isolatedStorage: true,
        wrangler: { configPath: './wrangler.toml' },
        miniflare: { bindings: { ALLOW_ANONYMOUS: 'true' } },
      },
    },
  },
});
