/**
 * The vault client in a real browser: headless Chromium (/usr/bin/chromium via playwright-core)
 * runs the SDK's browser entry, bundled by esbuild from source, against the reference vault served
 * over node:http on 127.0.0.1 (same origin). Default scrypt suite: WebCrypto HMAC/HKDF/SHA-256
 * inside opaque-ts, @noble/curves and scrypt, all in the page.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryVaultStore, createVaultHandler, generateVaultSetup, serveHandler, type ServedHandler } from '../../lib/server/index.js';
import { toHex } from '../../lib/util/bytes.js';
import { skipWithoutChromium, launchChromium } from '../support/chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const PAGE = `
import { createVaultClient, pinnedFleets, createKeyring, encodeKeyring, isBackupError, OPAQUE_TS_SUITE_ID } from './lib/index.ts';
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
const enc = (s) => new TextEncoder().encode(s);
globalThis.vaultTest = {
  async run(publicKeyHex) {
    const vault = createVaultClient({
      fleetId: 'fleet-browser', accountId: 'dora', baseUrl: location.origin,
      fetch: (r) => fetch(r), getToken: async () => 'token-dora',
      trust: pinnedFleets([{ fleetId: 'fleet-browser', suite: OPAQUE_TS_SUITE_ID, publicKey: unhex(publicKeyHex) }]),
    });
    const keyring = createKeyring();
    const enrolled = await vault.enroll({ password: enc('browser code'), keyring });
    let wrong = null;
    try { await vault.recover({ password: enc('nope') }); } catch (e) { wrong = isBackupError(e) ? [e.code, e.guessesRemaining] : String(e); }
    const t = performance.now();
    const back = await vault.recover({ password: enc('browser code') });
    const recoverMs = performance.now() - t;
    const status = await vault.status();
    return { enrolled, wrong, same: hex(encodeKeyring(back)) === hex(encodeKeyring(keyring)), key: hex(back.current.key), status, recoverMs };
  },
};
`;

describe.skipIf(skipWithoutChromium)('vault client in Chromium', () => {
  let served: ServedHandler | undefined;
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('enroll, a wrong code, recover and status from a browser page against the reference vault', async () => {
    // Split as an app bundler would: the OPAQUE stack is a separate chunk the page fetches on
    // the first vault operation (lib/recovery/opaque/opaque-ts-lazy.ts), not at load.
    const bundle = await build({
      stdin: { contents: PAGE, resolveDir: ROOT, loader: 'ts', sourcefile: 'vault-page.ts' },
      bundle: true,
      splitting: true,
      outdir: 'out',
      entryNames: 'page',
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'error',
    });
    const files = new Map(bundle.outputFiles.map((f) => [`/${f.path.split('/').pop()!}`, f.text]));
    expect(files.has('/page.js')).toBe(true);
    expect(files.size).toBeGreaterThan(1);
    const fetched: string[] = [];
    const { setup, publicKey } = await generateVaultSetup();
    const vault = createVaultHandler({
      fleetId: 'fleet-browser',
      setup,
      store: createMemoryVaultStore(),
      verifyToken: async (t) => (t === 'token-dora' ? 'dora' : undefined),
    });
    served = await serveHandler(async (req) => {
      const path = new URL(req.url).pathname;
      if (path === '/') return new Response('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>', { headers: { 'content-type': 'text/html' } });
      const js = files.get(path);
      if (js !== undefined) {
        fetched.push(path);
        return new Response(js, { headers: { 'content-type': 'text/javascript' } });
      }
      return vault(req);
    });
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`${served.url}/`);
    await page.waitForFunction(() => 'vaultTest' in globalThis, undefined, { timeout: 30_000 });
    const atLoad = [...fetched];
    const out = await page.evaluate(
      (pk) => (globalThis as unknown as { vaultTest: { run(pk: string): Promise<Record<string, unknown>> } }).vaultTest.run(pk),
      toHex(publicKey),
    );
    expect(out.enrolled).toEqual({ guessLimit: 10 });
    // The OPAQUE chunk came after the page loaded, on the first vault operation.
    const lazy = fetched.filter((p) => p.startsWith('/opaque-ts-') && !atLoad.includes(p));
    expect(lazy).toHaveLength(1);
    expect(atLoad.some((p) => p.startsWith('/opaque-ts-'))).toBe(false);
    expect(out.wrong).toEqual(['WRONG_CODE', 9]);
    expect(out.same).toBe(true);
    expect(out.status).toEqual({ fleetId: 'fleet-browser', state: 'enrolled', guessesRemaining: 10, guessLimit: 10 });
    console.log(`browser recover wall time: ${Math.round(out.recoverMs as number)} ms (includes the in-process vault)`);
  });
});
