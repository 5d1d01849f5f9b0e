/**
 * The blob-store adapters in each browser (test/support/browsers.ts): the page loads from one
 * origin, gets presigned URLs from that origin's "app backend", and talks to the reference blob
 * server on another origin (so CORS, the exposed ETag and Content-Range headers, and the
 * browser's own fetch are all exercised).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBlobPresigner, createBlobStoreHandler } from '../../lib/server/blob-store.js';
import { serveHandler, type ServedHandler } from '../../lib/server/index.js';
import type { BlobOp } from '../../lib/storage/blob/presigned.js';
import { describeBrowsers, launchBrowser, waitForGlobal, type TestBrowser } from '../support/browsers.js';
import { bundlePage, servePage } from '../support/test-page.js';

const signingKey = new Uint8Array(32).fill(5);

// The page's script: both adapters, presigning through the page origin's /presign endpoint.
const ENTRY = `
import { createHttpBlobStore } from './lib/storage/blob/http.ts';
import { createS3BlobStore } from './lib/storage/blob/s3.ts';
window.runBlobs = async (dialect) => {
  const make = dialect === 'http' ? createHttpBlobStore : createS3BlobStore;
  const store = make({
    fetch: (r) => fetch(r),
    presign: async (op) => (await fetch('/presign?dialect=' + dialect, { method: 'POST', body: JSON.stringify(op) })).text(),
    limits: { minPartSize: 1024 },
  });
  const part = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 255);
  const parts = [part(4096, 1), part(4096, 2), part(100, 3)];
  const key = 'browser/' + dialect + '/archive';
  const up = await store.createUpload(key);
  const done = [];
  for (let i = 0; i < parts.length; i++) done.push({ partNumber: i + 1, ...(await store.putPart(up, i + 1, parts[i])) });
  const listed = await store.listParts(up);
  const info = await store.completeUpload(up, done);
  const whole = await store.get(key);
  const range = await store.get(key, { range: { offset: 4000, length: 200 } });
  const expectWhole = new Uint8Array(8292); expectWhole.set(parts[0], 0); expectWhole.set(parts[1], 4096); expectWhole.set(parts[2], 8192);
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const first = await store.put(key + '.latest', part(10, 9), { ifNoneMatch: '*' });
  let conflict = 'none';
  try { await store.put(key + '.latest', part(10, 8), { ifNoneMatch: '*' }); } catch (e) { conflict = e.code; }
  await store.put(key + '.latest', part(10, 7), { ifMatch: first.etag });
  const head = await store.head(key);
  const listing = (await store.list('browser/' + dialect + '/')).map((e) => e.key);
  await store.delete(key);
  return {
    listed: listed.map((p) => [p.partNumber, p.size]),
    size: info.size,
    wholeOk: same(whole, expectWhole),
    rangeOk: same(range, expectWhole.subarray(4000, 4200)),
    conflict,
    head: head && head.size,
    listing,
    gone: (await store.head(key)) === undefined,
  };
};
`;

let files: Promise<Map<string, string>> | undefined;

describeBrowsers('blob stores (cross-origin, CORS)', (engine) => {
  let browser: TestBrowser | undefined;
  let page: ServedHandler | undefined;
  let blobs: ServedHandler | undefined;

  beforeAll(async () => {
    // Page origin: the app (HTML, script) and its backend's /presign endpoint.
    const signer: { presigner?: ReturnType<typeof createBlobPresigner> } = {};
    page = await servePage({
      files: await (files ??= bundlePage(ENTRY)),
      handle: async (req) => {
        const url = new URL(req.url);
        if (url.pathname !== '/presign') return undefined;
        const op = (await req.json()) as BlobOp;
        const signed = url.searchParams.get('dialect') === 's3' ? signer.presigner!.s3(op) : signer.presigner!.http(op);
        return new Response(signed, { headers: { 'content-type': 'text/plain' } });
      },
    });
    // Blob origin: another port, so every call is cross-origin.
    blobs = await serveHandler(createBlobStoreHandler({ signingKey, corsOrigin: page.url, basePath: '/blobs', limits: { minPartSize: 1024 } }));
    signer.presigner = createBlobPresigner({ baseUrl: `${blobs.url}/blobs`, signingKey });
    browser = await launchBrowser(engine);
  });

  afterAll(async () => {
    await browser?.close();
    await blobs?.close();
    await page?.close();
  });

  for (const dialect of ['http', 's3'] as const) {
    it(`${dialect} adapter: multipart, ranged read, conditional put, list, delete`, async () => {
      const tab = await browser!.newPage();
      await tab.goto(`${page!.url}/`);
      await waitForGlobal(tab, 'runBlobs');
      const r = await tab.evaluate(async (d) => (window as unknown as { runBlobs: (d: string) => Promise<unknown> }).runBlobs(d), dialect);
      expect(r).toEqual({
        listed: [[1, 4096], [2, 4096], [3, 100]],
        size: 8292,
        wholeOk: true,
        rangeOk: true,
        conflict: 'PRECONDITION_FAILED',
        head: 8292,
        listing: [`browser/${dialect}/archive`, `browser/${dialect}/archive.latest`],
        gone: true,
      });
      expect(await tab.consoleErrors()).toEqual([]);
    });
  }
});
