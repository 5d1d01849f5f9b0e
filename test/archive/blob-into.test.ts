/**
 * A Blob source read straight into the encrypt stream's plaintext buffers (readBlobInto, issue 20):
 * BYOB reads into recycled chunk buffers instead of the platform's fresh 64 KiB chunks, whose first
 * touch cost Chromium most of what reading the source cost. The archive must be byte-identical,
 * buffers must be recycled (few allocated), a buffer must not be reused while an engine may still
 * read it (until its seal settled), and plaintext must be wiped when the stream ends.
 */
import { describe, expect, it } from 'vitest';
import { BufferPool, createEncryptStream, createRecyclingEncryptStream, readBlobInto } from '../../lib/archive/stream.js';
import type { ChunkCipher, CipherEngine } from '../../lib/archive/engine.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { createLibsodiumEngine } from '../../lib/archive/engines/libsodium.js';
import { drain, pseudoRandom } from './support.js';

const key = pseudoRandom(32, 41);
const keyId = pseudoRandom(16, 42);
const salt = pseudoRandom(32, 43);
const CHUNK = 4096;

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** A pool that counts the buffers it had to allocate and remembers every piece it handed out. */
class CountingPool extends BufferPool {
  allocated = 0;
  readonly seen = new Set<Uint8Array>();
  override take(): Uint8Array {
    const b = super.take();
    if (!this.seen.has(b)) this.allocated++;
    this.seen.add(b);
    return b;
  }
  override adopt(old: Uint8Array, now: Uint8Array): void {
    super.adopt(old, now);
    this.seen.add(now);
  }
}

/**
 * An engine that reads each plaintext only when its seal settles, a few ms later (the engine
 * contract allows reading inputs until then): a buffer handed back to the source too early
 * would be overwritten by the next read first, and the archive would differ.
 */
function lateReader(parallelism: number): CipherEngine {
  const inner = nobleEngine();
  return {
    name: 'late-reader',
    parallelism,
    create(k: Uint8Array, prefix: Uint8Array): ChunkCipher {
      const c = inner.create(k, prefix);
      const later = <T>(f: () => T, ms: number): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(f()), ms));
      let i = 0;
      let queue: Promise<unknown> = Promise.resolve();
      return {
        seal: (tail, pt, aad) => {
          const t = tail.slice();
          const a = aad.slice();
          // In call order (the nonce guard wants that), each a few ms after the one before.
          const done = queue.then(() => later(() => c.seal(t, pt, a) as Uint8Array, 1 + (i++ % 3)));
          queue = done;
          return done;
        },
        open: (tail, sealed, aad) => c.open(tail, sealed, aad),
        dispose: () => c.dispose(),
      };
    },
  };
}

async function expected(plain: Uint8Array): Promise<Uint8Array> {
  return (await drain(new Blob([plain as Uint8Array<ArrayBuffer>]).stream().pipeThrough(createEncryptStream(key, keyId, { chunkSize: CHUNK, random: () => salt.slice() })))).bytes;
}

async function viaPool(plain: Uint8Array, engine: CipherEngine, pool = new CountingPool(CHUNK)) {
  const source = readBlobInto(new Blob([plain as Uint8Array<ArrayBuffer>]), pool);
  expect(source).toBeDefined();
  // A recycling stream's reader is done with each chunk when it asks for the next: copy as we go.
  const reader = source!.pipeThrough(createRecyclingEncryptStream(key, keyId, { chunkSize: CHUNK, random: () => salt.slice(), engine }, undefined, pool)).getReader();
  const parts: Uint8Array[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value.slice());
  return { bytes: Buffer.concat(parts), pool };
}

describe('readBlobInto: a Blob read into the encrypt stream’s own buffers', () => {
  const sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK, 50 * CHUNK + 123];

  it.each([
    ['noble', async () => nobleEngine()],
    ['libsodium', () => createLibsodiumEngine()],
    ['an engine that reads its input late', async () => lateReader(16)],
  ] as const)('%s: byte-identical archives for every size', async (_, make) => {
    const engine = await make();
    for (const n of sizes) {
      const plain = pseudoRandom(n, n + 3);
      const { bytes } = await viaPool(plain, engine);
      expect(same(bytes, await expected(plain))).toBe(true);
    }
  });

  it('recycles its buffers: a 200-chunk Blob allocates a few, not one per chunk', async () => {
    const { pool } = await viaPool(pseudoRandom(200 * CHUNK, 9), lateReader(8));
    expect(pool.allocated).toBeLessThanOrEqual(8 + 6);
  });

  it('wipes the plaintext in every buffer when the stream ends', async () => {
    const { pool } = await viaPool(pseudoRandom(30 * CHUNK + 5, 10), nobleEngine());
    const live = [...pool.seen].filter((b) => b.buffer.byteLength > 0); // detached ones are empty
    expect(live.length).toBeGreaterThan(0);
    for (const b of live) expect(b.every((x) => x === 0)).toBe(true);
  });

  it('refuses a pool whose buffers are not one chunk', () => {
    expect(() => createRecyclingEncryptStream(key, keyId, { chunkSize: CHUNK }, undefined, new BufferPool(CHUNK * 2))).toThrow(RangeError);
  });
});
