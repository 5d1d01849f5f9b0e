/**
 * The worker pool on real threads: Node's worker_threads running the same request handler as the
 * browser worker script (engines-worker-thread.ts). The browser run is engines-browser.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkNonceTail } from '../../lib/archive/engine.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { createWorkerEngine, type WorkerEngine, type WorkerLike } from '../../lib/archive/engines/workers.js';
import { decryptArchive, encryptArchive } from '../../lib/archive/archive.js';
import { isBackupError } from '../../lib/errors.js';
import { concatBytes, equalBytes } from '../../lib/util/bytes.js';
import { createWorkerHandler } from '../../lib/archive/engines/worker-core.js';
import { loadLibsodium } from '../../lib/archive/engines/libsodium.js';
import { adaptNodeWorker, nodeWorkerFactory, wycheproofAead } from './engines-support.js';

let factory: Awaited<ReturnType<typeof nodeWorkerFactory>>;

/**
 * A batch request as the pool sends it, written out here from the protocol's description
 * (worker-core.ts), not with its own helper: `meta` is key(32) ‖ ops(n) ‖ tails(8n) ‖
 * lengths(4n, little-endian) ‖ aad.
 */
function batchRequest(r: { id: number; key: Uint8Array; aad: Uint8Array; ops: Uint8Array; tails: Uint8Array; lengths: readonly number[]; data: Uint8Array }): Record<string, unknown> {
  const n = r.ops.length;
  const lengths = new Uint8Array(4 * n);
  r.lengths.forEach((l, i) => new DataView(lengths.buffer).setUint32(4 * i, l, true));
  return { op: 'batch', id: r.id, n, meta: concatBytes(r.key, r.ops, r.tails, lengths, r.aad), data: r.data };
}
const pools: WorkerEngine[] = [];

/** A batch buffer for seals: each input in a slot with 16 spare bytes for its tag (worker-core.ts). */
function sealSlots(pts: readonly Uint8Array[], size = pts.reduce((n, p) => n + p.length + 16, 0)): Uint8Array {
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of pts) {
    out.set(p, off);
    off += p.length + 16;
  }
  return out;
}

/** The results a batch left in its buffer: a seal's `ciphertext ‖ tag`, an open's plaintext. */
function readSlots(data: Uint8Array, ops: readonly number[], lengths: readonly number[]): Uint8Array[] {
  let off = 0;
  return ops.map((op, i) => {
    const len = lengths[i]!;
    const out = op === 0 ? data.slice(off, off + len + 16) : data.slice(off, off + len - 16);
    off += op === 0 ? len + 16 : len;
    return out;
  });
}

/** A pool that is terminated after the file's tests. */
function pool(options: Parameters<typeof createWorkerEngine>[0]): WorkerEngine {
  const p = createWorkerEngine({ createWorker: factory.make, ...options });
  pools.push(p);
  return p;
}

beforeAll(async () => {
  factory = await nodeWorkerFactory();
});

afterAll(() => {
  for (const p of pools) p.terminate();
  factory.cleanup();
});

