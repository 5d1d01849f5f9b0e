// What a browser may lack, in each browser (test/support/browsers.ts): the page removes one
// platform feature, then runs the client's story against the in-page test fleet. Each gap either
// degrades (the story still passes) or fails with a typed BackupError the app can act on; never a
// TypeError. Real gaps seen: WebKitGTK 2.50 has no navigator.storage.persist; Firefox (before
// 114) and Safari (before 15) had no module workers; insecure contexts have no Web Locks and no
// crypto.subtle; jsdom's Blob has no stream().
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServedHandler } from '../../lib/server/index.js';
import { describeBrowsers, launchBrowser, waitForGlobal, type TestBrowser, type TestPage } from '../support/browsers.js';
import { bundlePage, servePage } from '../support/test-page.js';

const PAGE = `
import { createIndexedDbStore, isBackupError } from './lib/index.ts';
import { createWorkerEngine } from './lib/workers.ts';
import { deviceCacheSupport } from './lib/keys.ts';
import { decryptArchive, encryptArchive } from './lib/archive.ts';
import { createTestFleet } from './lib/testing/index.ts';

const data = new TextEncoder().encode('chat line\\n'.repeat(3000));
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const outcome = (e) => (isBackupError(e) ? 'BackupError ' + e.code : (e && e.name) + ': ' + (e && e.message));

/** Removes a feature the way an engine without it looks. */
const remove = {
  none() {},
  'blob-stream'() { delete Blob.prototype.stream; },
  'web-locks'() { Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true }); },
  'web-locks-denied'() {
    const denied = { request: () => Promise.reject(new DOMException('the request was denied', 'SecurityError')) };
    Object.defineProperty(Navigator.prototype, 'locks', { get: () => denied, configurable: true });
  },
  'storage-persist'() { if (navigator.storage) { delete StorageManager.prototype.persist; delete StorageManager.prototype.persisted; } },
  'indexeddb'() { Object.defineProperty(globalThis, 'indexedDB', { value: undefined, configurable: true }); },
  'crypto-subtle'() { Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined, configurable: true }); },
  // Engines without module workers either threw at construction (Firefox before 114) or ran the
  // module as a classic script and failed to parse it (Safari before 15): both are simulated.
  'module-workers-throw'() {
    const Real = Worker;
    globalThis.Worker = class extends Real { constructor(url, o) { if (o && o.type === 'module') throw new TypeError('Module scripts are not supported on DedicatedWorker'); super(url, o); } };
  },
  'module-workers-error'() {
    globalThis.Worker = class extends EventTarget {
      constructor() { super(); setTimeout(() => this.dispatchEvent(new Event('error')), 0); }
      postMessage() {}
      terminate() {}
    };
  },
  'workers'() { delete globalThis.Worker; },
};

/** The client's story: enable, back up a Blob, restore on a new device. */
async function clientStory(deviceCache) {
  const fleet = await createTestFleet();
  const phone = fleet.createClient({ accountId: 'alice', storage: createIndexedDbStore({ dbName: 'gap-phone' }), deviceCache: deviceCache && deviceCacheSupport() });
  const cacheFailures = [];
  phone.on('device-cache-failed', (e) => cacheFailures.push(outcome(e.error)));
  const { recoveryCode } = await phone.enable();
  await phone.backup(new Blob([data]));
  await phone.backup(new Blob([data]));
  const laptop = fleet.createClient({ accountId: 'alice', storage: createIndexedDbStore({ dbName: 'gap-laptop' }) });
  const restored = await laptop.restore({ recoveryCode });
  const bytes = same(await restored.read(0, data.length), data) ? 'ok' : 'wrong bytes';
  return cacheFailures.length === 0 ? bytes : bytes + ', device-cache-failed: ' + cacheFailures.join('; ');
}

/** Blob archives, and the worker engine. */
async function archiveStory(workers) {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const engine = workers ? createWorkerEngine({ workers: 1 }) : undefined;
  try {
    const sealed = await encryptArchive(key, new Uint8Array(16), new Blob([data]), { engine });
    const back = await decryptArchive(key, sealed, { engine });
    return same(new Uint8Array(await back.arrayBuffer()), data) ? 'ok' : 'wrong bytes';
  } finally {
    engine?.terminate();
  }
}

globalThis.gapStory = async (gap) => {
  remove[gap]();
  const run = (f) => f().catch(outcome);
  return { client: await run(() => clientStory(false)), deviceCache: await run(() => clientStory(true)), archive: await run(() => archiveStory(false)), workers: await run(() => archiveStory(true)) };
};
`;

