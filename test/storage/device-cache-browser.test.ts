/**
 * The device cache in each browser (test/support/browsers.ts), the SDK bundled by esbuild and
 * served from 127.0.0.1. The engine's IndexedDB must structured-clone the non-extractable
 * CryptoKey and hold no backup-key byte in the values script can read. Where the profile persists
 * (Chromium, Firefox) the keyring must also survive a browser restart, and the profile's files on
 * disk must hold no key byte; WebKit's MiniBrowser runs ephemeral under WebDriver (nothing on disk).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServedHandler } from '../../lib/server/index.js';
import { describeBrowsers, launchBrowser, PERSISTENT_PROFILE, waitForGlobal, type BrowserName, type TestBrowser, type TestPage } from '../support/browsers.js';
import { bundlePage, servePage } from '../support/test-page.js';

// The page: a tiny API over the SDK's own modules, bundled from source.
const PAGE = `
import { createDeviceCache } from './lib/storage/device-cache.ts';
import { createIndexedDbStore } from './lib/storage/kv.ts';
import { createKeyring, rotateKeyring, encodeKeyring } from './lib/recovery/keyring.ts';
import { toHex } from './lib/util/bytes.ts';
const cache = (account) => createDeviceCache(createIndexedDbStore({ dbName: 'dc-test' }), account);
function leaves(v, out = []) {
  if (v instanceof Uint8Array) out.push(toHex(v));
  else if (v instanceof ArrayBuffer) out.push(toHex(new Uint8Array(v)));
  else if (typeof v === 'string') out.push(toHex(new TextEncoder().encode(v)));
  else if (v && typeof v === 'object' && !(v instanceof CryptoKey)) for (const x of Object.values(v)) leaves(x, out);
  return out;
}
globalThis.dcTest = {
  async save(account) {
    const k = rotateKeyring(rotateKeyring(createKeyring()));
    await cache(account).save(k);
    return { encoding: toHex(encodeKeyring(k)), keys: k.generations.map((g) => toHex(g.key)) };
  },
  async load(account) {
    try {
      const k = await cache(account).load();
      return k === undefined ? null : toHex(encodeKeyring(k));
    } catch (e) { return 'error:' + e.code; }
  },
  async raw() {
    const db = await new Promise((res, rej) => { const r = indexedDB.open('dc-test'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    const tx = db.transaction('state', 'readonly');
    const os = tx.objectStore('state');
    const [keys, values] = await Promise.all([os.getAllKeys(), os.getAll()].map((r) => new Promise((res) => { r.onsuccess = () => res(r.result); })));
    db.close();
    const out = [];
    for (let i = 0; i < keys.length; i++) {
      const v = values[i];
      let exportError = null;
      try { await crypto.subtle.exportKey('raw', v.key); } catch (e) { exportError = e.name; }
      out.push({ key: keys[i], isCryptoKey: v.key instanceof CryptoKey, extractable: v.key.extractable, algorithm: v.key.algorithm, exportError, leaves: leaves(v) });
    }
    return out;
  },
  async moveTo(from, to) {
    const store = createIndexedDbStore({ dbName: 'dc-test' });
    await store.set('device-cache/v1/' + to, await store.get('device-cache/v1/' + from));
  },
};
`;

/** Every file under dir, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    try {
      return statSync(p).isDirectory() ? files(p) : [p];
    } catch {
      return []; // a lock file or socket that vanished
    }
  });
}

let bundled: Promise<Map<string, string>> | undefined;

/** Where each engine keeps an origin's IndexedDB in its profile. */
const IDB_DIR: Partial<Record<BrowserName, string>> = { chromium: 'IndexedDB', firefox: '/idb/' };

describeBrowsers('device cache', (engine) => {
  let served: ServedHandler | undefined;
  let profile: string | undefined;
  let browser: TestBrowser | undefined;
  const persistent = PERSISTENT_PROFILE.includes(engine);

  const open = async (): Promise<TestPage> => {
    browser = await launchBrowser(engine, profile === undefined ? {} : { profileDir: profile });
    const page = await browser.newPage();
    await page.goto(`${served!.url}/`);
    await waitForGlobal(page, 'dcTest');
    return page;
  };
  type Api = Record<string, (...a: unknown[]) => Promise<unknown>>;
  const call = <T>(page: TestPage, name: string, ...args: unknown[]): Promise<T> =>
    page.evaluate(([n, a]) => (globalThis as unknown as { dcTest: Api }).dcTest[n as string]!(...(a as unknown[])), [name, args] as const) as Promise<T>;

  beforeAll(async () => {
    served = await servePage({ files: await (bundled ??= bundlePage(PAGE, { name: 'device-cache-page.ts' })) });
    if (persistent) profile = mkdtempSync(join(tmpdir(), `e2ee-dc-${engine}-`));
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  });

  it(`keeps the keyring${persistent ? ' across a browser restart' : ''}, with no key byte readable${persistent ? ' or on disk' : ''}`, async () => {
    let page = await open();
    const saved = await call<{ encoding: string; keys: string[] }>(page, 'save', 'acct-1');
    expect(await call(page, 'load', 'acct-1')).toBe(saved.encoding);

    // What script can read back from IndexedDB: a non-extractable AES-GCM CryptoKey and bytes
    // that contain no key, nor any 12-byte window of one.
    const raw = await call<{ key: string; isCryptoKey: boolean; extractable: boolean; algorithm: { name: string; length: number }; exportError: string | null; leaves: string[] }[]>(page, 'raw');
    expect(raw).toHaveLength(1);
    expect(raw[0]!.key).toBe('device-cache/v1/acct-1');
    expect(raw[0]!.isCryptoKey).toBe(true);
    expect(raw[0]!.extractable).toBe(false);
    expect(raw[0]!.algorithm).toEqual({ name: 'AES-GCM', length: 256 });
    expect(raw[0]!.exportError).toBe('InvalidAccessError');
    for (const leaf of raw[0]!.leaves) {
      for (const key of saved.keys) {
        for (let i = 0; i + 24 <= key.length; i += 8) expect(leaf).not.toContain(key.slice(i, i + 24));
      }
    }

    // A record moved to another account's slot does not open.
    await call(page, 'moveTo', 'acct-1', 'acct-2');
    expect(await call(page, 'load', 'acct-2')).toBe('error:KEYRING_AUTH_FAILED');
    expect(await page.consoleErrors()).toEqual([]);
    if (!persistent) return;

    // Restart the browser on the same profile: the cache is still there and still opens.
    await browser!.close();
    browser = undefined;
    page = await open();
    expect(await call(page, 'load', 'acct-1')).toBe(saved.encoding);
    await browser!.close();
    browser = undefined;

    // The profile on disk: no backup key, whole or any 16-byte window of it, in any file.
    const needles = saved.keys.flatMap((hex) => {
      const key = Buffer.from(hex, 'hex');
      return [key.subarray(0, 16), key.subarray(8, 24), key.subarray(16, 32)];
    });
    const all = files(profile!);
    expect(all.some((f) => f.includes(IDB_DIR[engine]!))).toBe(true);
    for (const f of all) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(f);
      } catch {
        continue;
      }
      for (const n of needles) expect(bytes.includes(n), f).toBe(false);
    }
  });
});
