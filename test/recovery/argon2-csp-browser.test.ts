/**
 * The default suite's Argon2id in a real browser, with and without WebAssembly: the same page
 * served twice, once plain (the KSF compresses in WebAssembly) and once with
 * `Content-Security-Policy: script-src 'self'` (no 'wasm-unsafe-eval': the browser refuses to
 * compile WebAssembly, and the KSF falls back to JavaScript). A keyring enrolled from the plain
 * page is recovered from the CSP page and the other way round: the two paths must derive the same
 * key, or the recovery fails (the envelope does not open). The page reports which path ran.
 *
 * Chromium and Firefox: both refuse WebAssembly under a CSP without 'wasm-unsafe-eval'. Debian's
 * WebKitGTK 2.50.6 (MiniBrowser) compiles it anyway under `script-src 'self'` (seen 2026-12-02),
 * so the fallback cannot be reached there this way; Safari's way there is Lockdown Mode, which no
 * driver here can turn on.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RFC9807_DEFAULT_SUITE_ID } from '../../lib/index.js';
import { createMemoryVaultStore, createVaultHandler, generateVaultSetup, type ServedHandler, type VaultSetup } from '../../lib/server/index.js';
import { toHex } from '../../lib/util/bytes.js';
import { describeBrowsers, launchBrowser, testPageHtml, waitForGlobal, type TestBrowser, type TestPage } from '../support/browsers.js';
import { bundlePage, servePage } from '../support/test-page.js';

const PAGE = `
import { createVaultClient, pinnedFleets } from './lib/index.ts';
import { createKeyring, encodeKeyring, decodeKeyring } from './lib/keys.ts';
import { argon2WasmModule } from './lib/recovery/argon2/argon2id.ts';
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
const enc = (s) => new TextEncoder().encode(s);
const client = ([suite, publicKeyHex, accountId]) => createVaultClient({
  fleetId: 'fleet', accountId, baseUrl: location.origin + '/fleet',
  fetch: (r) => fetch(r), getToken: async () => 'token-' + accountId,
  trust: pinnedFleets([{ fleetId: 'fleet', suite, publicKey: unhex(publicKeyHex) }]),
});
globalThis.kdfTest = {
  async wasm() { return (await argon2WasmModule()) !== undefined; },
  async enroll(args) {
    const keyring = createKeyring();
    await client(args).enroll({ password: enc('csp code'), keyring });
    return hex(encodeKeyring(keyring));
  },
  async recover(args) {
    const t = performance.now();
    const back = await client(args).recover({ password: enc('csp code') });
    return { keyring: hex(encodeKeyring(back)), ms: performance.now() - t };
  },
};
`;

const CSP = "script-src 'self'";

let files: Promise<Map<string, string>> | undefined;
let fleetSetup: Promise<VaultSetup> | undefined;

describeBrowsers('Argon2id with and without WebAssembly (CSP without wasm-unsafe-eval)', (engine) => {
  let served: ServedHandler | undefined;
  let browser: TestBrowser | undefined;
  let setup: VaultSetup;

  beforeAll(async () => {
    const bundle = await (files ??= bundlePage(PAGE, { name: 'kdf-page.ts' }));
    setup = await (fleetSetup ??= generateVaultSetup());
    const verifyToken = async (t: string) => (t.startsWith('token-') ? t.slice('token-'.length) : undefined);
    const vault = createVaultHandler({ fleetId: 'fleet', setup: setup.setup, store: createMemoryVaultStore(), verifyToken });
    served = await servePage({
      files: bundle,
      handle: async (req) => {
        const url = new URL(req.url);
        if (url.pathname === '/csp') {
          return new Response(testPageHtml('<script type="module" src="/page.js"></script>'), {
            headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP },
          });
        }
        if (!url.pathname.startsWith('/fleet/')) return undefined;
        url.pathname = url.pathname.slice('/fleet'.length);
        return vault(new Request(url, req));
      },
    });
    browser = await launchBrowser(engine);
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  type Args = [string, string, string];
  type Kdf = { wasm(): Promise<boolean>; enroll(a: Args): Promise<string>; recover(a: Args): Promise<{ keyring: string; ms: number }> };
  const open = async (path: string): Promise<TestPage> => {
    const page = await browser!.newPage();
    await page.goto(`${served!.url}${path}`);
    await waitForGlobal(page, 'kdfTest');
    return page;
  };
  const call = <K extends keyof Kdf>(page: TestPage, name: K, args?: Args) =>
    page.evaluate(([n, a]) => (globalThis as unknown as { kdfTest: Record<string, (x: unknown) => unknown> }).kdfTest[n]!(a), [name, args] as const) as ReturnType<Kdf[K]>;

  it('enrolled with WebAssembly, recovered without it, and the other way round: the same keyring', async () => {
    const args = (account: string): Args => [RFC9807_DEFAULT_SUITE_ID, toHex(setup.publicKey), account];

    const plain = await open('/');
    expect(await call(plain, 'wasm')).toBe(true);
    const enrolledPlain = await call(plain, 'enroll', args('ann'));

    // WebKit holds one page at a time: the plain page's work is done before the CSP page opens.
    const csp = await open('/csp');
    expect(await call(csp, 'wasm')).toBe(false);
    const fromCsp = await call(csp, 'recover', args('ann'));
    expect(fromCsp.keyring).toBe(enrolledPlain);
    const enrolledCsp = await call(csp, 'enroll', args('bob'));
    // The refusal is the page's CSP at work, not an error of ours (Chromium reports it on the console).
    const errors = (await csp.consoleErrors()).filter((e) => !/wasm-unsafe-eval|Content Security Policy|Content-Security-Policy/i.test(e));
    expect(errors).toEqual([]);

    const again = await open('/');
    const fromPlain = await call(again, 'recover', args('bob'));
    expect(fromPlain.keyring).toBe(enrolledCsp);
    const plainRecover = await call(again, 'recover', args('ann'));
    expect(plainRecover.keyring).toBe(enrolledPlain);
    expect(await again.consoleErrors()).toEqual([]);
    console.log(`${browser!.version}: recover wall time ${Math.round(plainRecover.ms)} ms with WebAssembly, ${Math.round(fromCsp.ms)} ms without (CSP); includes the in-process vault`);
  });
}, ['chromium', 'firefox']);
