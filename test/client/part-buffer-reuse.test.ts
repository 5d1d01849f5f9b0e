// Review of f498572 (sealed chunks written straight into recycled part buffers) and ed90f99 (Blob
// bodies built slice by slice with event-loop turns in between), as an attacker on the store side:
// a slow store, a store that fails attempts so parts are retried after other parts' buffers were
// recycled, an abort in the middle of parts. Every part attempt's bytes are copied when the store
// is handed them and compared again when the attempt settles (a buffer overwritten while its part
// is in flight shows as a change), and every attempt of one part must carry the same body: a
// retried part with a different body would be two plaintexts under one (salt, chunk index).
import { describe, expect, it } from 'vitest';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { createWorkerEngine } from '../../lib/archive/engines/workers.js';
import type { CipherEngine } from '../../lib/archive/engine.js';
import { BackupError, isBackupError } from '../../lib/errors.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { nodeWorkerFactory } from '../archive/engines-support.js';
import { makeBlobServer, makeClient, makeVault, noSleep, readAll, testBytes } from './harness.js';

const vault = makeVault();
let seq = 0;

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
};

/**
 * Wraps a store: each putPart attempt is held for `hold(part, attempt)` macrotasks (while the
 * encrypt stream runs ahead into other part buffers), may fail retryably, and its bytes are
 * compared with the copy taken when it began, both when it settles and after.
 */
function watchingStore(inner: BlobStore, o: { hold: (part: number, attempt: number) => number; fail: (part: number, attempt: number) => boolean }) {
  const bodies = new Map<string, Set<string>>();
  const attempts = new Map<string, number>();
  const changed: string[] = [];
  const store: BlobStore = {
    ...inner,
    limits: inner.limits,
    async putPart(upload, partNumber, bytes, options) {
      const id = `${upload.key} part ${partNumber}`;
      const attempt = attempts.get(id) ?? 0;
      attempts.set(id, attempt + 1);
      const body = hex(bytes);
      let set = bodies.get(id);
      if (set === undefined) bodies.set(id, (set = new Set()));
      set.add(body);
      try {
        await turns(o.hold(partNumber, attempt));
        if (hex(bytes) !== body) changed.push(`${id} attempt ${attempt} (before the store read it)`);
        if (o.fail(partNumber, attempt)) throw new BackupError('BLOB_STORE_FAILED', 'flaky store');
        options?.signal?.throwIfAborted();
        return await inner.putPart(upload, partNumber, bytes, options);
      } finally {
        if (hex(bytes) !== body) changed.push(`${id} attempt ${attempt} (when it settled)`);
      }
    },
  };
  return {
    store,
    changed,
    twoBodies: () => [...bodies].filter(([, s]) => s.size > 1).map(([id]) => id),
    attempts,
  };
}

const engines: [string, () => Promise<{ engine: CipherEngine; cleanup: () => void }>][] = [
  ['noble (seals in place, synchronously)', async () => ({ engine: nobleEngine(), cleanup: () => undefined })],
  [
    'worker pool on worker_threads (seals in place, asynchronously)',
    async () => {
      const f = await nodeWorkerFactory();
      const pool = createWorkerEngine({ createWorker: f.make, workers: 2 });
      return { engine: pool, cleanup: () => (pool.terminate(), f.cleanup()) };
    },
  ],
];

