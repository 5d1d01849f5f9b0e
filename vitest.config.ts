import { defineConfig } from 'vitest/config';

// Tests run in Node by default. A test file that touches the DOM or IndexedDB starts with
// `// @vitest-environment jsdom` and imports 'fake-indexeddb/auto'. Browser tests (*-browser.test.ts,
// test/e2e/) drive Debian's Chromium, Firefox ESR and WebKitGTK from Node through one seam,
// test/support/browsers.ts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
