// The engines' write-in-place paths (sealInto / openInto) and the archive code that uses them: the
// same bytes as seal / open, nothing written for a bad tag, the recycling encrypt stream's output
// identical to the ordinary stream's while it reuses its buffers, and random access opening chunks
// in place.
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkCipher, CipherEngine } from '../../lib/archive/engine.js';
import { chunkNonceTail } from '../../lib/archive/engine.js';
import { createLibsodiumEngine } from '../../lib/archive/engines/libsodium.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { createWorkerEngine, type WorkerEngine } from '../../lib/archive/engines/workers.js';
import { nodeWorkerFactory } from './engines-support.js';
import { encryptArchive } from '../../lib/archive/archive.js';
import { openArchive } from '../../lib/archive/random-access.js';
import { createEncryptStream, createRecyclingEncryptStream } from '../../lib/archive/stream.js';
import { isBackupError } from '../../lib/errors.js';
import { equalBytes } from '../../lib/util/bytes.js';

let engines: CipherEngine[];
let pool: WorkerEngine;
let factory: Awaited<ReturnType<typeof nodeWorkerFactory>>;

beforeAll(async () => {
  await sodium.ready;
  factory = await nodeWorkerFactory();
  // The worker pool too (worker_threads running the browser worker's handler): its workers seal
  // and open in place in the batch buffer, and the pool copies each result where it is wanted.
  pool = createWorkerEngine({ workers: 2, createWorker: factory.make });
  engines = [nobleEngine(), await createLibsodiumEngine(), pool];
});

afterAll(() => {
  pool?.terminate();
  factory?.cleanup();
});

type IntoCipher = ChunkCipher & Required<Pick<ChunkCipher, 'sealInto' | 'openInto'>>;

function intoCipher(engine: CipherEngine, key: Uint8Array, prefix: Uint8Array): IntoCipher {
  const c = engine.create(key, prefix);
  expect(typeof c.sealInto, engine.name).toBe('function');
  expect(typeof c.openInto, engine.name).toBe('function');
  return c as IntoCipher;
}

/** A view with a non-zero byteOffset into a larger buffer. */
function offsetView(n: number, offset: number): Uint8Array {
  return new Uint8Array(n + offset + 5).fill(0xa5).subarray(offset, offset + n);
}

describe('sealInto / openInto', () => {
  it('give the bytes of seal / open, into views with non-zero offsets (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 3000 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.integer({ min: 0, max: 9 }),
        async (key, prefix, pt, aad, offset) => {
          for (const engine of engines) {
            const tail = chunkNonceTail(3, false);
            const expected = await engine.create(key, prefix).seal(tail, pt, aad);
            const c = intoCipher(engine, key, prefix);
            const out = offsetView(pt.length + 16, offset);
            await c.sealInto(tail, pt, aad, out);
            expect(equalBytes(out, expected), engine.name).toBe(true);
            const back = offsetView(pt.length, offset);
            expect(await c.openInto(tail, out, aad, back), engine.name).toBe(true);
            expect(equalBytes(back, pt), engine.name).toBe(true);
            c.dispose();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('openInto returns false for a bad tag and writes nothing; sealInto keeps the nonce rule; lengths are checked', async () => {
    const key = new Uint8Array(32).fill(1);
    const prefix = new Uint8Array(16).fill(2);
    const pt = new Uint8Array(1000).fill(3);
    for (const engine of engines) {
      const c = intoCipher(engine, key, prefix);
      const sealed = new Uint8Array(pt.length + 16);
      await c.sealInto(chunkNonceTail(0, false), pt, new Uint8Array(0), sealed);
      sealed[500]! ^= 1;
      const out = new Uint8Array(pt.length).fill(0x77);
      expect(await c.openInto(chunkNonceTail(0, false), sealed, new Uint8Array(0), out)).toBe(false);
      expect(out.every((b) => b === 0x77), engine.name).toBe(true);
      expect(await c.openInto(chunkNonceTail(0, false), new Uint8Array(15), new Uint8Array(0), new Uint8Array(0))).toBe(false);
      expect(() => c.sealInto(chunkNonceTail(0, false), pt, new Uint8Array(0), new Uint8Array(pt.length + 16))).toThrow(/nonce/);
      expect(() => c.sealInto(chunkNonceTail(1, false), pt, new Uint8Array(0), new Uint8Array(pt.length))).toThrow(RangeError);
      c.dispose();
    }
  });
});

/** Read a stream chunk by chunk, copying each before the next read (the recycling contract). */
async function readCopying(stream: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; buffers: number; chunks: number }> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    buffers.add(r.value.buffer);
    parts.push(r.value.slice());
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, buffers: buffers.size, chunks: parts.length };
}

function source(plain: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (off >= plain.length) return c.close();
      c.enqueue(plain.subarray(off, off + piece));
      off += piece;
    },
  });
}

