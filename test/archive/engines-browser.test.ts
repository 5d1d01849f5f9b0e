/**
 * The engines in a real browser: headless Chromium (/usr/bin/chromium via playwright-core), a
 * page and the worker script bundled by esbuild and served from 127.0.0.1 (bench/browser/).
 * The worker pool runs real Web Workers from its default URL, with noble and with libsodium
 * inside; the archives must be byte-identical to the pure-JS engine's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowserSession, type BrowserSession } from '../../bench/browser/harness.js';
import { skipWithoutChromium } from '../support/chromium.js';

let session: BrowserSession;

beforeAll(async () => {
  if (!skipWithoutChromium) session = await openBrowserSession();
});

afterAll(async () => {
  await session?.close();
});

describe.skipIf(skipWithoutChromium)('engines in Chromium', () => {
  it('worker pool (noble and libsodium) and the libsodium engine give the pure-JS engine’s archive bytes, and decrypt', async () => {
    const r = await session.call('equivalence');
    expect(r.workerDefined).toBe('function');
    // No process.getBuiltinModule in a browser: the default is the pure-JS engine.
    expect(r.defaultEngine).toBe('noble');
    for (const choice of ['libsodium', 'workers-noble', 'workers-libsodium']) {
      expect(r[choice], choice).toEqual({ sameBytes: true, decrypts: true, tamperCode: 'ARCHIVE_AUTH_FAILED', streamed: 300_123 });
    }
  });
});
