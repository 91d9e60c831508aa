import { serverSuite } from './vitest.e2e.config';

// Browser tests of the dashboard and the API reference: a real `wrangler dev` driven by Debian's
// Chromium through playwright-core (no browser download), set up like the end-to-end suite.
export default serverSuite('test/browser/**/*.test.ts');
