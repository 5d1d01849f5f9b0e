/** Helpers for the archive tests (no mocks of lib/ code: real engines, real streams). */
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import type { ChunkCipher, CipherEngine } from '../../lib/archive/engine.js';
import { concatBytes } from '../../lib/util/bytes.js';

/** A view with a non-zero byteOffset into a larger buffer, with the same contents. */
export function offsetView(b: Uint8Array, offset = 5): Uint8Array {
  const big = new Uint8Array(b.length + offset + 3).fill(0xa5);
  big.set(b, offset);
  return big.subarray(offset, offset + b.length);
}

/** A readable stream that yields `data` in pieces of the given sizes (cycled), 1 byte by default. */
export function piecewise(data: Uint8Array, sizes: readonly number[] = [1]): ReadableStream<Uint8Array> {
  let off = 0;
  let k = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (off >= data.length) {
        c.close();
        return;
      }
      const n = Math.max(1, sizes[k++ % sizes.length]!);
      // A fresh copy per piece, as a network or file source would hand out.
      c.enqueue(data.slice(off, off + n));
      off += n;
    },
  });
}

/** Read a stream to the end; on error, return what was read before it together with the error. */
export async function drain(readable: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; pieces: number; error?: unknown }> {
  const parts: Uint8Array[] = [];
  const reader = readable.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes: concatBytes(...parts), pieces: parts.length };
      parts.push(value);
    }
  } catch (error) {
    return { bytes: concatBytes(...parts), pieces: parts.length, error };
  }
}

/** Pipe `data` (fed in `sizes` pieces) through `ts` and collect the output. */
export function through(data: Uint8Array, ts: TransformStream<Uint8Array, Uint8Array>, sizes?: readonly number[]) {
  return drain(piecewise(data, sizes).pipeThrough(ts));
}

/** Real noble crypto behind an asynchronous seam with jittered completion, to exercise parallelism and ordering. */
export function asyncEngine(parallelism: number, seed = 1): CipherEngine & { maxInFlight: number; inFlight: number } {
  const inner = nobleEngine();
  let s = seed;
  const jitter = (): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % 3;
  };
  const state = {
    name: 'async-test',
    parallelism,
    maxInFlight: 0,
    inFlight: 0,
    create(key: Uint8Array, prefix: Uint8Array): ChunkCipher {
      const c = inner.create(key, prefix);
      const later = <T>(f: () => T): Promise<T> => {
        state.inFlight++;
        state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
        // Copy inputs now (as a worker engine transfers copies), finish after a jittered delay.
        return new Promise<T>((resolve, reject) =>
          setTimeout(() => {
            state.inFlight--;
            try {
              resolve(f());
            } catch (e) {
              reject(e);
            }
          }, jitter()),
        );
      };
      return {
        seal(tail, pt, aad) {
          const sealed = c.seal(tail, pt, aad);
          return later(() => sealed as Uint8Array);
        },
        open(tail, sealed, aad) {
          const t = tail.slice(), s2 = sealed.slice(), a = aad.slice();
          return later(() => c.open(t, s2, a) as Uint8Array | undefined);
        },
        dispose: () => c.dispose(),
      };
    },
  };
  return state;
}

/** Deterministic pseudo-random bytes (xorshift), fast enough for MBs. */
export function pseudoRandom(n: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
