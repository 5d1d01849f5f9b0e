// The trust store in each browser (test/support/browsers.ts): noble Ed25519, the strict parsers
// and idb-keyval on the engine's own IndexedDB, and trust state surviving a page reload.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServedHandler } from '../../lib/server/index.js';
import { toHex } from '../../lib/util/bytes.js';
import { describeBrowsers, launchBrowser, waitForGlobal, type TestBrowser, type TestPage } from '../support/browsers.js';
import { bundlePage, servePage } from '../support/test-page.js';
import { bundle, config, fleet, witnessLog } from './fixtures.js';

const PAGE = `
import { createTrustStore } from './lib/trust/trust-store.ts';
import { createIndexedDbStore } from './lib/storage/kv.ts';
import { fromHex } from './lib/util/bytes.ts';
globalThis.trustKit = { createTrustStore, createIndexedDbStore, fromHex };
`;
let files: Promise<Map<string, string>> | undefined;

describeBrowsers('trust store', (engine) => {
  let served: ServedHandler | undefined;
  let browser: TestBrowser | undefined;
  let page: TestPage;

  beforeAll(async () => {
    served = await servePage({ files: await (files ??= bundlePage(PAGE)) });
    browser = await launchBrowser(engine);
    page = await browser.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('applies a bundle on real IndexedDB and keeps it across a reload; refuses a rollback after it', async () => {
    const w = witnessLog();
    const b1 = w.publish(bundle(1, [fleet('eu-1')]));
    const b2 = w.publish(bundle(2, [fleet('eu-2')]));
    const cfg = config();
    const cfgJson = {
      ...cfg,
      witnessKeys: cfg.witnessKeys.map((k) => ({ ...k, publicKey: toHex(k.publicKey) })),
      operatorKeys: cfg.operatorKeys.map((k) => ({ ...k, publicKey: toHex(k.publicKey) })),
    };
    await page.goto(`${served!.url}/`);
    await waitForGlobal(page, 'trustKit');
    const run = (bundleHex: string | null) =>
      page.evaluate(
        async ({ cfgJson, bundleHex, nowMs }) => {
          type Kit = {
            createTrustStore: (o: unknown) => {
              applyBundle(b: Uint8Array): Promise<unknown>;
              state(): Promise<{ epoch: number; discardedCorruptState: boolean }>;
              trustedFleets(): Promise<{ fleetId: string }[]>;
            };
            createIndexedDbStore: (o: unknown) => unknown;
            fromHex: (s: string) => Uint8Array;
          };
          const kit = (globalThis as unknown as { trustKit: Kit }).trustKit;
          const c = {
            ...cfgJson,
            witnessKeys: cfgJson.witnessKeys.map((k) => ({ ...k, publicKey: kit.fromHex(k.publicKey) })),
            operatorKeys: cfgJson.operatorKeys.map((k) => ({ ...k, publicKey: kit.fromHex(k.publicKey) })),
          };
          const trust = kit.createTrustStore({ config: c, store: kit.createIndexedDbStore({ dbName: 'e2ee-trust-test' }), now: () => nowMs });
          let error: string | null = null;
          if (bundleHex) {
            try {
              await trust.applyBundle(kit.fromHex(bundleHex));
            } catch (e) {
              error = (e as { code?: string }).code ?? String(e);
            }
          }
          const s = await trust.state();
          return { epoch: s.epoch, discarded: s.discardedCorruptState, fleets: (await trust.trustedFleets()).map((f) => f.fleetId), error };
        },
        { cfgJson, bundleHex, nowMs: 1_800_000_000_000 },
      );
    expect(await run(null)).toEqual({ epoch: 0, discarded: false, fleets: [], error: null });
    expect(await run(toHex(b2))).toEqual({ epoch: 2, discarded: false, fleets: ['eu-2'], error: null });
    await page.reload();
    await waitForGlobal(page, 'trustKit');
    expect(await run(null)).toEqual({ epoch: 2, discarded: false, fleets: ['eu-2'], error: null });
    expect((await run(toHex(b1))).error).toBe('TRUST_ROLLBACK');
    expect(await page.consoleErrors()).toEqual([]);
  });
});
