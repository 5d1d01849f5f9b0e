// The upload pipeline on its own, over the memory blob store: bounded parts in flight, overlap of
// encryption and upload, backpressure on the source, and parts aligned to whole chunks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { afterAll } from 'vitest';
import { blobPartsFor, uploadParts, SourceChangedError, type PartPlan } from '../../lib/client/pipeline.js';
import { BLOB_PARTS, blobParts } from '../../lib/storage/blob/body.js';
import { createEncryptStream, createRecyclingEncryptStream } from '../../lib/archive/stream.js';
import type { CipherEngine } from '../../lib/archive/engine.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { createLibsodiumEngine } from '../../lib/archive/engines/libsodium.js';
import { createWorkerEngine } from '../../lib/archive/engines/workers.js';
import { nodeWorkerFactory } from '../archive/engines-support.js';
import { ciphertextSize, HEADER_OVERHEAD } from '../../lib/archive/format.js';
import { decryptArchive } from '../../lib/archive/archive.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore, UploadRef } from '../../lib/storage/blob/types.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { testBytes } from './harness.js';

const key = testBytes(32, 77);
const keyId = testBytes(16, 78);
const CHUNK = 256;
const STRIDE = CHUNK + 16;
const plan = (k: number) => ({ firstPartSize: HEADER_OVERHEAD + k * STRIDE, partSize: k * STRIDE, headerLength: HEADER_OVERHEAD, sealedChunkSize: STRIDE });
const fixedSalt = () => testBytes(32, 79);

function encrypted(data: Uint8Array, onPull?: (bytes: number) => void): ReadableStream<Uint8Array> {
  let off = 0;
  const src = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (off >= data.length) return c.close();
        const piece = data.slice(off, off + 100);
        off += piece.length;
        onPull?.(off);
        c.enqueue(piece);
      },
    },
    { highWaterMark: 0 },
  );
  return src.pipeThrough(createEncryptStream(key, keyId, { chunkSize: CHUNK, random: fixedSalt }));
}

/** The memory store with slow, counted part uploads (instrumentation around another module). */
function slowStore(delayMs: number) {
  const inner = createMemoryBlobStore({ limits: { minPartSize: 1 } });
  const stats = { inFlight: 0, maxInFlight: 0, pulledAtStart: [] as number[], pulled: 0, buffers: new Set<ArrayBufferLike>() };
  const store: BlobStore = {
    ...inner,
    limits: inner.limits,
    async putPart(up, n, bytes, o) {
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      stats.pulledAtStart.push(stats.pulled);
      stats.buffers.add(bytes.buffer);
      try {
        await new Promise((r) => setTimeout(r, delayMs));
        return await inner.putPart(up, n, bytes, o);
      } finally {
        stats.inFlight--;
      }
    },
  };
  return { store, stats, inner };
}