describe('worker pool engine', () => {
  it.each(['noble', 'libsodium'] as const)('with %s workers: same bytes as noble on random chunk sequences, opened back', async (kind) => {
    const engine = pool({ workers: 2, engine: kind });
    await engine.ready();
    expect(engine.name).toBe('workers');
    expect(engine.parallelism).toBe(64); // 2 workers × 2 batches × 16 chunks
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.array(fc.uint8Array({ maxLength: 2000 }), { minLength: 1, maxLength: 12 }),
        fc.uint8Array({ maxLength: 40 }),
        async (key, prefix, chunks, aad) => {
          const ref = nobleEngine().create(key, prefix);
          const cipher = engine.create(key, prefix);
          const tails = chunks.map((_, i) => chunkNonceTail(i, i === chunks.length - 1));
          // All in flight at once: results must still match chunk by chunk.
          const sealed = await Promise.all(chunks.map((c, i) => cipher.seal(tails[i]!, c, aad)));
          sealed.forEach((s, i) => expect(equalBytes(s, ref.seal(tails[i]!, chunks[i]!, aad) as Uint8Array)).toBe(true));
          const opened = await Promise.all(sealed.map((s, i) => cipher.open(tails[i]!, s, aad)));
          opened.forEach((o, i) => expect(o && equalBytes(o, chunks[i]!)).toBe(true));
          cipher.dispose();
          ref.dispose();
        },
      ),
      { numRuns: 15 },
    );
  });

  it.each(['noble', 'libsodium'] as const)('with %s workers: Wycheproof XChaCha20-Poly1305, every case', async (kind) => {
    const engine = pool({ workers: 2, engine: kind });
    const vectors = wycheproofAead('xchacha20_poly1305_test.json').filter((v) => v.iv.length === 24);
    expect(vectors.length).toBe(306);
    // All in flight at once, each case under its own cipher.
    const results = await Promise.all(
      vectors.map(async (v) => {
        const cipher = engine.create(v.key, v.iv.subarray(0, 16));
        const opened = await cipher.open(v.iv.subarray(16), concatBytes(v.ct, v.tag), v.aad);
        const sealed = v.result === 'valid' ? await cipher.seal(v.iv.subarray(16), v.msg, v.aad) : undefined;
        cipher.dispose();
        return v.result === 'valid'
          ? opened !== undefined && equalBytes(opened, v.msg) && equalBytes(sealed!, concatBytes(v.ct, v.tag))
          : opened === undefined;
      }),
    );
    expect(results.filter((ok) => !ok).length).toBe(0);
  });

  it('whole archives through the pool are byte-identical to noble’s and decrypt, tampering fails as ARCHIVE_AUTH_FAILED', async () => {
    const engine = pool({ workers: 2, engine: 'noble' });
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 20_000 }),
        fc.integer({ min: 64, max: 3000 }),
        async (key, salt, plain, chunkSize) => {
          const opts = { chunkSize, random: () => salt.slice() };
          const reference = await encryptArchive(key, new Uint8Array(16), plain, { ...opts, engine: nobleEngine() });
          const archive = await encryptArchive(key, new Uint8Array(16), plain, { ...opts, engine });
          expect(equalBytes(archive, reference)).toBe(true);
          expect(equalBytes(await decryptArchive(key, reference, { engine }), plain)).toBe(true);
          const bad = reference.slice();
          bad[bad.length - 1]! ^= 1;
          await expect(decryptArchive(key, bad, { engine })).rejects.toSatisfy((e) => isBackupError(e, 'ARCHIVE_AUTH_FAILED'));
        },
      ),
      { numRuns: 15 },
    );
  });

  it('never detaches or changes the caller’s buffers (Buffer views into a shared pool included)', async () => {
    const engine = pool({ workers: 1 });
    const slab = randomBytes(4096); // a Node pool slice: byteOffset ≠ 0, shared ArrayBuffer
    const pt = slab.subarray(100, 1100);
    const before = Buffer.from(pt);
    const cipher = engine.create(randomBytes(32), randomBytes(16));
    const sealed = await cipher.seal(chunkNonceTail(0, true), pt, slab.subarray(0, 5));
    expect(pt.buffer.byteLength).toBeGreaterThan(0);
    expect(Buffer.from(pt).equals(before)).toBe(true);
    const opened = await cipher.open(chunkNonceTail(0, true), sealed, slab.subarray(0, 5));
    expect(sealed.length).toBe(1016);
    expect(opened && equalBytes(opened, before)).toBe(true);
  });

  it('a tampered chunk opens to undefined, like every engine', async () => {
    const engine = pool({ workers: 1 });
    const cipher = engine.create(randomBytes(32), randomBytes(16));
    const sealed = await cipher.seal(chunkNonceTail(0, false), randomBytes(300), new Uint8Array(0));
    sealed[299]! ^= 0x40;
    expect(await cipher.open(chunkNonceTail(0, false), sealed, new Uint8Array(0))).toBeUndefined();
    expect(await cipher.open(chunkNonceTail(0, false), sealed.subarray(0, 10), new Uint8Array(0))).toBeUndefined();
  });

  it('backpressure and batching: each worker holds at most perWorker batches of at most 16 chunks; batches go out in order', async () => {
    const inFlight = new Map<number, number>();
    let maxPerWorker = 0;
    const posted: number[] = [];
    const sizes: number[] = [];
    const counting = (index: number): WorkerLike => {
      const inner = factory.make();
      inFlight.set(index, 0);
      return {
        postMessage: (m, t) => {
          const req = m as { op: string; id: number; n?: number };
          if (req.op === 'batch') {
            inFlight.set(index, inFlight.get(index)! + 1);
            maxPerWorker = Math.max(maxPerWorker, inFlight.get(index)!);
            posted.push(req.id);
            sizes.push(req.n!);
          }
          inner.postMessage(m, t);
        },
        addEventListener: (type, l) =>
          inner.addEventListener(type, (ev) => {
            if (type === 'message' && (ev.data as { data?: unknown }).data !== undefined) inFlight.set(index, inFlight.get(index)! - 1);
            l(ev);
          }),
        terminate: () => inner.terminate(),
      };
    };
    const engine = pool({ workers: 2, perWorker: 2, createWorker: counting });
    await engine.ready();
    const cipher = engine.create(randomBytes(32), randomBytes(16));
    const chunks = Array.from({ length: 100 }, () => randomBytes(20_000));
    const sealed = await Promise.all(chunks.map((c, i) => cipher.seal(chunkNonceTail(i, i === 99), c, new Uint8Array(0))));
    expect(maxPerWorker).toBeLessThanOrEqual(2);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(100);
    // Fewer messages than chunks: all 100 were submitted at once, so batches formed.
    expect(sizes.length).toBeLessThan(20);
    // Dispatched in submission order (FIFO), so ids increase.
    expect(posted).toEqual([...posted].sort((a, b) => a - b));
    const ref = nobleEngine().create(new Uint8Array(32), new Uint8Array(16));
    expect(sealed.every((s, i) => s.length === chunks[i]!.length + 16)).toBe(true);
    ref.dispose();
    // Every result owns its ArrayBuffer (a consumer may transfer it without touching the others).
    expect(sealed.every((s) => s.byteOffset === 0 && s.buffer.byteLength === s.length)).toBe(true);
  });

  it('a lone chunk is not kept waiting for a batch to fill', async () => {
    const engine = pool({ workers: 2 });
    await engine.ready();
    const cipher = engine.create(randomBytes(32), randomBytes(16));
    for (let i = 0; i < 5; i++) {
      // One at a time, each awaited before the next is submitted.
      const s = await cipher.seal(chunkNonceTail(i, false), randomBytes(1000), new Uint8Array(3));
      expect(s.length).toBe(1016);
    }
  });

  it('AbortSignal: pending calls reject with ABORTED, the workers stop, later calls fail', async () => {
    const ac = new AbortController();
    const engine = pool({ workers: 2, signal: ac.signal });
    await engine.ready();
    const cipher = engine.create(randomBytes(32), randomBytes(16));
    const pending = Array.from({ length: 30 }, (_, i) => cipher.seal(chunkNonceTail(i, false), randomBytes(50_000), new Uint8Array(0)));
    ac.abort(new Error('user cancelled'));
    const results = await Promise.allSettled(pending);
    expect(results.some((r) => r.status === 'rejected')).toBe(true);
    for (const r of results) if (r.status === 'rejected') expect(isBackupError(r.reason, 'ABORTED')).toBe(true);
    await expect(cipher.seal(chunkNonceTail(99, false), new Uint8Array(1), new Uint8Array(0))).rejects.toSatisfy((e) => isBackupError(e, 'ABORTED'));
    expect(() => engine.create(randomBytes(32), randomBytes(16))).toThrow(expect.objectContaining({ code: 'ABORTED' }));
    expect(() => createWorkerEngine({ createWorker: factory.make, signal: ac.signal })).toThrow(expect.objectContaining({ code: 'ABORTED' }));
  });

  it('terminate() rejects what is pending with ABORTED', async () => {
    const engine = pool({ workers: 1 });
    const cipher = engine.create(randomBytes(32), randomBytes(16));
    const p = cipher.seal(chunkNonceTail(0, false), randomBytes(100_000), new Uint8Array(0));
    engine.terminate();
    engine.terminate();
    await expect(p).rejects.toSatisfy((e) => isBackupError(e, 'ABORTED'));
  });

  it('a worker that fails to load makes every call fail with ENGINE_UNAVAILABLE', async () => {
    const engine = pool({ createWorker: () => adaptNodeWorker(new Worker('throw new Error("blocked by CSP")', { eval: true })) });
    await expect(engine.ready()).rejects.toSatisfy((e) => isBackupError(e, 'ENGINE_UNAVAILABLE'));
    expect(() => engine.create(randomBytes(32), randomBytes(16))).toThrow(expect.objectContaining({ code: 'ENGINE_UNAVAILABLE' }));
  });

  it('a worker that answers garbage is treated as failed, not as a bad tag', async () => {
    const liar = `const { parentPort } = require('node:worker_threads');
      parentPort.on('message', (m) => parentPort.postMessage(m.op === 'init' ? { id: m.id, ok: true } : { id: m.id, ok: true, data: new Uint8Array(3) }));`;
    const engine = pool({ workers: 1, createWorker: () => adaptNodeWorker(new Worker(liar, { eval: true })) });
    await engine.ready();
    const cipher = engine.create(randomBytes(32), randomBytes(16));
    await expect(cipher.seal(chunkNonceTail(0, false), new Uint8Array(10), new Uint8Array(0))).rejects.toSatisfy((e) => isBackupError(e, 'ENGINE_UNAVAILABLE'));
    await expect(cipher.open(chunkNonceTail(0, false), new Uint8Array(40), new Uint8Array(0))).rejects.toSatisfy((e) => isBackupError(e, 'ENGINE_UNAVAILABLE'));
    const unknownId = `const { parentPort } = require('node:worker_threads');
      parentPort.on('message', (m) => parentPort.postMessage({ id: m.id + 1000, ok: true }));`;
    const broken = pool({ workers: 1, createWorker: () => adaptNodeWorker(new Worker(unknownId, { eval: true })) });
    await expect(broken.ready()).rejects.toSatisfy((e) => isBackupError(e, 'ENGINE_UNAVAILABLE'));
  });

  it('refuses a repeated nonce at call time, and chunks queued behind a dispose()', async () => {
    const engine = pool({ workers: 1, perWorker: 1 });
    await engine.ready();
    const cipher = engine.create(randomBytes(32), randomBytes(16));
    const first = cipher.seal(chunkNonceTail(0, false), randomBytes(200_000), new Uint8Array(0));
    expect(() => cipher.seal(chunkNonceTail(0, false), new Uint8Array(1), new Uint8Array(0))).toThrow();
    const queued = cipher.seal(chunkNonceTail(1, false), new Uint8Array(1), new Uint8Array(0));
    cipher.dispose();
    const queuedFails = expect(queued).rejects.toThrow(TypeError);
    await first; // already posted with its own copy of the subkey
    await queuedFails;
    expect(() => cipher.seal(chunkNonceTail(2, false), new Uint8Array(1), new Uint8Array(0))).toThrow(TypeError);
  });

  it('checks its options', () => {
    // A refused option is INVALID_ARGUMENT naming it (details.option), issue 19.
    const invalid = (option: string) => expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ option }) });
    expect(() => createWorkerEngine({ workers: 0, createWorker: factory.make })).toThrow(invalid('workers'));
    expect(() => createWorkerEngine({ workers: 1.5, createWorker: factory.make })).toThrow(invalid('workers'));
    expect(() => createWorkerEngine({ workers: '2' as unknown as number, createWorker: factory.make })).toThrow(invalid('workers'));
    expect(() => createWorkerEngine({ perWorker: 17, createWorker: factory.make })).toThrow(invalid('perWorker'));
    expect(() => createWorkerEngine({ engine: 'wasm' as never, createWorker: factory.make })).toThrow(invalid('engine'));
    expect(() => createWorkerEngine(null as never)).toThrow(invalid('options'));
    // No Worker in Node and no factory: a typed error, not a ReferenceError.
    expect(() => createWorkerEngine({ workers: 1 })).toThrow(expect.objectContaining({ code: 'ENGINE_UNAVAILABLE' }));
  });
});

