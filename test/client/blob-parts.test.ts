/**
 * Blob parts (issue 20): with the worker pool and a store whose bodies travel as `Blob`s (browsers),
 * the backup takes each sealed chunk as a view of the buffer the worker handed back (`sealLent`),
 * builds the part's body from those views in 1 MiB `Blob`s and hands each chunk back to the pool,
 * instead of copying it into a part buffer and the part into a `Blob`. What must hold: the bytes
 * (same as every other path, so a backup resumed on another path skips the parts already sent),
 * the order (workers answer out of order), one body per part for every attempt, and a lent chunk
 * used wrongly failing loudly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkNonceTail } from '../../lib/archive/engine.js';
import { createWorkerHandler } from '../../lib/archive/engines/worker-core.js';
import { createWorkerEngine, type WorkerLike } from '../../lib/archive/engines/workers.js';
import { loadLibsodium } from '../../lib/archive/engines/libsodium.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { createEncryptStream, createRecyclingEncryptStream } from '../../lib/archive/stream.js';
import { isBackupError } from '../../lib/errors.js';
import { BLOB_PARTS, type BlobParts } from '../../lib/storage/blob/body.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { nodeWorkerFactory } from '../archive/engines-support.js';
import { makeBlobServer, makeClient, makeVault, noSleep, readAll, testBytes } from './harness.js';

const vault = makeVault();
let seq = 0;
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
let factory: Awaited<ReturnType<typeof nodeWorkerFactory>>;

beforeAll(async () => {
  factory = await nodeWorkerFactory();
});
afterAll(() => factory.cleanup());

/**
 * In-process workers running the real request handler, whose replies are held and delivered
 * newest first (two at a time across the pool), so batches come back out of order.
 */
function reorderingWorkers(): (index: number) => WorkerLike {
  const held: (() => void)[] = [];
  const flush = () => {
    while (held.length > 0) held.pop()!();
  };
  return () => {
    const handle = createWorkerHandler(loadLibsodium);
    const listeners: ((ev: { data?: unknown }) => void)[] = [];
    return {
      postMessage(message, transfer) {
        // Cloned and transferred as a real worker's message is (the pool wipes its copy of the key).
        void handle(structuredClone(message, { transfer })).then(({ response, transfer: back }) => {
          const data = structuredClone(response, { transfer: back });
          held.push(() => {
            for (const l of listeners) l({ data });
          });
          if (held.length >= 2) flush();
          else setTimeout(flush, 5);
        });
      },
      addEventListener(type, listener) {
        if (type === 'message') listeners.push(listener);
      },
      terminate() {},
    };
  };
}

async function collect(stream: ReadableStream<Uint8Array>, release?: (c: Uint8Array) => void): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    out.push(r.value.slice());
    if (release !== undefined && r.value.length > 100) release(r.value);
  }
  return Buffer.concat(out);
}

