/**
 * The vault client in each browser (test/support/browsers.ts): the SDK's browser entry, bundled
 * by esbuild from source, against the reference vault served over node:http on 127.0.0.1 (same
 * origin). Default scrypt suite: WebCrypto HMAC/HKDF/SHA-256 inside opaque-ts, @noble/curves and
 * scrypt, all in the page.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMemoryVaultStore, createVaultHandler, generateVaultSetup, type ServedHandler, type VaultSetup } from '../../lib/server/index.js';
import { toHex } from '../../lib/util/bytes.js';
import { describeBrowsers, launchBrowser, waitForGlobal, type TestBrowser } from '../support/browsers.js';
import { bundlePage, servePage } from '../support/test-page.js';

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

// Split as an app bundler would: the OPAQUE stack is a separate chunk the page fetches on the
// first vault operation (lib/recovery/opaque/opaque-ts-lazy.ts), not at load.
let files: Promise<Map<string, string>> | undefined;
let fleetSetup: Promise<VaultSetup> | undefined;

describeBrowsers('vault client', (engine) => {
  let served: ServedHandler | undefined;
  let browser: TestBrowser | undefined;
  const fetched: string[] = [];
  let publicKey: Uint8Array;

  beforeAll(async () => {
    const bundle = await (files ??= bundlePage(PAGE, { splitting: true, name: 'vault-page.ts' }));
    expect(bundle.has('/page.js')).toBe(true);
    expect(bundle.size).toBeGreaterThan(1);
    const fleet = await (fleetSetup ??= generateVaultSetup());
    publicKey = fleet.publicKey;
    const vault = createVaultHandler({
      fleetId: 'fleet-browser',
      setup: fleet.setup,
      store: createMemoryVaultStore(),
      verifyToken: async (t) => (t === 'token-dora' ? 'dora' : undefined),
    });
    served = await servePage({ files: bundle, onFile: (path) => fetched.push(path), handle: async (req) => vault(req) });
    browser = await launchBrowser(engine);
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('enroll, a wrong code, recover and status from a browser page against the reference vault', async () => {
    const page = await browser!.newPage();
    await page.goto(`${served!.url}/`);
    await waitForGlobal(page, 'vaultTest');
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
    expect(await page.consoleErrors()).toEqual([]);
    console.log(`${browser!.version}: recover wall time ${Math.round(out.recoverMs as number)} ms (includes the in-process vault)`);
  });
});
