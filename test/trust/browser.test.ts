// The trust store in a real browser (Debian's Chromium through playwright-core): noble Ed25519,
// the strict parsers and idb-keyval on real IndexedDB, and trust state surviving a page reload.
import { describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { serveHandler } from '../../lib/server/index.js';
import { toHex } from '../../lib/util/bytes.js';
import { skipWithoutChromium, launchChromium } from '../support/chromium.js';
import { bundle, config, fleet, witnessLog } from './fixtures.js';

describe.skipIf(skipWithoutChromium)('trust store in Chromium', () => {
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
    const js = await build({
      stdin: {
        contents: `
          import { createTrustStore } from './lib/trust/trust-store.ts';
          import { createIndexedDbStore } from './lib/storage/kv.ts';
          import { fromHex } from './lib/util/bytes.ts';
          globalThis.trustKit = { createTrustStore, createIndexedDbStore, fromHex };`,
        resolveDir: process.cwd(),
        loader: 'ts',
      },
      bundle: true,
      format: 'iife',
      platform: 'browser',
      write: false,
    });
    const script = js.outputFiles[0]!.text;
    const served = await serveHandler(async (req) => {
      const path = new URL(req.url).pathname;
      if (path === '/kit.js') return new Response(script, { headers: { 'content-type': 'text/javascript' } });
      return new Response('<!doctype html><script src="/kit.js"></script>', { headers: { 'content-type': 'text/html' } });
    });
    const browser = await launchChromium({ args: ['--no-sandbox', '--headless=new'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${served.url}/`);
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
            let error: string | undefined;
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
      expect(await run(null)).toEqual({ epoch: 0, discarded: false, fleets: [], error: undefined });
      expect(await run(toHex(b2))).toEqual({ epoch: 2, discarded: false, fleets: ['eu-2'], error: undefined });
      await page.reload();
      expect(await run(null)).toEqual({ epoch: 2, discarded: false, fleets: ['eu-2'], error: undefined });
      expect((await run(toHex(b1))).error).toBe('TRUST_ROLLBACK');
    } finally {
      await browser.close();
      await served.close();
    }
  });
});
