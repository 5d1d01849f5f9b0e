/**
 * The archive streams give the event loop a turn during long in-thread work (issue 20): with an
 * engine that seals in the calling thread, a stream fed from memory runs as one chain of
 * microtasks, and a timer (or a page's paint and input) waits for all of it unless the stream
 * yields. Each test feeds input only until a timer scheduled at the start has run: without a
 * yield the timer cannot run while the stream works, and the source runs to its cap.
 */
import { describe, expect, it } from 'vitest';
import { openArchive } from '../../lib/archive/random-access.js';
import { createDecryptStream, createEncryptStream } from '../../lib/archive/stream.js';
import { drain, pseudoRandom } from './support.js';

const key = pseudoRandom(32, 31);
const keyId = pseudoRandom(16, 32);
const MIB = 2 ** 20;

/** Pieces `next(i)` until `stop()` or `cap` pieces; counts them. */
function source(next: (i: number) => Uint8Array, cap: number, stop: () => boolean) {
  const s = { pulled: 0 };
  const readable = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (s.pulled >= cap || stop()) return c.close();
        c.enqueue(next(s.pulled++));
      },
    },
    { highWaterMark: 0 },
  );
  return { readable, s };
}

describe('archive streams yield to the event loop', () => {
  it('encrypt: a timer scheduled before a large encrypt runs before the encrypt finishes', async () => {
    let fired = false;
    setTimeout(() => (fired = true), 0);
    const piece = pseudoRandom(MIB, 33);
    const cap = 512; // 512 MiB: far more than ~10 ms of sealing on any machine
    const { readable, s } = source(() => piece, cap, () => fired);
    const reader = readable.pipeThrough(createEncryptStream(key, keyId)).getReader();
    while (!(await reader.read()).done); // output discarded

    expect(fired).toBe(true);
    expect(s.pulled).toBeLessThan(cap);
  });

  let archive: Uint8Array | undefined;
  const archive64 = async (): Promise<Uint8Array> => {
    const plain = pseudoRandom(64 * MIB, 34);
    archive ??= (await drain(new Blob([plain as Uint8Array<ArrayBuffer>]).stream().pipeThrough(createEncryptStream(key, keyId)))).bytes;
    return archive;
  };

  it('decrypt: a timer scheduled before a large decrypt runs before the decrypt finishes', async () => {
    const archive = await archive64();
    let fired = false;
    setTimeout(() => (fired = true), 0);
    const pieces = Math.ceil(archive.length / MIB);
    const { readable, s } = source((i) => archive.subarray(i * MIB, (i + 1) * MIB), pieces, () => fired);
    const r = await drain(readable.pipeThrough(createDecryptStream(key)));
    expect(fired).toBe(true);
    // Stopped early: the archive is truncated, which the stream reports.
    expect(s.pulled).toBeLessThan(pieces);
    expect(r.error).toBeDefined();
  });

  it('random access: a timer scheduled before a large read runs before the read returns', async () => {
    const archive = await archive64();
    const reader = await openArchive({ size: archive.length, readAt: (o, n) => Promise.resolve(archive.subarray(o, o + n)), key });
    try {
      let fired = false;
      setTimeout(() => (fired = true), 0);
      const out = await reader.read(0, reader.plaintextSize);
      expect(fired).toBe(true);
      expect(out.length).toBe(64 * MIB);
    } finally {
      reader.close();
    }
  });
});
