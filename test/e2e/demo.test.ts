// The demo's whole story in a real browser: Vite's dev server (started here with the demo's own
// config, so the vault, blob store and witness log are its middleware) driven by Debian's Chromium
// through playwright-core. On failure a screenshot lands in test/e2e/artifacts/ (git-ignored).
// Without /usr/bin/chromium the test is skipped locally and fails in CI.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRecoveryCode } from '../../lib/recovery/code.js';
import { launchChromium, screenshotOnFailure, skipWithoutChromium } from '../support/chromium.js';
import { demoPage } from './demo-page.js';

const CONFIG = fileURLToPath(new URL('../../demo/vite.config.ts', import.meta.url));

describe.skipIf(skipWithoutChromium)('the demo, end to end in Chromium', () => {
  let server: ViteDevServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let url = '';
  let cacheDir = '';
  const consoleErrors: string[] = [];
  const offHost: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    // A fresh dependency cache, as on a fresh clone: the optimizer must find every dependency up
    // front, or the page would reload in the middle of the story.
    cacheDir = mkdtempSync(join(tmpdir(), 'e2ee-demo-vite-'));
    server = await createServer({ configFile: CONFIG, cacheDir, server: { host: '127.0.0.1', port: 0, strictPort: true, hmr: false }, logLevel: 'warn' });
    await server.listen();
    url = server.resolvedUrls?.local[0] ?? '';
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    // Nothing may leave loopback.
    await page.route('**/*', (route) => {
      const host = new URL(route.request().url()).hostname;
      if (host === '127.0.0.1') return route.continue();
      offHost.push(route.request().url());
      return route.abort();
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (cacheDir !== '') rmSync(cacheDir, { recursive: true, force: true });
  });

  const { byId, text, waitFor, waitReady } = demoPage(() => page);
  const waitData = async (id: string, key: string, value: string, timeout = 30_000) => {
    await expect.poll(() => byId(id).getAttribute(`data-${key}`), { timeout, interval: 100 }).toBe(value);
  };
  const generate = async (size: string) => {
    await byId('archive-size').selectOption(size);
    await byId('generate').click();
    await expect.poll(() => byId('archive-summary').getAttribute('data-bytes'), { interval: 50 }).not.toBeNull();
    return Number(await byId('archive-summary').getAttribute('data-bytes'));
  };
  const restoreWith = async (code: string) => {
    await byId('restore-code').fill(code);
    await byId('restore').click();
  };

  it('walks the whole story', async () => {
    await screenshotOnFailure(page, 'demo', async () => {
      let navigations = 0;
      page.on('framenavigated', (f) => {
        if (f === page.mainFrame()) navigations++;
      });
      await page.goto(url);
      await waitReady();
      expect(await text('mode-note')).toContain('dev server');
      expect(await text('fleet-id')).toBe('demo-1');
      expect(await text('vault-state')).toBe('not enrolled');

      // 1-2. A big archive, backups on (the code shown once, with copy and download).
      const big = await generate('256m');
      expect(big).toBeGreaterThan(256 * 2 ** 20 * 0.9);
      await byId('enable').click();
      await waitFor('recovery-code', /^[0-9A-Z-]{20,}$/);
      const codeA = await text('recovery-code');
      expect(await byId('copy-code').isVisible()).toBe(true);
      const download = page.waitForEvent('download');
      await byId('download-code').click();
      expect((await download).suggestedFilename()).toBe('recovery-code-alice.txt');
      await waitFor('vault-state', /^enrolled, 5 of 5 guesses left$/);

      // 3. Cancel a running backup once it has made progress.
      await byId('backup').click();
      await expect.poll(async () => Number(await byId('backup-status').getAttribute('data-bytes') ?? 0), { timeout: 60_000, interval: 20 }).toBeGreaterThan(0);
      // force: under CPU load Playwright's stability wait (animation frames) can lag by seconds;
      // the button is enabled, and the cancel itself must take effect at once.
      expect(await byId('cancel-backup').isEnabled()).toBe(true);
      await byId('cancel-backup').click({ force: true });
      await waitData('backup-status', 'state', 'cancelled');
      expect(await text('backup-status')).toMatch(/cancelled/i);

      // 3. A 16 MB archive backed up to the end, the progress bar at 100 %.
      const size = await generate('16m');
      await byId('backup').click();
      await waitData('backup-status', 'state', 'done', 120_000);
      expect(await byId('backup-progress').evaluate((el) => (el as HTMLProgressElement).value)).toBe(1);
      expect(await text('backup-status')).toMatch(/^Backed up 16/);

      // 4. A new device: IndexedDB cleared, then restore with the code; chats newest first by
      // random access, shown before the whole archive was downloaded; then the full verification.
      await byId('new-device').click();
      await waitFor('restore-status', /new device/);
      expect(await text('device-state')).toContain('no keyring in memory');
      expect(await text('device-state')).toContain('no device cache');
      await restoreWith(codeA);
      await waitData('restore-status', 'state', 'verified', 120_000);
      const lastAts = (await page.locator('[data-testid="chat-item"]').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.lastAt)))) as number[];
      expect(lastAts.length).toBeGreaterThan(8);
      expect([...lastAts].sort((a, b) => b - a)).toEqual(lastAts);
      expect(Number(await byId('chat-list').getAttribute('data-plaintext-size'))).toBe(size);
      const downloadedAtDisplay = Number(await byId('chat-list').getAttribute('data-downloaded-at-display'));
      expect(downloadedAtDisplay).toBeGreaterThan(0);
      expect(downloadedAtDisplay).toBeLessThan(size / 4);
      expect(await text('random-access-note')).toMatch(/newest first/);
      expect(await byId('restore-progress').evaluate((el) => (el as HTMLProgressElement).value)).toBe(1);

      // 5. Change the recovery code.
      await byId('old-code').fill(codeA);
      await byId('change-code').click();
      await waitFor('new-code', /^[0-9A-Z-]{20,}$/);
      const codeB = await text('new-code');
      expect(codeB).not.toBe(codeA);

      // 6. Fleet rotation: the operator publishes, the client verifies and migrates.
      await byId('operator-rotate').click();
      await waitFor('operator-status', /epoch 2: new fleet demo-2/);
      await byId('check-fleet').click();
      await waitFor('bundle-details', /migrate it to demo-2/);
      for (const id of ['sig-witness', 'sig-operator', 'inclusion-proof', 'consistency-proof']) {
        expect(await page.locator(`[data-testid="${id}"]`).first().getAttribute('data-ok'), id).toBe('true');
      }
      await byId('migrate-code').fill(codeB);
      await byId('migrate').click();
      await waitFor('migrate-status', /^Migrated/);
      expect(await text('fleet-id')).toBe('demo-2');
      await waitFor('vault-state', /^enrolled, 5 of 5/);

      // A wrong code shows the guesses left (at the new fleet).
      await restoreWith(generateRecoveryCode());
      await waitFor('restore-error', /Wrong recovery code\. 4 guesses left/);

      // 7. Tamper: one flipped bit in storage, and restore refuses, showing nothing.
      await byId('operator-tamper').click();
      await waitFor('tamper-status', /^Flipped one bit/);
      await restoreWith(codeB);
      await waitFor('restore-error', /^Restore refused: the backup failed authentication/, 120_000);
      expect(await page.locator('[data-testid="chat-item"]').count()).toBe(0);

      // Lockout on a second account.
      await byId('account').fill('bob');
      await byId('sign-in').click();
      await waitFor('status', /Signed in as bob/);
      await byId('enable').click();
      await waitFor('recovery-code', /^[0-9A-Z-]{20,}$/);
      const seen: string[] = [];
      for (let i = 0; i < 6 && !seen.some((s) => s.startsWith('Locked out')); i++) {
        await byId('restore-error').evaluate((el) => {
          el.textContent = '';
        });
        await restoreWith(generateRecoveryCode());
        await expect.poll(() => text('restore-error'), { timeout: 30_000, interval: 100 }).not.toBe('');
        seen.push(await text('restore-error'));
      }
      expect(seen[0]).toMatch(/4 guesses left/);
      expect(seen[seen.length - 1]).toMatch(/^Locked out/);
      await waitFor('vault-state', /locked out/);
      expect(offHost).toEqual([]);
      expect(navigations, 'the page reloaded during the story').toBe(1);
      expect(consoleErrors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
    });
  }, 300_000);
});