describe('part buffers under a slow, failing store (f498572)', () => {
  for (const [name, engine] of engines) {
    it(`${name}: retried parts resend the bytes they were first sent with, and no part buffer changes while its part is in flight`, async () => {
      // 1 KiB chunks, 4 per part (harness), 96 parts; every part held a different number of turns,
      // every third part's first two attempts fail after the hold (its siblings settle and their
      // buffers are recycled meanwhile).
      const w = watchingStore(createMemoryBlobStore({ limits: { minPartSize: 1 } }), {
        hold: (n, a) => ((n * 7 + a * 3) % 5) * 2,
        fail: (n, a) => n % 3 === 0 && a < 2,
      });
      const e = await engine();
      const client = makeClient(vault, w.store, createMemoryStore(), { accountId: `buf${++seq}`, engine: e.engine, concurrency: 3 });
      try {
        const { recoveryCode } = await client.enable();
        const data = testBytes(96 * 4 * 1024 - 100, 5);
        await client.backup(data);
        expect(w.changed).toEqual([]);
        expect(w.twoBodies()).toEqual([]);
        expect([...w.attempts.values()].filter((n) => n === 3).length).toBe(32);
        client.close();
        const restored = await client.restore({ recoveryCode });
        expect(Buffer.compare(await readAll(restored.stream), data)).toBe(0);
      } finally {
        client.close();
        e.cleanup();
      }
    }, 60_000);
  }

  it('an abort while three parts are held: no buffer of a part in flight changes before its attempt settles; the resume sends the same bodies', async () => {
    const abort = new AbortController();
    let started = 0;
    const w = watchingStore(createMemoryBlobStore({ limits: { minPartSize: 1 } }), {
      hold: (n) => {
        if (++started === 20) queueMicrotask(() => abort.abort(new Error('user left')));
        return n % 4;
      },
      fail: () => false,
    });
    const storage = createMemoryStore();
    const client = makeClient(vault, w.store, storage, { accountId: `buf${++seq}`, engine: nobleEngine(), concurrency: 3 });
    const { recoveryCode } = await client.enable();
    const data = testBytes(64 * 4 * 1024, 9);
    const err = await client.backup(data, { signal: abort.signal }).catch((x: unknown) => x);
    expect(isBackupError(err, 'ABORTED')).toBe(true);
    const r = await client.backup(data);
    expect(r.resumed).toBe(true);
    expect(w.changed).toEqual([]);
    expect(w.twoBodies()).toEqual([]);
    client.close();
    const restored = await client.restore({ recoveryCode });
    expect(Buffer.compare(await readAll(restored.stream), data)).toBe(0);
  }, 60_000);
});

describe('Blob bodies built slice by slice (ed90f99)', () => {
  it("a part over 1 MiB through the presigned adapter with 'blob' bodies, parts retried by the transport: the server receives each part's body exactly once per attempt, all identical", async () => {
    const server = makeBlobServer();
    const received = new Map<number, Set<string>>();
    const handler = server.handler;
    let puts = 0;
    const spy = async (req: Request): Promise<Response> => {
      const url = new URL(req.url);
      const part = url.searchParams.get('partNumber');
      if (req.method === 'PUT' && part !== null) {
        const body = new Uint8Array(await req.clone().arrayBuffer());
        const n = Number(part);
        let s = received.get(n);
        if (s === undefined) received.set(n, (s = new Set()));
        s.add(hex(body));
        // Every second attempt of each part fails after its body arrived: the transport retries.
        if (++puts % 2 === 1) return new Response('busy', { status: 503 });
      }
      return handler(req);
    };
    const wrapped = createHttpBlobStoreWithBlobs(server, spy);
    const client = makeClient(vault, wrapped, createMemoryStore(), {
      accountId: `buf${++seq}`,
      engine: nobleEngine(),
      chunkSize: 64 * 1024,
      partSize: 20 * (64 * 1024 + 16),
      concurrency: 3,
    });
    const { recoveryCode } = await client.enable();
    const data = testBytes(6 * 1024 * 1024 + 77, 3);
    await client.backup(data);
    expect(received.size).toBeGreaterThan(3);
    expect([...received].filter(([, s]) => s.size !== 1).map(([n]) => n)).toEqual([]);
    client.close();
    const restored = await client.restore({ recoveryCode });
    expect(Buffer.compare(await readAll(restored.stream), data)).toBe(0);
  }, 60_000);
});

function createHttpBlobStoreWithBlobs(server: ReturnType<typeof makeBlobServer>, handler: (r: Request) => Promise<Response>): BlobStore {
  return createHttpBlobStore({
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => handler(new Request(input, init)),
    limits: { minPartSize: 1 },
    timeoutMs: 5000,
    sleep: noSleep,
    retry: { retries: 3, baseDelayMs: 1, maxDelayMs: 2 },
    bodies: 'blob',
    presign: async (op) => server.presigner.http(op),
  });
}
