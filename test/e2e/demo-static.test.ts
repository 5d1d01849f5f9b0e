// The static build (`npm run build:demo`) in Chromium: no /api server, so the page runs the fleet
// itself and still tells the story (enable, back up, restore on a new device, tamper refused).
// Built into a temporary directory and served as plain files on loopback.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveHandler, type ServedHandler } from '../../lib/server/index.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const CONFIG = fileURLToPath(new URL('../../demo/vite.config.ts', import.meta.url));
const haveChromium = existsSync(CHROMIUM);
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };

describe.skipIf(!haveChromium && !inCi)('the demo static build, in Chromium', () => {
  let out = '';
  let served: ServedHandler | undefined;
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    if (!haveChromium) throw new Error(`${CHROMIUM} is missing (CI installs Debian's chromium)`);
    out = mkdtempSync(join(tmpdir(), 'e2ee-demo-dist-'));
    await build({ configFile: CONFIG, logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
    served = await serveHandler(async (req) => {
      const path = new URL(req.url).pathname;
      const file = normalize(join(out, path === '/' ? 'index.html' : path));
      if (!file.startsWith(out) || !existsSync(file)) return new Response('not found', { status: 404 });
      return new Response(readFileSync(file), { headers: { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' } });
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (out !== '') rmSync(out, { recursive: true, force: true });
  });

  const byId = (id: string) => page.locator(`#${id}`);
  const text = async (id: string) => (await byId(id).textContent()) ?? '';
  const waitFor = async (id: string, pattern: RegExp, timeout = 30_000) => {
    await expect.poll(() => text(id), { timeout, interval: 100 }).toMatch(pattern);
  };

  it('runs the fleet in the page: enable, back up, restore on a new device, tamper refused', async () => {
    try {
      await page.goto(`${served!.url}/`);
      await expect.poll(() => page.locator('body').getAttribute('data-ready'), { timeout: 30_000, interval: 100 }).toBe('true');
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
    } catch (e) {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}demo-static-failure.png`, fullPage: true }).catch(() => undefined);
      throw e;
    }
  }, 120_000);
});
