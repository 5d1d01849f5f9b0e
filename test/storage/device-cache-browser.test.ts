/**
 * The device cache in a real browser: headless Chromium (/usr/bin/chromium via playwright-core)
 * with a persistent profile, the SDK bundled by esbuild and served from 127.0.0.1. Real IndexedDB
 * must structured-clone the non-extractable CryptoKey, keep the keyring across a browser restart,
 * and hold no backup-key byte, neither in the values script can read nor in the profile's files
 * on disk.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutChromium, launchChromiumProfile } from '../support/chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

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

async function bundle(): Promise<string> {
  const r = await build({
    stdin: { contents: PAGE, resolveDir: ROOT, loader: 'ts', sourcefile: 'device-cache-page.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'error',
  });
  return r.outputFiles[0]!.text;
}

function serve(js: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ server, origin: `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}` });
    });
  });
}

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

describe.skipIf(skipWithoutChromium)('device cache in Chromium', () => {
  let server: Server;
  let origin: string;
  let profile: string;
  let context: BrowserContext | undefined;

  const open = async (): Promise<Page> => {
    context = await launchChromiumProfile(profile);
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'dcTest' in globalThis, undefined, { timeout: 30_000 });
    return page;
  };
  type Api = Record<string, (...a: unknown[]) => Promise<unknown>>;
  const call = <T>(page: Page, name: string, ...args: unknown[]): Promise<T> =>
    page.evaluate(([n, a]) => (globalThis as unknown as { dcTest: Api }).dcTest[n as string]!(...(a as unknown[])), [name, args] as const) as Promise<T>;

  beforeAll(async () => {
    ({ server, origin } = await serve(await bundle()));
    profile = mkdtempSync(join(tmpdir(), 'e2ee-dc-profile-'));
  });

  afterAll(async () => {
    await context?.close();
    server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('keeps the keyring across a browser restart, with no key byte readable or on disk', async () => {
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

    // Restart the browser on the same profile: the cache is still there and still opens.
    await context!.close();
    context = undefined;
    page = await open();
    expect(await call(page, 'load', 'acct-1')).toBe(saved.encoding);
    await context!.close();
    context = undefined;

    // The profile on disk: no backup key, whole or any 16-byte window of it, in any file.
    const needles = saved.keys.flatMap((hex) => {
      const key = Buffer.from(hex, 'hex');
      return [key.subarray(0, 16), key.subarray(8, 24), key.subarray(16, 32)];
    });
    const all = files(profile);
    expect(all.some((f) => f.includes('IndexedDB'))).toBe(true);
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