describe('uploadParts', () => {
  it('keeps at most `concurrency` parts uploading, overlaps them, and stops reading the source when full', async () => {
    const { store, stats } = slowStore(10);
    const data = testBytes(40 * CHUNK, 3);
    const up = await store.createUpload('a/x');
    const k = 2;
    const { parts, size } = await uploadParts({
      store,
      upload: up,
      ciphertext: encrypted(data, (n) => (stats.pulled = n)),
      plan: plan(k),
      confirmed: new Map(),
      started: {},
      onPartStart: async () => undefined,
      concurrency: 3,
      sleep: async () => undefined,
    });
    expect(stats.maxInFlight).toBe(3);
    expect(size).toBe(ciphertextSize(data.length, CHUNK));
    // Backpressure: when a part starts uploading, the source is never far ahead of it
    // (3 uploading + 1 waiting + 1 being cut + the streams' own small buffers).
    stats.pulledAtStart.forEach((pulled, i) => {
      expect(pulled).toBeLessThanOrEqual((i + 6) * k * CHUNK + 4 * CHUNK);
    });
    await store.completeUpload(up, parts);
    const archive = await store.get('a/x');
    // Part buffers are recycled (the store reads each part only after a delay, so a buffer reused
    // too early would corrupt the archive): 20 parts in at most 1 (part 1) + 5 (3 uploading,
    // 1 waiting, 1 being cut) + 1 (a short last part) buffers.
    expect(parts.length).toBe(20);
    expect(stats.buffers.size).toBeLessThanOrEqual(7);
    expect(equalBytes(await decryptArchive(key, archive), data)).toBe(true);
  });

  it('cuts parts at whole chunks for any size and part length (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 20 * CHUNK }), fc.integer({ min: 1, max: 5 }), async (n, k) => {
        const inner = createMemoryBlobStore({ limits: { minPartSize: 1 } });
        const up = await inner.createUpload('p/x');
        const sizes: number[] = [];
        const { parts } = await uploadParts({
          store: { ...inner, limits: inner.limits, putPart: (u, no, b, o) => (sizes[no - 1] = b.length, inner.putPart(u, no, b, o)) },
          upload: up,
          ciphertext: encrypted(testBytes(n, n + 1)),
          plan: plan(k),
          confirmed: new Map(),
          started: {},
          onPartStart: async () => undefined,
          sleep: async () => undefined,
        });
        expect(parts.map((p) => p.partNumber)).toEqual(sizes.map((_, i) => i + 1));
        sizes.slice(0, -1).forEach((s, i) => expect(s).toBe(i === 0 ? HEADER_OVERHEAD + k * STRIDE : k * STRIDE));
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(ciphertextSize(n, CHUNK));
      }),
      { numRuns: 25 },
    );
  });

  it('a started part that would now differ stops everything before a byte of it is sent', async () => {
    const inner = createMemoryBlobStore({ limits: { minPartSize: 1 } });
    const data = testBytes(10 * CHUNK, 5);
    const up = await inner.createUpload('c/x');
    const started: Record<string, string> = {};
    await uploadParts({
      store: inner,
      upload: up,
      ciphertext: encrypted(data),
      plan: plan(2),
      confirmed: new Map(),
      started: {},
      onPartStart: async (n, h) => void (started[String(n)] = h),
      sleep: async () => undefined,
    });
    // Same data: every digest matches, confirmed parts are skipped.
    const listed = await inner.listParts(up);
    let sent = 0;
    const counting: BlobStore = { ...inner, limits: inner.limits, putPart: (u, n, b, o) => (sent++, inner.putPart(u, n, b, o)) };
    await uploadParts({ store: counting, upload: up, ciphertext: encrypted(data), plan: plan(2), confirmed: new Map(listed.map((p) => [p.partNumber, p])), started, onPartStart: async () => undefined, sleep: async () => undefined });
    expect(sent).toBe(0);
    // One bit changed in chunk 5 (part 3): refused with nothing of part 3 sent.
    const changed = Uint8Array.from(data);
    changed[5 * CHUNK + 7]! ^= 0x10;
    const err = await uploadParts({ store: counting, upload: up, ciphertext: encrypted(changed), plan: plan(2), confirmed: new Map(), started, onPartStart: async () => undefined, sleep: async () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceChangedError);
    expect((err as SourceChangedError).partNumber).toBe(3);
    // Only parts 1 and 2 (unchanged, started but unconfirmed here) may have been re-sent.
    expect(sent).toBeLessThanOrEqual(2);
  });
});

