// The upload pipeline on its own, over the memory blob store: bounded parts in flight, overlap of
// encryption and upload, backpressure on the source, and parts aligned to whole chunks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { uploadParts, SourceChangedError } from '../../lib/client/pipeline.js';
import { createEncryptStream } from '../../lib/archive/stream.js';
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