describe('the recycling encrypt stream', () => {
  it('emits the ordinary stream’s bytes while reusing a handful of buffers', async () => {
    const plain = new Uint8Array(300 * 1024 + 17).map((_, i) => i * 31);
    const key = new Uint8Array(32).fill(9);
    const salt = (n: number): Uint8Array => new Uint8Array(n).fill(4);
    for (const engine of engines) {
      for (const piece of [1000, 4096, 100_000]) {
        const opts = { engine, chunkSize: 4096, random: salt };
        const plainRun = await readCopying(source(plain, piece).pipeThrough(createEncryptStream(key, new Uint8Array(16), opts)));
        const recycled = await readCopying(source(plain, piece).pipeThrough(createRecyclingEncryptStream(key, new Uint8Array(16), opts)));
        expect(equalBytes(recycled.bytes, plainRun.bytes), `${engine.name} piece ${piece}`).toBe(true);
        const reference = await encryptArchive(key, new Uint8Array(16), plain, opts);
        expect(equalBytes(recycled.bytes, reference), `${engine.name} piece ${piece}`).toBe(true);
        // 76 chunks and a header; a chunk's buffer comes back once the next chunk is read.
        expect(recycled.chunks).toBe(77);
        expect(recycled.buffers, `${engine.name} piece ${piece}`).toBeLessThan(engine.name === 'workers' ? 75 : 40);
        expect(plainRun.buffers).toBeGreaterThan(70);
      }
    }
  });
});

describe('random access opens whole chunks in place', () => {
  it('reads every range right and refuses a flipped byte, with each engine', async () => {
    const plain = new Uint8Array(50_000).map((_, i) => i * 7);
    const key = new Uint8Array(32).fill(5);
    for (const engine of engines) {
      const archive = await encryptArchive(key, new Uint8Array(16), plain, { engine, chunkSize: 1024 });
      const reader = await openArchive({ size: archive.length, readAt: async (o, n) => archive.slice(o, o + n), key, engine });
      for (const [o, n] of [[0, 50_000], [1024, 4096], [1000, 3000], [49_000, 1000], [0, 1]] as const) {
        expect(equalBytes(await reader.read(o, n), plain.subarray(o, o + n)), `${engine.name} ${o}+${n}`).toBe(true);
      }
      reader.close();
      const bad = archive.slice();
      bad[bad.length - 5000]! ^= 1;
      const r2 = await openArchive({ size: bad.length, readAt: async (o, n) => bad.slice(o, o + n), key, engine });
      let err: unknown;
      await r2.read(0, 50_000).catch((e: unknown) => (err = e));
      expect(isBackupError(err, 'ARCHIVE_AUTH_FAILED'), engine.name).toBe(true);
      r2.close();
    }
  });
});

describe('a backup through the recycling stream (uploadParts is its reader)', () => {
  it('backs up and restores byte for byte with each write-in-place engine', async () => {
    const { runBackup } = await import('../../lib/client/backup.js');
    const { openBackup } = await import('../../lib/client/restore.js');
    const { createMemoryBlobStore } = await import('../../lib/storage/blob/memory.js');
    const { createMemoryStore } = await import('../../lib/storage/kv.js');
    const { createKeyring, keyForId } = await import('../../lib/recovery/keyring.js');
    const { secureRandom } = await import('../../lib/util/bytes.js');
    const plain = new Uint8Array(700_000 + 123).map((_, i) => (i * 13) ^ (i >> 8));
    for (const engine of engines) {
      const blobs = createMemoryBlobStore({ limits: { minPartSize: 1 } });
      const keyring = createKeyring();
      const { manifest } = await runBackup({
        accountId: 'a',
        blobs,
        kv: createMemoryStore(),
        keyPrefix: 'a/',
        key: keyring.current,
        keyLookup: (id) => keyForId(keyring, id),
        source: plain,
        chunkSize: 4096,
        partSize: 64 * 1024,
        concurrency: 2,
        engine,
        now: Date.now,
        random: secureRandom,
        sleep: async () => undefined,
      });
      const opened = await openBackup({ accountId: 'a', blobs, keyPrefix: 'a/', keyLookup: (id) => keyForId(keyring, id), engine }, manifest.backupId);
      const back = new Uint8Array(await new Response(opened.stream({ windowSize: 50_000 })).arrayBuffer());
      opened.close();
      expect(equalBytes(back, plain), engine.name).toBe(true);
    }
  });
});
