/**
 * Blob parts (issue 20): with the worker pool and a store whose bodies travel as `Blob`s (browsers),
 * the backup takes each sealed chunk as a view of the buffer the worker handed back (`sealLent`),
 * builds the part's body from those views in 1 MiB `Blob`s and hands each chunk back to the pool,
 * instead of copying it into a part buffer and the part into a `Blob`. What must hold: the bytes
 * (same as every other path, so a backup resumed on another path skips the parts already sent),
 * the order (workers answer out of order), one body per part for every attempt, and a lent chunk
 * used wrongly failing loudly.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chunkNonceTail } from '../../lib/archive/engine.js';
import { createWorkerHandler } from '../../lib/archive/engines/worker-core.js';
import { createWorkerEngine, type WorkerLike } from '../../lib/archive/engines/workers.js';
import { loadLibsodium } from '../../lib/archive/engines/libsodium.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { createEncryptStream, createRecyclingEncryptStream } from '../../lib/archive/stream.js';
import { isBackupError } from '../../lib/errors.js';
import { BLOB_PARTS, blobParts, type BlobParts } from '../../lib/storage/blob/body.js';
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

type BlobOf = (b: Uint8Array<ArrayBuffer>, n: number) => Promise<{ blob: Blob; buffer: Uint8Array<ArrayBuffer> }>;
const blobOfPool = (pool: unknown): BlobOf => (pool as { blobOf: BlobOf }).blobOf.bind(pool);

/**
 * In-process workers running the real request handler, cloned and transferred as real ones'
 * messages are. `started`: the index each was made with; `ended`: the ones terminated, by rank
 * among those started (0 and 1 the cipher workers of a 2-worker pool). `tamper` edits a reply; a
 * worker whose rank is in `held` holds its replies until `release`, so a later part's body can
 * come back before an earlier one's.
 */
