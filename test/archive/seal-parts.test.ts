import * as nodeCrypto from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkNonceTail, type SealedParts } from '../../lib/archive/engine.js';
import { createNodeEngine } from '../../lib/archive/engines/node.js';
import { InOrderPipeline, checkSealed } from '../../lib/archive/options.js';
import { concatBytes, equalBytes } from '../../lib/util/bytes.js';

describe('node engine: sealParts (the copy-free path the archive layer uses)', () => {
  it('gives ciphertext and tag whose concatenation is what seal returns, as plain arrays owning their buffers', () => {
    const engine = createNodeEngine(nodeCrypto);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 6 }),
        fc.uint8Array({ maxLength: 64 }),
        (key, prefix, chunks, aad) => {
          const a = engine.create(key, prefix);
          const b = engine.create(key, prefix);
          chunks.forEach((chunk, i) => {
            const tail = chunkNonceTail(i, i === chunks.length - 1);
            const parts = a.sealParts!(tail, chunk, aad) as SealedParts;
            const whole = b.seal(tail, chunk, aad) as Uint8Array;
            expect(parts.ciphertext.length).toBe(chunk.length);
            expect(parts.tag.length).toBe(16);
            expect(equalBytes(concatBytes(parts.ciphertext, parts.tag), whole)).toBe(true);
            for (const part of [parts.ciphertext, parts.tag]) {
              // Never a Buffer, never a slice of Node's shared pool.
              expect(Object.getPrototypeOf(part)).toBe(Uint8Array.prototype);
              expect(part.byteOffset).toBe(0);
              expect(part.buffer.byteLength).toBe(part.length);
            }
          });
          a.dispose();
          b.dispose();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('shares the single-use nonce guard with seal, and refuses use after dispose', () => {
    const c = createNodeEngine(nodeCrypto).create(new Uint8Array(32), new Uint8Array(16));
    c.seal(chunkNonceTail(0, false), new Uint8Array(5), new Uint8Array(0));
    expect(() => c.sealParts!(chunkNonceTail(0, false), new Uint8Array(5), new Uint8Array(0))).toThrow();
    c.sealParts!(chunkNonceTail(1, false), new Uint8Array(5), new Uint8Array(0));
    expect(() => c.seal(chunkNonceTail(1, false), new Uint8Array(5), new Uint8Array(0))).toThrow();
    expect(() => c.sealParts!(chunkNonceTail(0, true), new Uint8Array(5), new Uint8Array(0))).toThrow();
    c.dispose();
    expect(() => c.sealParts!(chunkNonceTail(2, false), new Uint8Array(5), new Uint8Array(0))).toThrow(TypeError);
  });

  it('the archive layer refuses parts of the wrong length', () => {
    expect(() => checkSealed({ ciphertext: new Uint8Array(10), tag: new Uint8Array(16) }, 10)).not.toThrow();
    expect(() => checkSealed({ ciphertext: new Uint8Array(9), tag: new Uint8Array(16) }, 10)).toThrow();
    expect(() => checkSealed({ ciphertext: new Uint8Array(10), tag: new Uint8Array(15) }, 10)).toThrow();
    expect(() => checkSealed(new Uint8Array(26), 10)).not.toThrow();
    expect(() => checkSealed(new Uint8Array(25), 10)).toThrow();
  });
});

describe('InOrderPipeline', () => {
  it('emits a ready result at once only when nothing is queued before it, and keeps submission order', async () => {
    const out: number[] = [];
    const p = new InOrderPipeline<number, number>(4, (r, m) => out.push(r * 100 + m));
    expect(p.push(1, 1)).toBeUndefined(); // ready, nothing queued: emitted synchronously
    expect(out).toEqual([101]);
    let release!: (v: number) => void;
    const slow = new Promise<number>((r) => (release = r));
    expect(p.push(slow, 2)).toBeUndefined(); // queued, 1 of 4 in flight: push on at once
    expect(p.push(3, 3)).toBeUndefined(); // ready, but behind the slow one: queued, not emitted ahead of it
    expect(p.push(4, 4)).toBeUndefined();
    expect(out).toEqual([101]);
    // The fourth in flight reaches the limit: the caller must wait, until the slow one is out.
    let waited = false;
    const w = p.push(5, 5)!;
    expect(w).toBeInstanceOf(Promise);
    void w.then(() => (waited = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(waited).toBe(false);
    expect(out).toEqual([101]);
    release(2);
    await w;
    expect(out).toEqual([101, 202]);
    expect(p.size).toBe(3);
    await p.drain();
    expect(out).toEqual([101, 202, 303, 404, 505]);
  });
});
