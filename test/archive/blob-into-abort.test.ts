// Review of dbb390d (a Blob source read with BYOB reads into the encrypt stream's pool): plaintext
// must be wiped when the stream fails, aborts or is cancelled too (docs/THREAT-MODEL.md §5: the SDK
// wipes its own Uint8Arrays when an operation ends, fails, aborts or is cancelled), including a
// buffer the source was reading into, or had read into and queued in the pipe, at that moment.
// Wired as the backup wires it: source -> a counting transform -> recycling encrypt stream.
import { describe, expect, it } from 'vitest';
import type { ChunkCipher, CipherEngine } from '../../lib/archive/engine.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { BufferPool, createRecyclingEncryptStream, readBlobInto } from '../../lib/archive/stream.js';
import { pseudoRandom } from './support.js';

const key = pseudoRandom(32, 51);
const keyId = pseudoRandom(16, 52);
const CHUNK = 4096;

class SeeingPool extends BufferPool {
  readonly seen = new Set<Uint8Array>();
  override take(): Uint8Array {
    const b = super.take();
    this.seen.add(b);
    return b;
  }
  override adopt(old: Uint8Array, now: Uint8Array): void {
    super.adopt(old, now);
    this.seen.add(now);
  }
}

/** Seals a few ms late, so the source and the pipe's queues run ahead of the encrypt stream. */
function slowEngine(): CipherEngine {
  const inner = nobleEngine();
  return {
    name: 'slow',
    parallelism: 4,
    create(k: Uint8Array, prefix: Uint8Array): ChunkCipher {
      const c = inner.create(k, prefix);
      let disposed = false;
      let queue: Promise<unknown> = Promise.resolve();
      return {
        seal: (tail, pt, aad) => {
          const t = tail.slice();
          const a = aad.slice();
          // After dispose (the stream stopped) a late seal answers bytes nobody reads.
          const late = () => (disposed ? new Uint8Array(pt.length + 16) : (c.seal(t, pt, a) as Uint8Array));
          const done = queue.then(() => new Promise<Uint8Array>((r) => setTimeout(() => r(late()), 2)));
          queue = done;
          return done;
        },
        open: (tail, sealed, aad) => c.open(tail, sealed, aad),
        dispose: () => {
          disposed = true;
          c.dispose();
        },
      };
    },
  };
}

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
};

function plaintextLeft(pool: SeeingPool): number {
  let n = 0;
  for (const b of pool.seen) if (b.buffer.byteLength > 0 && b.some((x) => x !== 0)) n++;
  return n;
}

function wire(pool: SeeingPool, signal?: AbortSignal) {
  // Every byte of the plaintext is non-zero, so any plaintext left shows.
  const plain = pseudoRandom(200 * CHUNK, 7).map((x) => x | 1);
  const source = readBlobInto(new Blob([plain]), pool)!;
  const counter = new TransformStream<Uint8Array, Uint8Array>({ transform: (c, ctl) => ctl.enqueue(c) });
  return source.pipeThrough(counter).pipeThrough(
    createRecyclingEncryptStream(key, keyId, { chunkSize: CHUNK, engine: slowEngine(), ...(signal === undefined ? {} : { signal }) }, undefined, pool),
  );
}

describe('readBlobInto: plaintext wiped when the stream stops early (dbb390d)', () => {
  it('aborted mid-way: no buffer the source read into keeps plaintext', async () => {
    const pool = new SeeingPool(CHUNK);
    const ac = new AbortController();
    const reader = wire(pool, ac.signal).getReader();
    for (let i = 0; i < 20; i++) await reader.read();
    ac.abort(new Error('user left'));
    await reader.read().catch(() => undefined);
    await turns(20);
    expect(plaintextLeft(pool)).toBe(0);
  });

  it('cancelled by its reader mid-way (the part cutter on an upload failure): no buffer keeps plaintext', async () => {
    const pool = new SeeingPool(CHUNK);
    const reader = wire(pool).getReader();
    for (let i = 0; i < 20; i++) await reader.read();
    await reader.cancel(new Error('upload failed'));
    await turns(20);
    expect(plaintextLeft(pool)).toBe(0);
  });
});