describe('worker request handler', () => {
  it('answers every message exactly once and never throws, whatever it is sent', async () => {
    const handle = createWorkerHandler(loadLibsodium);
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(new Uint8Array(32)), fc.constant(new Uint8Array(8)));
    const message = fc.oneof(
      fc.anything(),
      fc.record({
        id: fc.oneof(fc.integer({ min: -3, max: 1000 }), fc.double(), fc.string()),
        op: fc.constantFrom('init', 'batch', 'seal', 'x', undefined),
        engine: fc.constantFrom('noble', 'libsodium', 'wasm', undefined),
        n: fc.oneof(fc.integer({ min: -1, max: 4 }), fc.double(), fc.anything()),
        meta: fc.oneof(bytes, fc.uint8Array({ minLength: 32, maxLength: 90 }), fc.anything()),
        data: fc.oneof(bytes, fc.uint8Array({ maxLength: 200 }), fc.anything()),
      }, { requiredKeys: [] }),
    );
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        const { response } = await handle(m);
        expect(typeof response.id).toBe('number');
        const valid = typeof m === 'object' && m !== null && Number.isSafeInteger((m as { id?: unknown }).id);
        if (!valid) expect(response).toEqual({ id: -1, error: 'malformed request' });
      }),
      { numRuns: 300 },
    );
  });

  it('with libsodium: the raw heap path gives noble’s bytes, rejects a bad tag, and leaves neither the key nor plaintext in the WASM heap', async () => {
    const handle = createWorkerHandler(loadLibsodium);
    expect((await handle({ op: 'init', id: 1, engine: 'libsodium' })).response).toEqual({ id: 1, ok: true });
    const key = randomBytes(32);
    const aad = randomBytes(32);
    const pts = [randomBytes(70_000), randomBytes(5), randomBytes(0)];
    const tails = concatBytes(...pts.map((_, i) => chunkNonceTail(i, i === 2)));
    const sealedReply = await handle(batchRequest({
      id: 2, key, aad, ops: new Uint8Array(3), tails, lengths: pts.map((p) => p.length), data: sealSlots(pts),
    }));
    const sr = sealedReply.response as unknown as { ok: Uint8Array; data: Uint8Array };
    expect([...sr.ok]).toEqual([1, 1, 1]);
    const sealed = readSlots(sr.data, [0, 0, 0], pts.map((p) => p.length));
    pts.forEach((pt, i) => {
      const iv = new Uint8Array(12);
      iv.set(tails.subarray(8 * i, 8 * i + 8), 4);
      expect(equalBytes(sealed[i]!, chacha20poly1305(key, iv, aad).encrypt(pt))).toBe(true);
    });
    const bad = sealed[1]!.slice();
    bad[bad.length - 1]! ^= 1;
    const openLengths = [sealed[0]!.length, bad.length, sealed[2]!.length];
    const openedReply = await handle(batchRequest({
      id: 3, key, aad, ops: new Uint8Array([1, 1, 1]), tails, lengths: openLengths, data: concatBytes(sealed[0]!, bad, sealed[2]!),
    }));
    const o = openedReply.response as unknown as { ok: Uint8Array; data: Uint8Array };
    expect([...o.ok]).toEqual([1, 0, 1]);
    const plains = readSlots(o.data, [1, 1, 1], openLengths);
    expect(equalBytes(plains[0]!, pts[0]!)).toBe(true);
    expect(plains[2]!.length).toBe(0);
    const heap = Buffer.from(((await loadLibsodium()) as unknown as { libsodium: { HEAPU8: Uint8Array } }).libsodium.HEAPU8);
    expect(heap.indexOf(Buffer.from(key))).toBe(-1);
    expect(heap.indexOf(Buffer.from(pts[0]!.subarray(1000, 1064)))).toBe(-1);
  });

  it('seals and opens a batch like noble, in place in the buffer it hands back; wipes the key; a bad tag is ok 0 with nothing written', async () => {
    const handle = createWorkerHandler(() => Promise.reject(new Error('offline')));
    const key = randomBytes(32);
    const aad = new Uint8Array([1, 2]);
    const pts = [randomBytes(500), randomBytes(0), randomBytes(77)];
    const lengths = pts.map((p) => p.length);
    const tails = concatBytes(...pts.map((_, i) => chunkNonceTail(i, i === 2)));
    const data = sealSlots(pts, 1000); // the slots, spare room after them
    const request = batchRequest({ id: 7, key, aad, ops: new Uint8Array(3), tails, lengths, data });
    const sentMeta = request.meta as Uint8Array;
    const { response, transfer } = await handle(request);
    const r = response as { id: number; ok: Uint8Array; data: Uint8Array };
    expect(Object.keys(r).sort()).toEqual(['data', 'id', 'ok']);
    expect(r.id).toBe(7);
    expect([...r.ok]).toEqual([1, 1, 1]);
    expect(sentMeta.subarray(0, 32).every((b) => b === 0)).toBe(true); // the worker's copy of the subkey is wiped
    expect(r.data).toBe(data);
    expect(transfer).toEqual([data.buffer]); // one buffer back, none per chunk
    const sealed = readSlots(data, [0, 0, 0], lengths);
    pts.forEach((pt, i) => {
      // The worker gets the subkey itself: plain RFC 8439 with nonce 0x00000000 ‖ tail. The
      // ciphertext overwrote the plaintext in place: none of it is left in the buffer.
      const iv = new Uint8Array(12);
      iv.set(tails.subarray(8 * i, 8 * i + 8), 4);
      expect(equalBytes(sealed[i]!, chacha20poly1305(key, iv, aad).encrypt(pt))).toBe(true);
    });
    // Open the three, the middle one tampered: its slot keeps the ciphertext, no plaintext.
    const bad = sealed[1]!.slice();
    bad[0]! ^= 1;
    const openLengths = [sealed[0]!.length, bad.length, sealed[2]!.length];
    const openData = concatBytes(sealed[0]!, bad, sealed[2]!);
    const opened = await handle(batchRequest({ id: 8, key, aad, ops: new Uint8Array([1, 1, 1]), tails, lengths: openLengths, data: openData }));
    const o = opened.response as unknown as { ok: Uint8Array; data: Uint8Array };
    expect([...o.ok]).toEqual([1, 0, 1]);
    expect(opened.transfer).toEqual([openData.buffer]);
    const plains = readSlots(o.data, [1, 1, 1], openLengths);
    expect(equalBytes(plains[0]!, pts[0]!)).toBe(true);
    expect(equalBytes(plains[2]!, pts[2]!)).toBe(true);
    expect(equalBytes(o.data.subarray(sealed[0]!.length, sealed[0]!.length + bad.length), bad)).toBe(true);
    const batch = (extra: Partial<Parameters<typeof batchRequest>[0]>, raw: Record<string, unknown> = {}) => ({
      ...batchRequest({ id: 11, key, aad, ops: new Uint8Array([1]), tails: tails.slice(0, 8), lengths: [15], data: new Uint8Array(31), ...extra }),
      ...raw,
    });
    const malformed = { id: 11, error: 'malformed request' };
    // The well-formed baseline of the cases below: a seal of 15 bytes (a 31-byte slot).
    expect((await handle(batch({ ops: new Uint8Array(1) }))).response).toMatchObject({ id: 11, ok: new Uint8Array([1]) });
    // An open shorter than a tag, slots longer than the buffer, a view into a larger buffer, an unknown op.
    expect((await handle(batch({}))).response).toEqual(malformed);
    expect((await handle(batch({ ops: new Uint8Array(1), lengths: [16] }))).response).toEqual(malformed);
    expect((await handle(batch({ ops: new Uint8Array(1), lengths: [4], data: new Uint8Array(40).subarray(2, 30) }))).response).toEqual(malformed);
    expect((await handle(batch({ ops: new Uint8Array([2]) }))).response).toEqual(malformed);
    // `n` that does not fit `meta` (too large, zero, not an integer), `meta` too short, AAD over 64 KiB, no data.
    expect((await handle(batch({ ops: new Uint8Array(1) }, { n: 3 }))).response).toEqual(malformed);
    expect((await handle(batch({ ops: new Uint8Array(1) }, { n: 0 }))).response).toEqual(malformed);
    expect((await handle(batch({ ops: new Uint8Array(1) }, { n: 1.5 }))).response).toEqual(malformed);
    expect((await handle(batch({ ops: new Uint8Array(1) }, { meta: new Uint8Array(44) }))).response).toEqual(malformed);
    expect((await handle(batch({ ops: new Uint8Array(1), aad: new Uint8Array(64 * 1024 + 1) }))).response).toEqual(malformed);
    expect((await handle(batch({ ops: new Uint8Array(1) }, { data: undefined }))).response).toEqual(malformed);
    // A malformed request still wipes the subkey it carried.
    const carried = batch({ ops: new Uint8Array(1) }, { n: 3 });
    await handle(carried);
    expect((carried.meta as Uint8Array).subarray(0, 32).every((b) => b === 0)).toBe(true);
    // libsodium that cannot load is a worker failure, reported as such.
    expect((await handle({ op: 'init', id: 10, engine: 'libsodium' })).response).toEqual({ id: 10, error: 'libsodium failed to load' });
  });
});
