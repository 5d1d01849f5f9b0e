// The upload pipeline on its own, over the memory blob store: bounded parts in flight, overlap of
// encryption and upload, backpressure on the source, and parts aligned to whole chunks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { afterAll } from 'vitest';
import { PartBuffers, uploadParts, SourceChangedError, type PartPlan } from '../../lib/client/pipeline.js';
import { createEncryptStream, createRecyclingEncryptStream } from '../../lib/archive/stream.js';
import type { CipherEngine } from '../../lib/archive/engine.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { createLibsodiumEngine } from '../../lib/archive/engines/libsodium.js';
import { createWorkerEngine } from '../../lib/archive/engines/workers.js';
import { nodeWorkerFactory } from '../archive/engines-support.js';
import { ciphertextSize, HEADER_OVERHEAD } from '../../lib/archive/format.js';
import { decryptArchive } from '../../lib/archive/archive.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
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

describe('sealing straight into the part buffers (PartBuffers)', () => {
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

  /** A backup's upload path (recycling stream writing into the shared buffers), parts recorded. */
  async function upload(data: Uint8Array, p: PartPlan, engine: CipherEngine, concurrency = 2) {
    const inner = createMemoryBlobStore({ limits: { minPartSize: 1 } });
    const up = await inner.createUpload('d/x');
    const buffers = new PartBuffers(p, concurrency);
    const handedOut: Uint8Array[] = [];
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
    const output = (n: number): Uint8Array => {
      const b = buffers.output(n);
      handedOut.push(b);
      return b;
    };
    const uploaded: { buffer: ArrayBufferLike; length: number }[] = [];
    const store: BlobStore = { ...inner, limits: inner.limits, putPart: (u, no, b, o) => ((uploaded[no - 1] = { buffer: b.buffer, length: b.length }), inner.putPart(u, no, b, o)) };
    const { parts } = await uploadParts({
      store,
      upload: up,
      ciphertext: src.pipeThrough(createRecyclingEncryptStream(key, keyId, { chunkSize: CHUNK, random: fixedSalt, engine }, output)),
      plan: p,
      confirmed: new Map(),
      started: {},
      onPartStart: async () => undefined,
      buffers,
      concurrency,
      sleep: async () => undefined,
    });
    await inner.completeUpload(up, parts);
    return { archive: await inner.get('d/x'), handedOut, uploaded };
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

  it.each(Object.keys(engines))('%s: the archive is byte-identical, and every full part is uploaded from the buffer its chunks were sealed into (no copy)', async (name) => {
    const engine = await engines[name]!();
    for (const [n, k] of [[0, 1], [CHUNK - 1, 1], [7 * CHUNK, 2], [20 * CHUNK + 13, 3], [33 * CHUNK, 4]] as const) {
      const data = testBytes(n, n + 17);
      const { archive, handedOut, uploaded } = await upload(data, plan(k), engine);
      expect(equalBytes(archive, await expected(data))).toBe(true);
      expect(await decryptArchive(key, archive)).toEqual(data);
      // Aligned plan: every sealed chunk had its place in a part; every full part went up as it
      // was (the last, shorter one is cut to length with a copy).
      expect(handedOut.length).toBe(Math.max(1, Math.ceil(n / CHUNK)));
      const full = uploaded.slice(0, -1);
      for (const part of full) expect(handedOut.some((h) => h.buffer === part.buffer)).toBe(true);
    }
  });

  it('a plan whose parts are not whole chunks still gives the same bytes (straddling chunks get buffers of their own, the cutter copies them)', async () => {
    const engine = nobleEngine();
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 12 * CHUNK }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: STRIDE - 1 }), async (n, k, extra) => {
        const p: PartPlan = { firstPartSize: HEADER_OVERHEAD + k * STRIDE + extra, partSize: k * STRIDE + extra, headerLength: HEADER_OVERHEAD, sealedChunkSize: STRIDE };
        const data = testBytes(n, n + 5);
        const { archive } = await upload(data, p, engine);
        expect(equalBytes(archive, await expected(data))).toBe(true);
      }),
      { numRuns: 20 },
    );
  });

  it('a sealed chunk that is not at its place in its part fails the upload (never a silent copy over another chunk)', async () => {
    const inner = createMemoryBlobStore({ limits: { minPartSize: 1 } });
    const up = await inner.createUpload('e/x');
    const p = plan(4);
    const buffers = new PartBuffers(p, 2);
    const header = new Uint8Array(HEADER_OVERHEAD);
    const first = buffers.output(STRIDE);
    const second = buffers.output(STRIDE);
    const swapped = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(header);
        c.enqueue(second); // out of order
        c.enqueue(first);
        c.close();
      },
    });
    const err = await uploadParts({
      store: inner,
      upload: up,
      ciphertext: swapped,
      plan: p,
      confirmed: new Map(),
      started: {},
      onPartStart: async () => undefined,
      buffers,
      sleep: async () => undefined,
    }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/not at its place/);
  });
});
