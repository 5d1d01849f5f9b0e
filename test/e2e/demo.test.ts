// The demo's whole story in a real browser: Vite's dev server (started here with the demo's own
// config, so the vault, blob store and witness log are its middleware) driven in Chromium and
// Firefox through the browser seam (test/support/browsers.ts); WebKit walks the static build's
// story (demo-static.test.ts). On failure a screenshot lands in test/e2e/artifacts/ (git-ignored).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateRecoveryCode } from '../../lib/recovery/code.js';
import { describeBrowsers, launchBrowser, screenshotOnFailure, type TestBrowser, type TestPage } from '../support/browsers.js';
import { demoPage } from './demo-page.js';

const CONFIG = fileURLToPath(new URL('../../demo/vite.config.ts', import.meta.url));

describeBrowsers(
  'the demo, end to end',
  (engine) => {
    let server: ViteDevServer | undefined;
    let browser: TestBrowser | undefined;
    let page: TestPage;
    let url = '';
    let cacheDir = '';

    beforeAll(async () => {
      browser = await launchBrowser(engine);
      // A fresh dependency cache, as on a fresh clone: the optimizer must find every dependency up
      // front, or the page would reload in the middle of the story.
      cacheDir = mkdtempSync(join(tmpdir(), 'e2ee-demo-vite-'));
      server = await createServer({ configFile: CONFIG, cacheDir, server: { host: '127.0.0.1', port: 0, strictPort: true, hmr: false }, logLevel: 'warn' });
      await server.listen();
      url = server.resolvedUrls?.local[0] ?? '';
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      page = await browser.newPage();
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      if (cacheDir !== '') rmSync(cacheDir, { recursive: true, force: true });
    });

    const { text, attr, click, fill, select, count, waitFor, waitData, waitReady, markDocument, sameDocument, offHost } = demoPage(() => page);
    const generate = async (size: string) => {
      await select('archive-size', size);
      await click('generate');
      await expect.poll(() => attr('archive-summary', 'data-bytes'), { interval: 50 }).not.toBeNull();
      return Number(await attr('archive-summary', 'data-bytes'));
    };
    const restoreWith = async (code: string) => {
      await fill('restore-code', code);
      await click('restore');
    };
    const progress = (id: string) => page.evaluate((i) => (document.getElementById(i) as HTMLProgressElement).value, id);

    it('walks the whole story', async () => {
      await screenshotOnFailure(page, 'demo', async () => {
        await page.goto(url);
        await waitReady();
        await markDocument();
        // Every request of the story stays on loopback (checked at the end); keep every entry.
        await page.evaluate(() => performance.setResourceTimingBufferSize(1_000_000));
        expect(await text('mode-note')).toContain('dev server');
        expect(await text('fleet-id')).toBe('demo-1');
        expect(await text('vault-state')).toBe('not enrolled');

        // 1-2. A big archive, backups on (the code shown once, with copy and download).
        const big = await generate('256m');
        expect(big).toBeGreaterThan(256 * 2 ** 20 * 0.9);
        await click('enable');
        await waitFor('recovery-code', /^[0-9A-Z-]{20,}$/);
        const codeA = await text('recovery-code');
        expect(await page.evaluate(() => document.getElementById('copy-code')!.checkVisibility())).toBe(true);
        // The download: a blob link named for the account, holding the code (caught in the page,
        // the same in every engine, rather than as a browser download).
        await page.evaluate(() => {
          const blobs = new Map<string, Blob>();
          const seen: { name: string; blob: Blob | undefined }[] = [];
          (globalThis as { __e2eeDownloads?: typeof seen }).__e2eeDownloads = seen;
          const createObjectURL = URL.createObjectURL.bind(URL);
          URL.createObjectURL = (o: Blob | MediaSource) => {
            const u = createObjectURL(o);
            if (o instanceof Blob) blobs.set(u, o);
            return u;
          };
          HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) {
            seen.push({ name: this.download, blob: blobs.get(this.href) });
          };
        });
        await click('download-code');
        const download = await page.evaluate(async () => {
          const d = (globalThis as { __e2eeDownloads?: { name: string; blob: Blob | undefined }[] }).__e2eeDownloads![0]!;
          return { name: d.name, body: (await d.blob?.text()) ?? '' };
        });
        expect(download.name).toBe('recovery-code-alice.txt');
        expect(download.body).toContain(codeA);
        await waitFor('vault-state', /^enrolled, 5 of 5 guesses left$/);

        // 3. Cancel a running backup once it has made progress.
        await click('backup');
        await expect.poll(async () => Number((await attr('backup-status', 'data-bytes')) ?? 0), { timeout: 60_000, interval: 20 }).toBeGreaterThan(0);
        expect(await page.evaluate(() => (document.getElementById('cancel-backup') as HTMLButtonElement).disabled)).toBe(false);
        await click('cancel-backup');
        await waitData('backup-status', 'state', 'cancelled');
        expect(await text('backup-status')).toMatch(/cancelled/i);

        // 3. A 16 MB archive backed up to the end, the progress bar at 100 %.
        const size = await generate('16m');
        await click('backup');
        await waitData('backup-status', 'state', 'done', 120_000);
        expect(await progress('backup-progress')).toBe(1);
        expect(await text('backup-status')).toMatch(/^Backed up 16/);

        // 3b. Incremental: 8 MB backed up, 80 KB of messages added, the second backup sends little.
        await click('incremental');
        await waitData('incremental-status', 'state', 'done', 120_000);
        // What the second backup may send: the 80 KiB appended, the old last chunk that the append
        // re-cuts (content-defined chunks end at a keyed boundary, so its size depends on the
        // account's random chunking key: up to MAX_CHUNK, 256 KiB), and the pack, index and
        // manifest overhead (well under 32 KiB). A fixed 2 % of 8 MB (167,772 bytes) failed in
        // some runs with 173-197 KB, all legitimate. The 256 MiB bench checks the 1.2 % target.
        expect(Number(await attr('incremental-status', 'data-sent'))).toBeLessThan((80 + 256 + 32) * 1024);
        expect(await text('incremental-status')).toMatch(/^First backup: 8\.0 MB/);

        // 4. A new device: IndexedDB cleared, then restore with the code; chats newest first by
        // random access, shown before the whole archive was downloaded; then the full verification.
        await click('new-device');
        await waitFor('restore-status', /new device/);
        expect(await text('device-state')).toContain('no keyring in memory');
        expect(await text('device-state')).toContain('no device cache');
        await restoreWith(codeA);
        await waitData('restore-status', 'state', 'verified', 120_000);
        const lastAts = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('[data-testid="chat-item"]')].map((e) => Number(e.dataset.lastAt)));
        expect(lastAts.length).toBeGreaterThan(8);
        expect([...lastAts].sort((a, b) => b - a)).toEqual(lastAts);
        expect(Number(await attr('chat-list', 'data-plaintext-size'))).toBe(size);
        const downloadedAtDisplay = Number(await attr('chat-list', 'data-downloaded-at-display'));
        expect(downloadedAtDisplay).toBeGreaterThan(0);
        expect(downloadedAtDisplay).toBeLessThan(size / 4);
        expect(await text('random-access-note')).toMatch(/newest first/);
        expect(await progress('restore-progress')).toBe(1);

        // 5. Change the recovery code.
        await fill('old-code', codeA);
        await click('change-code');
        await waitFor('new-code', /^[0-9A-Z-]{20,}$/);
        const codeB = await text('new-code');
        expect(codeB).not.toBe(codeA);

        // 6. Fleet rotation: the operator publishes, the client verifies and migrates.
        await click('operator-rotate');
        await waitFor('operator-status', /epoch 2: new fleet demo-2/);
        await click('check-fleet');
        await waitFor('bundle-details', /migrate it to demo-2/);
        for (const id of ['sig-witness', 'sig-operator', 'inclusion-proof', 'consistency-proof']) {
          expect(await page.evaluate((i) => document.querySelector(`[data-testid="${i}"]`)?.getAttribute('data-ok') ?? null, id), id).toBe('true');
        }
        await fill('migrate-code', codeB);
        await click('migrate');
        await waitFor('migrate-status', /^Migrated/);
        expect(await text('fleet-id')).toBe('demo-2');
        await waitFor('vault-state', /^enrolled, 5 of 5/);

        // A wrong code shows the guesses left (at the new fleet).
        await restoreWith(generateRecoveryCode());
        await waitFor('restore-error', /Wrong recovery code\. 4 guesses left/);

        // 7. Tamper: one flipped bit in storage, and restore refuses, showing nothing.
        await click('operator-tamper');
        await waitFor('tamper-status', /^Flipped one bit/);
        await restoreWith(codeB);
        await waitFor('restore-error', /^Restore refused: the backup failed authentication/, 120_000);
        expect(await count('[data-testid="chat-item"]')).toBe(0);

        // Lockout on a second account.
        await fill('account', 'bob');
        await click('sign-in');
        await waitFor('status', /Signed in as bob/);
        await click('enable');
        await waitFor('recovery-code', /^[0-9A-Z-]{20,}$/);
        const seen: string[] = [];
        for (let i = 0; i < 6 && !seen.some((s) => s.startsWith('Locked out')); i++) {
          await page.evaluate(() => void (document.getElementById('restore-error')!.textContent = ''));
          await restoreWith(generateRecoveryCode());
          await expect.poll(() => text('restore-error'), { timeout: 30_000, interval: 100 }).not.toBe('');
          seen.push(await text('restore-error'));
        }
        expect(seen[0]).toMatch(/4 guesses left/);
        expect(seen[seen.length - 1]).toMatch(/^Locked out/);
        await waitFor('vault-state', /locked out/);
        expect(await offHost()).toEqual([]);
        expect(await sameDocument(), 'the page reloaded during the story').toBe(true);
        expect(await page.consoleErrors()).toEqual([]);
      });
    }, 300_000);

    // Passkeys with the DevTools WebAuthn virtual authenticator (Chromium only: Firefox and WebKit
    // have no virtual authenticator automation here). The page is opened as localhost: WebAuthn
    // refuses an IP address as relying-party id. test/e2e/passkeys-browser.test.ts covers the rest.
    it.skipIf(engine !== 'chromium')('protect with a passkey, restore on a new device with the passkey alone; no PRF says so', async () => {
      const pkPage = await browser!.newPage();
      const d = demoPage(() => pkPage);
      await screenshotOnFailure(pkPage, 'demo-passkeys', async () => {
        await pkPage.goto(url.replace('127.0.0.1', 'localhost'));
        await d.waitReady();
        expect(await d.text('passkey-note')).not.toMatch(/IP address/);
        await pkPage.cdp!('WebAuthn.enable', { enableUI: false });
        const options = { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true };
        const { authenticatorId } = (await pkPage.cdp!('WebAuthn.addVirtualAuthenticator', { options: { ...options, hasPrf: true } })) as { authenticatorId: string };

        await d.fill('account', 'erin');
        await d.click('sign-in');
        await d.waitFor('status', /Signed in as erin/);
        await d.select('archive-size', '1m');
        await d.click('generate');
        await expect.poll(() => d.attr('archive-summary', 'data-bytes'), { interval: 50 }).not.toBeNull();
        const size = Number(await d.attr('archive-summary', 'data-bytes'));
        await d.click('enable');
        await d.waitFor('recovery-code', /^[0-9A-Z-]{20,}$/);
        await d.click('backup');
        await d.waitData('backup-status', 'state', 'done', 120_000);

        await d.click('protect-passkey');
        await d.waitData('passkey-status', 'state', 'added');
        expect(await d.text('passkey-status')).toMatch(/^Protected with a passkey/);
        await expect.poll(() => d.count('[data-testid="passkey-item"]')).toBe(1);

        // A new device (this origin's IndexedDB cleared), then the passkey alone: no code typed.
        await d.click('new-device');
        await d.waitFor('restore-status', /new device/);
        expect(await d.text('device-state')).toContain('no keyring in memory');
        await d.click('restore-passkey');
        await d.waitData('restore-status', 'state', 'verified', 120_000);
        expect(Number(await d.attr('chat-list', 'data-plaintext-size'))).toBe(size);
        expect(await d.count('[data-testid="chat-item"]')).toBeGreaterThan(0);

        // An authenticator without PRF: the demo says so, and points to the recovery code.
        await pkPage.cdp!('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
        await pkPage.cdp!('WebAuthn.addVirtualAuthenticator', { options: { ...options, hasPrf: false } });
        await d.fill('account', 'frank');
        await d.click('sign-in');
        await d.waitFor('status', /Signed in as frank/);
        await d.click('enable');
        await d.waitFor('recovery-code', /^[0-9A-Z-]{20,}$/);
        await d.click('protect-passkey');
        await d.waitData('passkey-status', 'state', 'PASSKEY_PRF_UNSUPPORTED');
        expect(await d.text('passkey-status')).toBe('This browser/authenticator cannot protect backups with a passkey (no WebAuthn PRF); your recovery code still works.');
        expect(await pkPage.consoleErrors()).toEqual([]);
      });
    }, 300_000);
  },
  ['chromium', 'firefox'],
);
