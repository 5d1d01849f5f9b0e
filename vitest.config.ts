import { defineConfig } from 'vitest/config';

// Tests run in Node by default. A test file that touches the DOM or IndexedDB starts with
// `// @vitest-environment jsdom` and imports 'fake-indexeddb/auto'. Browser end-to-end tests
// (test/e2e/) drive Debian's /usr/bin/chromium through playwright-core from Node.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