describe('sealLent: chunks on loan from the worker pool', () => {
  it('workers answering out of order: the lending stream emits the ordinary stream’s bytes, in order', async () => {
    const pool = createWorkerEngine({ createWorker: reorderingWorkers(), workers: 2 });
    try {
      const key = new Uint8Array(32).fill(7);
      const keyId = new Uint8Array(16).fill(1);
      const data = testBytes(3 * 1024 * 1024 + 12345, 9);
      const opts = { chunkSize: 64 * 1024, random: (n: number) => new Uint8Array(n).fill(3) };
      const source = () => new Blob([data]).stream();
      const p = pool as unknown as { release(c: Uint8Array): void };
      let released = 0;
      const lent = await collect(source().pipeThrough(createRecyclingEncryptStream(key, keyId, { ...opts, engine: pool }, true)), (c) => {
        p.release(c);
        released++;
      });
      const plain = await collect(source().pipeThrough(createEncryptStream(key, keyId, { ...opts, engine: nobleEngine() })));
      expect(released).toBe(Math.ceil(data.length / (64 * 1024)));
      expect(hex(lent)).toBe(hex(plain));
    } finally {
      pool.terminate();
    }
  });

  it('a chunk released twice, or one never lent, throws; its buffer is reused (and detached) only once every chunk of it is back', async () => {
    const pool = createWorkerEngine({ createWorker: factory.make, workers: 1 });
    try {
      await pool.ready();
      const p = pool as unknown as { release(c: Uint8Array): void };
      const cipher = pool.create(new Uint8Array(32).fill(1), new Uint8Array(16)) as unknown as {
        sealLent(t: Uint8Array, pt: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
        dispose(): void;
      };
      const aad = new Uint8Array(4);
      const seal = (i: number) => cipher.sealLent(chunkNonceTail(i, false), new Uint8Array(1000).fill(i), aad);
      // The first seal goes to the idle worker alone; the next two wait for it in one batch.
      const [x, a, b] = await Promise.all([seal(0), seal(1), seal(2)]);
      expect(x.buffer).not.toBe(a!.buffer);
      expect(a!.buffer).toBe(b!.buffer); // one batch, one buffer, no copy per chunk
      p.release(x);
      expect(a!.length).toBe(1016);
      expect(() => p.release(new Uint8Array(1016))).toThrow(/not on loan/);
      p.release(a!);
      expect(() => p.release(a!)).toThrow(/not on loan/);
      const kept = hex(b!);
      // Other seals meanwhile get other buffers: b's is still on loan.
      const c = await seal(3);
      expect(c.buffer).not.toBe(b!.buffer);
      expect(hex(b!)).toBe(kept);
      p.release(b!);
      p.release(c);
      // Now b's buffer goes to a worker again: the stale view is detached, and releasing it throws.
      await Promise.all([seal(4), seal(5)]);
      expect(b!.length).toBe(0);
      expect(() => p.release(b!)).toThrow(/not on loan/);
      cipher.dispose();
    } finally {
      pool.terminate();
    }
  });

  it('a lending stream on an engine that does not lend is refused at once', () => {
    expect(() => createRecyclingEncryptStream(new Uint8Array(32), new Uint8Array(16), { engine: nobleEngine() }, true)).toThrow(TypeError);
  });
});

describe('part bodies made in a worker (WorkerPool.blobOf)', () => {
  type BlobOf = (b: Uint8Array<ArrayBuffer>, n: number) => Promise<{ blob: Blob; buffer: Uint8Array<ArrayBuffer> }>;

  /** In-process workers running the real handler, cloned and transferred as real ones; counts starts and ends. */
  function countingWorkers(tamper?: (response: Record<string, unknown>) => void) {
    const started: number[] = [];
    const ended: number[] = [];
    const make = (index: number): WorkerLike => {
      started.push(index);
      const me = started.length - 1;
      const handle = createWorkerHandler(loadLibsodium);
      const listeners: ((ev: { data?: unknown }) => void)[] = [];
      let alive = true;
      return {
        postMessage(message, transfer) {
          if (!alive) throw new Error('worker terminated');
          void handle(structuredClone(message, { transfer })).then(({ response, transfer: back }) => {
            const data = structuredClone(response, { transfer: back }) as Record<string, unknown>;
            tamper?.(data);
            setTimeout(() => {
              if (alive) for (const l of listeners) l({ data });
            }, 1);
          });
        },
        addEventListener(type, listener) {
          if (type === 'message') listeners.push(listener);
        },
        terminate() {
          if (alive) ended.push(me);
          alive = false;
        },
      };
    };
    return { make, started, ended };
  }

  it('gives the Blob of the bytes and the buffer back; replaces its worker after 32 MiB and ends the old one once it has answered; ends it when idle', async () => {
    const w = countingWorkers();
    const pool = createWorkerEngine({ createWorker: w.make, workers: 2 });
    try {
      await pool.ready();
      const blobOf = (pool as unknown as { blobOf: BlobOf }).blobOf.bind(pool);
      expect(w.started).toEqual([0, 1]); // no body worker until a body is asked for
      const part = new Uint8Array(8 << 20);
      for (let i = 0; i < part.length; i += 4096) part[i] = i >>> 12;
      const want = hex(part.subarray(0, part.length - 5));
      let buf = part.slice();
      const first = await blobOf(buf, buf.length - 5);
      expect(buf.length).toBe(0); // transferred
      expect(first.blob.size).toBe(part.length - 5);
      expect(hex(new Uint8Array(await first.blob.arrayBuffer()))).toBe(want);
      expect(first.buffer.length).toBe(part.length); // handed back whole, for reuse
      buf = first.buffer;
      expect(w.started).toEqual([0, 1, 2]);
      // After 32 MiB (five parts: the first 5 bytes short) the sixth body starts another worker,
      // in flight together with the fifth, so the old one ends only once it has answered.
      for (let i = 1; i < 4; i++) buf = (await blobOf(buf, buf.length)).buffer;
      expect(w.started).toEqual([0, 1, 2]);
      const spare = new Uint8Array(8 << 20);
      const fifth = blobOf(buf, buf.length);
      const sixth = blobOf(spare, spare.length);
      expect(w.started).toEqual([0, 1, 2, 2]);
      expect(w.ended).toEqual([]);
      await Promise.all([fifth, sixth]);
      expect(w.ended).toEqual([2]); // the first body worker; the cipher workers and the new one live
      expect((await sixth).blob.size).toBe(8 << 20);
      // Idle for a second (the backup ended): the body worker ends too, and its Blobs with it.
      await new Promise((r) => setTimeout(r, 1200));
      expect(w.ended).toEqual([2, 3]);
      buf = (await blobOf((await sixth).buffer, 10)).buffer; // and a new one starts when asked
      expect(w.started).toEqual([0, 1, 2, 2, 2]);
    } finally {
      pool.terminate();
    }
    expect([...w.ended].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('a reply whose Blob is not the length asked for ends the pool (ENGINE_UNAVAILABLE), and pending bodies fail; a terminated pool refuses more', async () => {
    const w = countingWorkers((r) => {
      if ('blob' in r) r.blob = new Blob([new Uint8Array(3)]);
    });
    const pool = createWorkerEngine({ createWorker: w.make, workers: 1 });
    await pool.ready();
    const blobOf = (pool as unknown as { blobOf: BlobOf }).blobOf.bind(pool);
    const err = await blobOf(new Uint8Array(100), 100).catch((e: unknown) => e);
    expect(isBackupError(err) && err.code).toBe('ENGINE_UNAVAILABLE');
    expect(w.ended.length).toBe(2); // the cipher worker and the body worker
    const again = await blobOf(new Uint8Array(10), 10).catch((e: unknown) => e);
    expect(isBackupError(again) && again.code).toBe('ENGINE_UNAVAILABLE');
    // A view into a larger buffer is refused (it would be transferred whole).
    const ok = createWorkerEngine({ createWorker: countingWorkers().make, workers: 1 });
    try {
      const of2 = (ok as unknown as { blobOf: BlobOf }).blobOf.bind(ok);
      await expect(of2(new Uint8Array(100).subarray(10) as Uint8Array<ArrayBuffer>, 10)).rejects.toThrow(TypeError);
      await expect(of2(new Uint8Array(100), 101)).rejects.toThrow(TypeError);
    } finally {
      ok.terminate();
    }
  });
});

/** The presigned HTTP adapter with Blob bodies (as in browsers), the server behind `handler`. */
function blobStore(server: ReturnType<typeof makeBlobServer>, handler: (r: Request) => Promise<Response>): BlobStore {
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

describe('Blob parts through the client', () => {
  it('worker pool + Blob bodies: every attempt of a part carries one body, the backup restores byte-identical, and a run cut short resumes on the part-buffer path without re-sending a part', async () => {
    const server = makeBlobServer();
    const received = new Map<number, Set<string>>();
    let puts = 0;
    let cutAfter = Infinity;
    const stop = new AbortController();
    const sentParts: number[] = [];
    const storedParts = new Set<number>();
    const spy = async (req: Request): Promise<Response> => {
      const part = new URL(req.url).searchParams.get('partNumber');
      if (req.method === 'PUT' && part !== null) {
        const n = Number(part);
        const body = new Uint8Array(await req.clone().arrayBuffer());
        let s = received.get(n);
        if (s === undefined) received.set(n, (s = new Set()));
        s.add(hex(body));
        sentParts.push(n);
        // Every second attempt fails after its body arrived: the transport retries it.
        if (++puts % 2 === 1) return new Response('busy', { status: 503 });
        const res = await server.handler(req);
        if (res.ok) storedParts.add(n);
        if (storedParts.size >= cutAfter) stop.abort(new Error('cut'));
        return res;
      }
      return server.handler(req);
    };
    const store = blobStore(server, spy);
    let blobPuts = 0;
    const parts = (store as { [BLOB_PARTS]?: BlobParts })[BLOB_PARTS]!;
    expect(typeof parts.put).toBe('function');
    const counted: BlobStore = { ...store, [BLOB_PARTS]: { ...parts, put: (...a: Parameters<BlobParts['put']>) => (blobPuts++, parts.put(...a)) } } as BlobStore;
    const pool = createWorkerEngine({ createWorker: factory.make, workers: 2 });
    const storage = createMemoryStore();
    const accountId = `blobparts${++seq}`;
    const options = { accountId, chunkSize: 64 * 1024, partSize: 20 * (64 * 1024 + 16), concurrency: 2 };
    try {
      const client = makeClient(vault, counted, storage, { ...options, engine: pool });
      const recoveryCode = (await client.enable()).recoveryCode!;
      const data = testBytes(6 * 1024 * 1024 + 77, 5);
      // First run: cut after three parts are stored.
      cutAfter = 3;
      const first = await client.backup(data, { signal: stop.signal }).catch((e: unknown) => e);
      expect(isBackupError(first, 'ABORTED')).toBe(true);
      expect(blobPuts).toBeGreaterThanOrEqual(3);
      const stored = new Set(storedParts);
      expect(stored.size).toBeGreaterThanOrEqual(3);
      client.close();
      // Second run on the part-buffer path (noble, part buffers, putPart): the parts already
      // stored hash the same, so they are not sent again.
      cutAfter = Infinity;
      sentParts.length = 0;
      const again = makeClient(vault, store, storage, { ...options, engine: nobleEngine() });
      await again.unlock({ recoveryCode });
      await again.backup(data);
      expect(sentParts.length).toBeGreaterThan(0);
      expect(sentParts.filter((n) => stored.has(n))).toEqual([]);
      expect([...received].filter(([, s]) => s.size !== 1).map(([n]) => n)).toEqual([]);
      again.close();
      const restored = await again.restore({ recoveryCode });
      expect(Buffer.compare(await readAll(restored.stream), data)).toBe(0);
      // And a full backup on the Blob path restores too.
      const third = makeClient(vault, counted, storage, { ...options, engine: pool });
      await third.unlock({ recoveryCode });
      blobPuts = 0;
      const other = testBytes(3 * 1024 * 1024 + 5, 6);
      await third.backup(other);
      expect(blobPuts).toBeGreaterThan(0);
      third.close();
      const back = await third.restore({ recoveryCode });
      expect(Buffer.compare(await readAll(back.stream), other)).toBe(0);
    } finally {
      pool.terminate();
    }
  }, 120_000);
});
