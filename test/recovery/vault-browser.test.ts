/**
 * The vault client in each browser (test/support/browsers.ts): the SDK's browser entry, bundled
 * by esbuild from source, against the reference vault served over node:http on 127.0.0.1 (same
 * origin), for two fleets: one on the default RFC 9807 suite (ristretto255, Argon2id: @noble/curves
 * and @noble/hashes in the page) and one on the superseded opaque-ts suite, whose implementation
 * the page fetches only when that fleet is used.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RFC9807_DEFAULT_SUITE_ID } from '../../lib/index.js';
import { OPAQUE_TS_SUITE_ID, opaqueTsSuite } from '../../lib/opaque-ts.js';
import { createMemoryVaultStore, createVaultHandler, generateVaultSetup, type ServedHandler, type VaultSetup } from '../../lib/server/index.js';
import { toHex } from '../../lib/util/bytes.js';
import { describeBrowsers, launchBrowser, waitForGlobal, type TestBrowser } from '../support/browsers.js';
import { bundlePage, servePage } from '../support/test-page.js';

const PAGE = `
import { createVaultClient, pinnedFleets, isBackupError } from './lib/index.ts';
import { createKeyring, encodeKeyring } from './lib/keys.ts';
import { opaqueTsSuite } from './lib/opaque-ts.ts';
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
const enc = (s) => new TextEncoder().encode(s);
globalThis.vaultTest = {
  async run([fleetId, suite, publicKeyHex]) {
    // No suite named: the client runs the one the fleet's trust entry names; the legacy suite is
    // allowed, its implementation fetched only when a fleet names it.
    const vault = createVaultClient({
      fleetId, accountId: 'dora', baseUrl: location.origin + '/' + fleetId,
      fetch: (r) => fetch(r), getToken: async () => 'token-dora',
      trust: pinnedFleets([{ fleetId, suite, publicKey: unhex(publicKeyHex) }]),
      suites: [opaqueTsSuite()],
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
let fleetSetups: Promise<[VaultSetup, VaultSetup]> | undefined;

describeBrowsers('vault client', (engine) => {
  let served: ServedHandler | undefined;
  let browser: TestBrowser | undefined;
  const fetched: string[] = [];
  let rfc: VaultSetup;
  let legacy: VaultSetup;

  beforeAll(async () => {
    const bundle = await (files ??= bundlePage(PAGE, { splitting: true, name: 'vault-page.ts' }));
    expect(bundle.has('/page.js')).toBe(true);
    expect(bundle.size).toBeGreaterThan(1);
    [rfc, legacy] = await (fleetSetups ??= Promise.all([generateVaultSetup(), generateVaultSetup(opaqueTsSuite())]));
    const verifyToken = async (t: string) => (t === 'token-dora' ? 'dora' : undefined);
    const vaults: Record<string, (r: Request) => Promise<Response>> = {
      'fleet-rfc': createVaultHandler({ fleetId: 'fleet-rfc', setup: rfc.setup, store: createMemoryVaultStore(), verifyToken }),
      'fleet-legacy': createVaultHandler({ fleetId: 'fleet-legacy', setup: legacy.setup, store: createMemoryVaultStore(), verifyToken, suite: opaqueTsSuite() }),
    };
    served = await servePage({
      files: bundle,
      onFile: (path) => fetched.push(path),
      handle: async (req) => {
        // /<fleetId>/v1/vault → that fleet's handler at /v1/vault.
        const url = new URL(req.url);
        const fleet = url.pathname.split('/')[1] ?? '';
        const vault = vaults[fleet];
        if (vault === undefined) return undefined;
        url.pathname = url.pathname.slice(fleet.length + 1);
        return vault(new Request(url, req));
      },
    });
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
    type Run = (a: [string, string, string]) => Promise<Record<string, unknown>>;
    const run = (fleetId: string, suite: string, publicKey: Uint8Array) =>
      page.evaluate((a: [string, string, string]) => (globalThis as unknown as { vaultTest: { run: Run } }).vaultTest.run(a), [fleetId, suite, toHex(publicKey)]);
    const legacyChunks = () => fetched.filter((p) => p.startsWith('/opaque-ts-'));

    // The default suite: the opaque-ts implementation is never fetched.
    const out = await run('fleet-rfc', RFC9807_DEFAULT_SUITE_ID, rfc.publicKey);
    expect(out.enrolled).toEqual({ guessLimit: 10 });
    expect(out.wrong).toEqual(['WRONG_CODE', 9]);
    expect(out.same).toBe(true);
    expect(out.status).toEqual({ fleetId: 'fleet-rfc', state: 'enrolled', guessesRemaining: 10, guessLimit: 10 });
    expect(legacyChunks()).toEqual([]);

    // A fleet that names the opaque-ts suite: its chunk comes on that fleet's first operation.
    const old = await run('fleet-legacy', OPAQUE_TS_SUITE_ID, legacy.publicKey);
    expect(old.enrolled).toEqual({ guessLimit: 10 });
    expect(old.wrong).toEqual(['WRONG_CODE', 9]);
    expect(old.same).toBe(true);
    expect(legacyChunks()).toHaveLength(1);
    expect(atLoad.some((p) => p.startsWith('/opaque-ts-'))).toBe(false);
    expect(await page.consoleErrors()).toEqual([]);
    console.log(
      `${browser!.version}: recover wall time ${Math.round(out.recoverMs as number)} ms (${RFC9807_DEFAULT_SUITE_ID}), ${Math.round(old.recoverMs as number)} ms (${OPAQUE_TS_SUITE_ID}); includes the in-process vault`,
    );
  });
});