function inProcessWorkers(tamper?: (response: Record<string, unknown>) => void) {
  const started: number[] = [];
  const ended: number[] = [];
  const held = new Set<number>();
  const waiting = new Map<number, (() => void)[]>();
  const make = (index: number): WorkerLike => {
    const me = started.push(index) - 1;
    const handle = createWorkerHandler(loadLibsodium);
    const listeners: ((ev: { data?: unknown }) => void)[] = [];
    let alive = true;
    return {
      postMessage(message, transfer) {
        if (!alive) throw new Error('worker terminated');
        void handle(structuredClone(message, { transfer })).then(({ response, transfer: back }) => {
          const data = structuredClone(response, { transfer: back }) as Record<string, unknown>;
          tamper?.(data);
          const deliver = () => {
            if (alive) for (const l of listeners) l({ data });
          };
          if (!held.has(me)) setTimeout(deliver, 1);
          else waiting.set(me, [...(waiting.get(me) ?? []), deliver]);
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
  const release = (n: number) => {
    held.delete(n);
    for (const d of waiting.get(n)?.splice(0) ?? []) d();
  };
  return { make, started, ended, held, release };
}

describe('part bodies made in a worker (WorkerPool.blobOf)', () => {
  it('gives the Blob of the bytes and the buffer back; replaces its worker after 32 MiB and ends the old one once it has answered; ends it when idle', async () => {
    const w = inProcessWorkers();
    const pool = createWorkerEngine({ createWorker: w.make, workers: 2 });
    try {
      await pool.ready();
      const blobOf = blobOfPool(pool);
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

  it('a part-body worker that fails is named as such in the error (not as a cipher worker)', async () => {
    const w = inProcessWorkers((r) => {
      if ('blob' in r) {
        delete r.blob;
        delete r.data;
        r.error = 'boom';
      }
    });
    const pool = createWorkerEngine({ createWorker: w.make, workers: 1 });
    await pool.ready();
    const blobOf = blobOfPool(pool);
    const err = await blobOf(new Uint8Array(100), 100).catch((e: unknown) => e);
    expect(isBackupError(err) && err.code).toBe('ENGINE_UNAVAILABLE');
    expect((err as Error).message).toMatch(/^a part-body worker failed: boom/);
  });

  it('a reply whose Blob is not the length asked for ends the pool (ENGINE_UNAVAILABLE), and pending bodies fail; a terminated pool refuses more', async () => {
    const w = inProcessWorkers((r) => {
      if ('blob' in r) r.blob = new Blob([new Uint8Array(3)]);
    });
    const pool = createWorkerEngine({ createWorker: w.make, workers: 1 });
    await pool.ready();
    const blobOf = blobOfPool(pool);
    const err = await blobOf(new Uint8Array(100), 100).catch((e: unknown) => e);
    expect(isBackupError(err) && err.code).toBe('ENGINE_UNAVAILABLE');
    expect(w.ended.length).toBe(2); // the cipher worker and the body worker
    const again = await blobOf(new Uint8Array(10), 10).catch((e: unknown) => e);
    expect(isBackupError(again) && again.code).toBe('ENGINE_UNAVAILABLE');
    // A view into a larger buffer is refused (it would be transferred whole).
    const ok = createWorkerEngine({ createWorker: inProcessWorkers().make, workers: 1 });
    try {
      const of2 = blobOfPool(ok);
      await expect(of2(new Uint8Array(100).subarray(10) as Uint8Array<ArrayBuffer>, 10)).rejects.toThrow(TypeError);
      await expect(of2(new Uint8Array(100), 101)).rejects.toThrow(TypeError);
    } finally {
      ok.terminate();
    }
  });
});

describe('part bodies made in a worker: what a reviewer tried (attacks on blobOf)', () => {
  const MiB = 1 << 20;

  const filled = (size: number, v: number) => new Uint8Array(size).fill(v) as Uint8Array<ArrayBuffer>;
  const bytesOf = async (b: Blob) => [...new Uint8Array(await b.arrayBuffer())];
  const ends = async (b: Blob) => [b.size, ...(await bytesOf(b.slice(0, 1))), ...(await bytesOf(b.slice(-1)))];

  it("a retiring worker's body answered after its successor's: each part still gets its own bytes, and the old worker ends only then", { timeout: 30_000 }, async () => {
    const w = inProcessWorkers();
    const pool = createWorkerEngine({ createWorker: w.make, workers: 2 });
    try {
      await pool.ready();
      const blobOf = blobOfPool(pool);
      const first = await blobOf(filled(16 * MiB, 1), 16 * MiB); // worker 2 starts
      w.held.add(2);
      const second = blobOf(filled(16 * MiB + 64, 2), 16 * MiB); // worker 2 has made 32 MiB now
      const third = blobOf(filled(8 * MiB, 3), 8 * MiB); // so worker 3 makes this one
      expect(await ends((await third).blob)).toEqual([8 * MiB, 3, 3]);
      expect(w.ended).toEqual([]); // worker 2 still owes the second body
      w.release(2);
      expect(await ends((await second).blob)).toEqual([16 * MiB, 2, 2]);
      expect(await ends(first.blob)).toEqual([16 * MiB, 1, 1]);
      expect(w.ended).toEqual([2]);
    } finally {
      pool.terminate();
    }
  });

  it('the pool terminated, or its signal aborted, while a body is being made: the body fails (ABORTED) and the body worker ends', async () => {
    for (const how of ['terminate', 'abort'] as const) {
      const w = inProcessWorkers();
      const stop = new AbortController();
      const pool = createWorkerEngine({ createWorker: w.make, workers: 1, signal: stop.signal });
      await pool.ready();
      w.held.add(1);
      const pending = blobOfPool(pool)(filled(1000, 9), 1000);
      if (how === 'terminate') pool.terminate();
      else stop.abort(new Error('user'));
      const e = await pending.catch((x: unknown) => x);
      expect(isBackupError(e) && e.code).toBe('ABORTED');
      expect(w.ended.sort()).toEqual([0, 1]);
      w.release(1); // a reply after the end reaches no one
    }
  });

  it("the idle timer that ends the body worker never keeps a Node process alive, and a terminated pool clears it", async () => {
    const timers: { ms: number | undefined; t: NodeJS.Timeout }[] = [];
    const real = globalThis.setTimeout;
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const t = real(fn, ms);
      timers.push({ ms, t });
      return t;
    }) as typeof setTimeout);
    const w = inProcessWorkers();
    const pool = createWorkerEngine({ createWorker: w.make, workers: 1 });
    try {
      await pool.ready();
      await blobOfPool(pool)(filled(100, 1), 100);
    } finally {
      spy.mockRestore();
    }
    const idle = timers.filter((x) => x.ms === 1000);
    expect(idle.length).toBe(1);
    expect(idle[0]!.t.hasRef()).toBe(false);
    const cleared = vi.spyOn(globalThis, 'clearTimeout');
    pool.terminate();
    expect(cleared.mock.calls.some(([t]) => t === idle[0]!.t)).toBe(true);
    cleared.mockRestore();
    expect(w.ended.sort()).toEqual([0, 1]);
  });

  it('a body over 64 MiB (a part size an app may set; S3 takes parts up to 5 GiB) is made like any other', async () => {
    const w = inProcessWorkers();
    const pool = createWorkerEngine({ createWorker: w.make, workers: 1 });
    try {
      await pool.ready();
      const size = 64 * MiB + 4096;
      const made = await blobOfPool(pool)(filled(size, 5), size - 1);
      expect(await ends(made.blob)).toEqual([size - 1, 5, 5]);
      expect(made.buffer.length).toBe(size);
    } finally {
      pool.terminate();
    }
  }, 30_000);
});

describe("the worker's 'blob' request (worker-core.ts)", () => {
  it('refuses what the pool never sends: a view into a larger buffer, a length past the bytes, a negative or fractional length, no bytes', async () => {
    const handle = createWorkerHandler(loadLibsodium);
    const bad: unknown[] = [
      { op: 'blob', id: 1, data: new Uint8Array(100).subarray(1), length: 10 },
      { op: 'blob', id: 2, data: new Uint8Array(100), length: 101 },
      { op: 'blob', id: 3, data: new Uint8Array(100), length: -1 },
      { op: 'blob', id: 4, data: new Uint8Array(100), length: 1.5 },
      { op: 'blob', id: 5, data: [1, 2, 3], length: 1 },
    ];
    for (const m of bad) {
      const { response } = await handle(m);
      expect(response).toEqual({ id: (m as { id: number }).id, error: 'malformed request' });
    }
    const { response, transfer } = await handle({ op: 'blob', id: 6, data: new Uint8Array(100).fill(4), length: 0 });
    expect((response as { blob: Blob }).blob.size).toBe(0);
    expect(transfer.length).toBe(1);
  });
});

describe('workerBlobParts (lib/storage/blob/body.ts): a staging buffer in flight', () => {
  it('is not written while its Blob is made: the next part is staged in another buffer, and each part gets its own body, whichever is made first', async () => {
    const builds: { bytes: Uint8Array<ArrayBuffer>; length: number; done: () => void }[] = [];
    const build = (bytes: Uint8Array<ArrayBuffer>, length: number) =>
      new Promise<{ blob: Blob; buffer: Uint8Array<ArrayBuffer> }>((resolve) => {
        builds.push({ bytes, length, done: () => resolve({ blob: new Blob([bytes.slice(0, length)]), buffer: bytes }) });
      });
    const released: Uint8Array[] = [];
    const parts = blobParts((v) => released.push(v), build);
    parts.add(new Uint8Array(1000).fill(1), false);
    parts.add(new Uint8Array(24).fill(2), true);
    const one = parts.end();
    const kept = hex(builds[0]!.bytes.subarray(0, 1024));
    parts.add(new Uint8Array(500).fill(3), false);
    const two = parts.end();
    expect(builds.length).toBe(2);
    expect(builds[1]!.bytes.buffer).not.toBe(builds[0]!.bytes.buffer);
    expect(hex(builds[0]!.bytes.subarray(0, 1024))).toBe(kept);
    expect(released.length).toBe(1); // the lent piece, handed back once copied
    builds[1]!.done();
    builds[0]!.done();
    const [b1, b2] = await Promise.all([one, two]);
    expect([b1.size, b2.size]).toEqual([1024, 500]);
    expect(new Uint8Array(await b1.arrayBuffer()).at(-1)).toBe(2);
    expect(new Uint8Array(await b2.arrayBuffer()).at(0)).toBe(3);
    // The buffers came back: the next part reuses one instead of allocating.
    parts.add(new Uint8Array(10), false);
    void parts.end();
    expect([builds[0]!.bytes.buffer, builds[1]!.bytes.buffer]).toContain(builds[2]!.bytes.buffer);
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
