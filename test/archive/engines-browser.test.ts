/**
 * The engines in each browser (test/support/browsers.ts): a page and the worker script bundled by
 * esbuild and served from 127.0.0.1 (bench/browser/). The worker pool runs real module Web Workers
 * from its default URL, with noble and with libsodium inside; the archives must be byte-identical
 * to the pure-JS engine's.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serveBenchPage, type PageApiType } from '../../bench/browser/harness.js';
import { describeBrowsers, launchBrowser, waitForGlobal, type TestBrowser, type TestPage } from '../support/browsers.js';

let served: Promise<{ origin: string; close(): void }> | undefined;

afterAll(async () => {
  (await served)?.close();
});

describeBrowsers('engines', (engine) => {
  let browser: TestBrowser | undefined;
  let page: TestPage;

  beforeAll(async () => {
    const { origin } = await (served ??= serveBenchPage());
    browser = await launchBrowser(engine);
    page = await browser.newPage();
    await page.goto(`${origin}/`);
    await waitForGlobal(page, 'e2eeBench');
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('worker pool (noble and libsodium) and the libsodium engine give the pure-JS engine’s archive bytes, and decrypt', async () => {
    const r = await page.evaluate(() => (globalThis as unknown as { e2eeBench: PageApiType }).e2eeBench.equivalence());
    expect(r.workerDefined).toBe('function');
    // No process.getBuiltinModule in a browser: the default is the pure-JS engine.
    expect(r.defaultEngine).toBe('noble');
    // A pool with the defaults (createWorkerEngine(), what README's quick start passes) reads a window right.
    expect(r.pool).toBe('workers');
    expect(r.poolRead).toBe(true);
    for (const choice of ['libsodium', 'workers-noble', 'workers-libsodium']) {
      expect(r[choice], choice).toEqual({ sameBytes: true, decrypts: true, tamperCode: 'ARCHIVE_AUTH_FAILED', streamed: 300_123 });
    }
  });
});
