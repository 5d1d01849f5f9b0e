// The static build (`npm run build:demo`) in Chromium: no /api server, so the page runs the fleet
// itself and still tells the story (enable, back up, restore on a new device, tamper refused).
// Built into a temporary directory and served as plain files on loopback.
// Without /usr/bin/chromium the test is skipped locally and fails in CI.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveHandler, type ServedHandler } from '../../lib/server/index.js';
import { launchChromium, screenshotOnFailure, skipWithoutChromium } from '../support/chromium.js';
import { demoPage } from './demo-page.js';

const CONFIG = fileURLToPath(new URL('../../demo/vite.config.ts', import.meta.url));
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };

describe.skipIf(skipWithoutChromium)('the demo static build, in Chromium', () => {
  let out = '';
  let served: ServedHandler | undefined;
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    out = mkdtempSync(join(tmpdir(), 'e2ee-demo-dist-'));
    await build({ configFile: CONFIG, logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
    served = await serveHandler(async (req) => {
      const path = new URL(req.url).pathname;
      const file = normalize(join(out, path === '/' ? 'index.html' : path));
      if (!file.startsWith(out) || !existsSync(file)) return new Response('not found', { status: 404 });
      return new Response(readFileSync(file), { headers: { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' } });
    });
    page = await browser.newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (out !== '') rmSync(out, { recursive: true, force: true });
  });

  const { byId, text, waitFor, waitReady } = demoPage(() => page);

  it('runs the fleet in the page: enable, back up, restore on a new device, tamper refused', async () => {
    await screenshotOnFailure(page, 'demo-static', async () => {
      await page.goto(`${served!.url}/`);
      await waitReady();
      expect(await text('mode-note')).toMatch(/static build/);
      await byId('archive-size').selectOption('1m');
      await byId('generate').click();
      await byId('enable').click();
      await waitFor('recovery-code', /^[0-9A-Z-]{20,}$/);
      const code = await text('recovery-code');
      await byId('backup').click();
      await expect.poll(() => byId('backup-status').getAttribute('data-state'), { timeout: 30_000, interval: 100 }).toBe('done');
      await byId('new-device').click();
      await waitFor('restore-status', /new device/);
      await byId('restore-code').fill(code);
      await byId('restore').click();
      await expect.poll(() => byId('restore-status').getAttribute('data-state'), { timeout: 30_000, interval: 100 }).toBe('verified');
      expect(await page.locator('[data-testid="chat-item"]').count()).toBeGreaterThan(0);
      await byId('operator-tamper').click();
      await waitFor('tamper-status', /^Flipped one bit/);
      await byId('restore').click();
      await waitFor('restore-error', /^Restore refused/);
    });
  }, 120_000);
});