describe('Blob parts (the presigned adapters in browsers) beside part buffers', () => {
  const cleanups: (() => void)[] = [];
  afterAll(() => cleanups.forEach((c) => c()));

  const engines: Record<string, () => Promise<CipherEngine>> = {
    noble: async () => nobleEngine(),
    libsodium: () => createLibsodiumEngine(),
    'workers (noble)': async () => {
      const f = await nodeWorkerFactory();
      const pool = createWorkerEngine({ createWorker: f.make, workers: 2 });
      cleanups.push(() => (pool.terminate(), f.cleanup()));
      return pool;
    },
    'workers (libsodium)': async () => {
      const f = await nodeWorkerFactory();
      const pool = createWorkerEngine({ createWorker: f.make, workers: 2, engine: 'libsodium' });
      cleanups.push(() => (pool.terminate(), f.cleanup()));
      return pool;
    },
  };

  /**
   * A backup's upload path (the recycling stream, lending where the engine lends), parts
   * recorded: with `blobs`, the store has Blob parts (the body of each part read back when sent);
   * without, parts are cut into part buffers. The part hashes the resume check records too.
   */
  async function upload(data: Uint8Array, p: PartPlan, engine: CipherEngine, blobs: boolean, concurrency = 2) {
    const inner = createMemoryBlobStore({ limits: { minPartSize: 1 } });
    const up = await inner.createUpload('d/x');
    let off = 0;
    const src = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (off >= data.length) return c.close();
          const piece = data.slice(off, off + 700);
          off += piece.length;
          c.enqueue(piece);
        },
      },
      { highWaterMark: 0 },
    );
    let released = 0;
    const pool = engine as unknown as { release?(c: Uint8Array): void };
    const counting = pool.release && { release: (c: Uint8Array) => (released++, pool.release!(c)) };
    const store = blobs
      ? {
          ...inner,
          [BLOB_PARTS]: { parts: blobParts, put: async (u: UploadRef, n: number, body: Blob) => inner.putPart(u, n, new Uint8Array(await body.arrayBuffer())) },
        }
      : inner;
    const blobParts_ = blobPartsFor(store, engine);
    const hashes: string[] = [];
    const { parts } = await uploadParts({
      store,
      upload: up,
      ciphertext: src.pipeThrough(createRecyclingEncryptStream(key, keyId, { chunkSize: CHUNK, random: fixedSalt, engine }, blobParts_?.lender !== undefined)),
      plan: p,
      confirmed: new Map(),
      started: {},
      onPartStart: async (n, h) => void (hashes[n - 1] = h),
      ...(blobParts_ && { blobParts: counting ? { ...blobParts_, lender: counting } : blobParts_ }),
      concurrency,
      sleep: async () => undefined,
    });
    await inner.completeUpload(up, parts);
    return { archive: await inner.get('d/x'), hashes, released };
  }

  async function expected(data: Uint8Array): Promise<Uint8Array> {
    const out: Uint8Array[] = [];
    const reader = encrypted(data).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value.slice());
    const all = new Uint8Array(out.reduce((a, b) => a + b.length, 0));
    let at = 0;
    for (const b of out) {
      all.set(b, at);
      at += b.length;
    }
    return all;
  }

  it.each(Object.keys(engines))('%s: Blob parts and part buffers give the same archive and the same part hashes; every chunk a pool lent is handed back once', async (name) => {
    const engine = await engines[name]!();
    const lends = name.startsWith('workers');
    for (const [n, k] of [[0, 1], [CHUNK - 1, 1], [7 * CHUNK, 2], [20 * CHUNK + 13, 3], [33 * CHUNK, 4], [5000 * CHUNK + 1, 4096]] as const) {
      const data = testBytes(n, n + 17);
      const want = await expected(data);
      const viaBlobs = await upload(data, plan(k), engine, true);
      const viaBuffers = await upload(data, plan(k), engine, false);
      expect(equalBytes(viaBlobs.archive, want)).toBe(true);
      expect(equalBytes(viaBuffers.archive, want)).toBe(true);
      expect(viaBlobs.hashes).toEqual(viaBuffers.hashes);
      expect(await decryptArchive(key, viaBlobs.archive)).toEqual(data);
      expect(viaBlobs.released).toBe(lends ? Math.max(1, Math.ceil(n / CHUNK)) : 0);
    }
  });

  it('the default engine of Node (ciphertext and tag apart) through Blob parts: the same archive and hashes', async () => {
    const { defaultEngine } = await import('../../lib/archive/engines/default.js');
    for (const n of [0, 5 * CHUNK, 9 * CHUNK + 7]) {
      const data = testBytes(n, n + 3);
      const a = await upload(data, plan(2), defaultEngine(), true);
      const b = await upload(data, plan(2), defaultEngine(), false);
      expect(equalBytes(a.archive, await expected(data))).toBe(true);
      expect(a.hashes).toEqual(b.hashes);
    }
  });

  it('part buffers: a plan whose parts are not whole chunks still gives the same bytes; Blob parts refuse it loudly', async () => {
    const engine = nobleEngine();
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 12 * CHUNK }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: STRIDE - 1 }), async (n, k, extra) => {
        const p: PartPlan = { firstPartSize: HEADER_OVERHEAD + k * STRIDE + extra, partSize: k * STRIDE + extra, headerLength: HEADER_OVERHEAD, sealedChunkSize: STRIDE };
        const data = testBytes(n, n + 5);
        const { archive } = await upload(data, p, engine, false);
        expect(equalBytes(archive, await expected(data))).toBe(true);
      }),
      { numRuns: 20 },
    );
    const p: PartPlan = { firstPartSize: HEADER_OVERHEAD + STRIDE + 5, partSize: STRIDE + 5, headerLength: HEADER_OVERHEAD, sealedChunkSize: STRIDE };
    const err = await upload(testBytes(4 * CHUNK, 1), p, engine, true).catch((e: unknown) => e);
    expect(String(err)).toMatch(/across two parts/);
  });
});