/** Per gap: what each story gives. 'ok' is degraded but working; anything else must be a BackupError. */
const EXPECTED: Record<string, { client: string; deviceCache: string; archive: string; workers: string }> = {
  none: { client: 'ok', deviceCache: 'ok', archive: 'ok', workers: 'ok' },
  'blob-stream': { client: 'ok', deviceCache: 'ok', archive: 'ok', workers: 'ok' },
  'web-locks': { client: 'ok', deviceCache: 'ok', archive: 'ok', workers: 'ok' },
  'web-locks-denied': { client: 'ok', deviceCache: 'ok', archive: 'ok', workers: 'ok' },
  'storage-persist': { client: 'ok', deviceCache: 'ok', archive: 'ok', workers: 'ok' },
  indexeddb: { client: 'BackupError STORAGE_UNAVAILABLE', deviceCache: 'BackupError STORAGE_UNAVAILABLE', archive: 'ok', workers: 'ok' },
  // Insecure contexts: everything but the device cache (a non-extractable WebCrypto key) works.
  // enable() still returns the code (the vault has enrolled the account) and reports the cache.
  'crypto-subtle': { client: 'ok', deviceCache: 'ok, device-cache-failed: BackupError STORAGE_UNAVAILABLE', archive: 'ok', workers: 'ok' },
  'module-workers-throw': { client: 'ok', deviceCache: 'ok', archive: 'ok', workers: 'BackupError ENGINE_UNAVAILABLE' },
  'module-workers-error': { client: 'ok', deviceCache: 'ok', archive: 'ok', workers: 'BackupError ENGINE_UNAVAILABLE' },
  workers: { client: 'ok', deviceCache: 'ok', archive: 'ok', workers: 'BackupError ENGINE_UNAVAILABLE' },
};

/**
 * The SDK's handling of a gap is the same code in every engine: every gap runs in Chromium; Firefox
 * and WebKit run those where the engine's own objects take part (its Blob read by slices, its
 * IndexedDB without WebCrypto, a SecurityError from its DOMException), and the baseline.
 */
const GAPS_OTHER_ENGINES = ['none', 'blob-stream', 'web-locks-denied', 'crypto-subtle'];

let files: Promise<Map<string, string>> | undefined;

describeBrowsers('a missing platform feature degrades or is a typed error', (engine) => {
  let served: ServedHandler | undefined;
  let browser: TestBrowser | undefined;
  let page: TestPage;

  beforeAll(async () => {
    served = await servePage({ files: await (files ??= bundlePage(PAGE, { name: 'gaps-page.ts' })) });
    browser = await launchBrowser(engine);
    page = await browser.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it.each(engine === 'chromium' ? Object.keys(EXPECTED) : GAPS_OTHER_ENGINES)('without %s', async (gap) => {
    await page.goto(`${served!.url}/?gap=${gap}`);
    await waitForGlobal(page, 'gapStory');
    // A fresh origin state per gap: the stories use the same IndexedDB names.
    await page.evaluate(async () => {
      for (const name of ['gap-phone', 'gap-laptop']) {
        await new Promise((resolve) => {
          const r = indexedDB.deleteDatabase(name);
          r.onsuccess = r.onerror = r.onblocked = () => resolve(undefined);
        });
      }
    });
    const r = await page.evaluate((g) => (globalThis as unknown as { gapStory: (g: string) => Promise<Record<string, string>> }).gapStory(g), gap);
    expect(r).toEqual(EXPECTED[gap]);
  });
});
