// The static build (`npm run build:demo`) in each browser (test/support/browsers.ts): no /api
// server, so the page runs the fleet itself and still tells the story (enable, back up, restore
// on a new device, tamper refused). Built once into a temporary directory and served as plain
// files on loopback, with the same-origin error capture added to index.html.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serveHandler, type ServedHandler } from '../../lib/server/index.js';
import { describeBrowsers, ERROR_CAPTURE_JS, ERROR_CAPTURE_PATH, ERROR_CAPTURE_TAG, launchBrowser, screenshotOnFailure, type TestBrowser, type TestPage } from '../support/browsers.js';
import { demoPage } from './demo-page.js';

const CONFIG = fileURLToPath(new URL('../../demo/vite.config.ts', import.meta.url));
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };

/** One build, served, for every engine. */
let built: Promise<{ served: ServedHandler; out: string }> | undefined;
async function buildAndServe(): Promise<{ served: ServedHandler; out: string }> {
  const out = mkdtempSync(join(tmpdir(), 'e2ee-demo-dist-'));
  await build({ configFile: CONFIG, logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
  const served = await serveHandler(async (req) => {
    const path = new URL(req.url).pathname;
    if (path === ERROR_CAPTURE_PATH) return new Response(ERROR_CAPTURE_JS, { headers: { 'content-type': 'text/javascript' } });
    const file = normalize(join(out, path === '/' ? 'index.html' : path));
    if (!file.startsWith(out) || !existsSync(file)) return new Response('not found', { status: 404 });
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    if (file.endsWith('index.html')) return new Response(readFileSync(file, 'utf8').replace('<head>', `<head>${ERROR_CAPTURE_TAG}`), { headers: { 'content-type': type } });
    return new Response(readFileSync(file), { headers: { 'content-type': type } });
  });
  return { served, out };
}

afterAll(async () => {
  const b = await built?.catch(() => undefined);
  await b?.served.close();
  if (b !== undefined) rmSync(b.out, { recursive: true, force: true });
});

describeBrowsers('the demo static build', (engine) => {
  let browser: TestBrowser | undefined;
  let page: TestPage;
  let url = '';

  beforeAll(async () => {
    url = `${(await (built ??= buildAndServe())).served.url}/`;
    browser = await launchBrowser(engine);
    page = await browser.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  const { text, click, fill, select, count, waitFor, waitData, waitReady } = demoPage(() => page);

  it('runs the fleet in the page: enable, back up, restore on a new device, tamper refused', async () => {
    await screenshotOnFailure(page, 'demo-static', async () => {
      await page.goto(url);
      await waitReady();
      expect(await text('mode-note')).toMatch(/static build/);
      await select('archive-size', '1m');
      await click('generate');
      await click('enable');
      await waitFor('recovery-code', /^[0-9A-Z-]{20,}$/);
      const code = await text('recovery-code');
      await click('backup');
      await waitData('backup-status', 'state', 'done');
      await click('new-device');
      await waitFor('restore-status', /new device/);
      await fill('restore-code', code);
      await click('restore');
      await waitData('restore-status', 'state', 'verified');
      expect(await count('[data-testid="chat-item"]')).toBeGreaterThan(0);
      await click('operator-tamper');
      await waitFor('tamper-status', /^Flipped one bit/);
      await click('restore');
      await waitFor('restore-error', /^Restore refused/);
      expect(await page.consoleErrors()).toEqual([]);
    });
  }, 180_000);
});
