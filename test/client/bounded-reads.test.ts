// Issue 14, finding 4: a hostile blob store must not exhaust the client's memory or hold it forever.
// Manifest and pointer reads are capped by size (a ranged GET the adapter cuts off) and by time,
// and listings by entries; every refusal is a typed error.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { MAX_MANIFEST_SIZE } from '../../lib/client/manifest.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { errorOf } from '../support/errors.js';
import { makeBlobServer, makeClient, makeVault, noSleep, testBytes } from './harness.js';

const vault = makeVault();
let seq = 0;
const MiB = 1024 * 1024;

/** The reference blob server behind a fetch that can turn hostile for chosen requests. */
function hostileServer() {
  const server = makeBlobServer();
  let streamed = 0;
  let pages = 0;
  let mode: 'honest' | 'huge-small-objects' | 'endless-list' = 'honest';
  const fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (mode === 'huge-small-objects' && request.method === 'GET' && /\/o\/(latest|manifests\/)/.test(url.pathname)) {
      // 64 MiB, 1 MiB at a time, as long as the client keeps reading; the answer ignores Range.
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent >= 64 * MiB) return c.close();
          sent += MiB;
          streamed += MiB;
          c.enqueue(new Uint8Array(MiB).fill(0x45));
        },
      });
      return new Response(body, { status: 200 });
    }
    if (mode === 'endless-list' && request.method === 'GET' && url.pathname === '/list') {
      // Pages of 10 000 well-formed entries, 30 pages.
      const page = pages++;
      const objects = Array.from({ length: 10_000 }, (_, i) => ({
        key: `manifests/${(page * 10_000 + i).toString(16).padStart(32, '0')}`,
        size: 200,
        etag: `"e${page}-${i}"`,
      }));
      return Response.json({ objects, ...(page < 29 ? { nextContinuationToken: objects.at(-1)!.key } : {}) });
    }
    return server.handler(request);
  };
  const store = createHttpBlobStore({
    fetch,
    presign: async (op) => server.presigner.http(op),
    limits: { minPartSize: 1 },
    sleep: noSleep,
    retry: { retries: 0, baseDelayMs: 1, maxDelayMs: 1 },
  });
  return {
    store,
    streamed: () => streamed,
    pages: () => pages,
    set: (m: typeof mode) => {
      mode = m;
      streamed = 0;
      pages = 0;
    },
  };
}

async function enabled(store: BlobStore, extra: Parameters<typeof makeClient>[3] = {}) {
  const client = makeClient(vault, store, createMemoryStore(), { accountId: `bounded${++seq}`, ...extra });
  await client.enable();
  await client.backup(testBytes(3000, seq));
  return client;
}

describe('bounded reads (issue 14, finding 4)', () => {
  it('a latest pointer or manifest GET that streams 64 MiB is cut off after the envelope cap (PROTOCOL)', async () => {
    const h = hostileServer();
    const client = await enabled(h.store);
    h.set('huge-small-objects');
    const e = await errorOf(client.restore());
    expect(isBackupError(e, 'PROTOCOL'), String(e)).toBe(true);
    expect(h.streamed()).toBeLessThanOrEqual(MAX_MANIFEST_SIZE + 2 * MiB);
  });

  it('a listing that pages on and on is refused after the first page over the cap (PROTOCOL with limit)', async () => {
    const h = hostileServer();
    const client = await enabled(h.store);
    h.set('endless-list');
    const e = await errorOf(client.listBackups());
    expect(isBackupError(e, 'PROTOCOL'), String(e)).toBe(true);
    expect((e as { details: { limit?: number } }).details.limit).toBe(1000);
    expect(h.pages()).toBe(1);
  });

  it('a store that never answers a manifest read: TIMEOUT at readTimeoutMs, even when it ignores the abort', async () => {
    const inner = createMemoryBlobStore({ limits: { minPartSize: 1 } });
    let hang = false;
    const store: BlobStore = {
      ...inner,
      limits: inner.limits,
      get: (key, options) => (hang ? new Promise<Uint8Array>(() => undefined) : inner.get(key, options)),
      list: (prefix, options) => (hang ? new Promise(() => undefined) : inner.list(prefix, options)),
    };
    const client = await enabled(store, { readTimeoutMs: 50 });
    hang = true;
    expect(isBackupError(await errorOf(client.restore()), 'TIMEOUT')).toBe(true);
    expect(isBackupError(await errorOf(client.listBackups()), 'TIMEOUT')).toBe(true);
  });
});
