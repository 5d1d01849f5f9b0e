import * as nodeCrypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { chunkNonceTail, type CipherEngine } from '../../lib/archive/engine.js';
import { defaultEngine } from '../../lib/archive/engines/default.js';
import { createLibsodiumEngine } from '../../lib/archive/engines/libsodium.js';
import { createNodeEngine, nodeCryptoFromRuntime } from '../../lib/archive/engines/node.js';
import { hchacha20, nobleEngine } from '../../lib/archive/engines/noble.js';
import { decryptArchive, encryptArchive } from '../../lib/archive/archive.js';
import { createDecryptStream, createEncryptStream } from '../../lib/archive/stream.js';
import { isBackupError } from '../../lib/errors.js';
import { concatBytes, equalBytes, fromHex } from '../../lib/util/bytes.js';
import archiveVectors from '../vectors/archive-v1.json' with { type: 'json' };
import { wycheproofAead } from './engines-support.js';

let engines: CipherEngine[];

beforeAll(async () => {
  await sodium.ready;
  engines = [nobleEngine(), createNodeEngine(nodeCrypto), await createLibsodiumEngine()];
});

/** A view with a non-zero byteOffset into a larger buffer, with the same contents. */
function offsetView(b: Uint8Array, offset: number): Uint8Array {
  const big = new Uint8Array(b.length + offset + 3).fill(0xa5);
  big.set(b, offset);
  return big.subarray(offset, offset + b.length);
}

describe('engines: the per-archive subkey', () => {
  it('HChaCha20 matches draft-irtf-cfrg-xchacha-03 §2.2.1', () => {
    const key = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    const input = fromHex('000000090000004a0000000031415927');
    const expected = fromHex('82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
    expect(equalBytes(hchacha20(key, input), expected)).toBe(true);
    expect(equalBytes(hchacha20(offsetView(key, 3), offsetView(input, 5)), expected)).toBe(true);
  });
});

describe('engines: Wycheproof XChaCha20-Poly1305', () => {
  const vectors = wycheproofAead('xchacha20_poly1305_test.json');

  it('uses the whole file (315 cases)', () => {
    expect(vectors.length).toBe(315);
  });

  it.each(['noble', 'node', 'libsodium'])('%s accepts every valid case and rejects every invalid one', async (name) => {
    const engine = engines.find((e) => e.name === name)!;
    let valid = 0;
    let invalid = 0;
    for (const v of vectors) {
      const sealed = concatBytes(v.ct, v.tag);
      if (v.iv.length !== 24) {
        // Only 24-byte nonces exist in this format: any other length is refused as misuse.
        expect(v.result).toBe('invalid');
        expect(() => engine.create(v.key, v.iv.subarray(0, 16)).open(v.iv.subarray(16), sealed, v.aad)).toThrow(RangeError);
        invalid++;
        continue;
      }
      const prefix = v.iv.subarray(0, 16);
      const tail = v.iv.subarray(16);
      const cipher = engine.create(v.key, prefix);
      const opened = await cipher.open(tail, sealed, v.aad);
      if (v.result === 'valid') {
        expect(opened && equalBytes(opened, v.msg), `tcId ${v.tcId}`).toBe(true);
        const again = await engine.create(v.key, prefix).seal(tail, v.msg, v.aad);
        expect(equalBytes(again, sealed), `tcId ${v.tcId}`).toBe(true);
        valid++;
      } else {
        expect(opened, `tcId ${v.tcId}`).toBeUndefined();
        invalid++;
      }
      cipher.dispose();
    }
    expect(valid).toBe(246);
    expect(invalid).toBe(69);
  });
});

describe('engines: equivalence', () => {
  it('every engine seals to the bytes of libsodium crypto_aead_xchacha20poly1305_ietf_encrypt, and opens them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 24, maxLength: 24 }),
        fc.uint8Array({ maxLength: 3000 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.integer({ min: 0, max: 9 }),
        async (key, nonce, pt, aad, offset) => {
          // libsodium-wrappers' XChaCha20-Poly1305: an independent implementation that does
          // HChaCha20 itself on every call.
          const expected = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, aad, null, nonce, key);
          for (const engine of engines) {
            const cipher = engine.create(offsetView(key, offset), offsetView(nonce.subarray(0, 16), offset));
            const sealed = await cipher.seal(offsetView(nonce.subarray(16), offset), offsetView(pt, offset), offsetView(aad, offset));
            expect(equalBytes(sealed, expected), engine.name).toBe(true);
            const opened = await cipher.open(offsetView(nonce.subarray(16), offset), offsetView(sealed, offset), offsetView(aad, offset));
            expect(opened && equalBytes(opened, pt), engine.name).toBe(true);
            cipher.dispose();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a sequence of chunks (counter ‖ final flag) gives the same bytes on every engine', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.array(fc.uint8Array({ maxLength: 700 }), { minLength: 1, maxLength: 8 }),
        async (key, prefix, chunks) => {
          const outs: Uint8Array[][] = [];
          for (const engine of engines) {
            const cipher = engine.create(key, prefix);
            const sealed: Uint8Array[] = [];
            for (let i = 0; i < chunks.length; i++) sealed.push(await cipher.seal(chunkNonceTail(i, i === chunks.length - 1), chunks[i]!, new Uint8Array([i])));
            outs.push(sealed);
            cipher.dispose();
          }
          for (const o of outs.slice(1)) o.forEach((s, i) => expect(equalBytes(s, outs[0]![i]!)).toBe(true));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('every engine rejects any single flipped bit, a wrong AAD, a wrong tail and a short input', async () => {
    const key = nodeCrypto.randomBytes(32);
    const prefix = nodeCrypto.randomBytes(16);
    const pt = nodeCrypto.randomBytes(100);
    const aad = new Uint8Array([1, 2, 3]);
    for (const engine of engines) {
      const cipher = engine.create(key, prefix);
      const sealed = await cipher.seal(chunkNonceTail(5, false), pt, aad);
      for (let bit = 0; bit < sealed.length * 8; bit += 7) {
        const bad = sealed.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(await cipher.open(chunkNonceTail(5, false), bad, aad), `${engine.name} bit ${bit}`).toBeUndefined();
      }
      expect(await cipher.open(chunkNonceTail(5, false), sealed, new Uint8Array([1, 2, 4]))).toBeUndefined();
      expect(await cipher.open(chunkNonceTail(5, true), sealed, aad)).toBeUndefined();
      expect(await cipher.open(chunkNonceTail(6, false), sealed, aad)).toBeUndefined();
      expect(await cipher.open(chunkNonceTail(5, false), sealed.subarray(0, 15), aad)).toBeUndefined();
      expect(equalBytes((await cipher.open(chunkNonceTail(5, false), sealed, aad))!, pt)).toBe(true);
      cipher.dispose();
    }
  });
});

describe('engines: whole archives', () => {
  it('the frozen archive vectors (test/vectors/archive-v1.json) come out of every engine, and decrypt with every engine', async () => {
    expect(archiveVectors.cases.length).toBeGreaterThan(0);
    for (const c of archiveVectors.cases) {
      const expected = fromHex(c.archive);
      for (const engine of engines) {
        const archive = await encryptArchive(fromHex(c.key), c.keyId, fromHex(c.plaintext), {
          engine,
          chunkSize: c.chunkSize,
          metadata: fromHex(c.metadata),
          random: () => fromHex(c.salt),
        });
        expect(equalBytes(archive, expected), `${c.name} / ${engine.name}`).toBe(true);
        const plain = await decryptArchive(fromHex(c.key), expected, { engine });
        expect(equalBytes(plain, fromHex(c.plaintext)), `${c.name} / ${engine.name}`).toBe(true);
      }
    }
  });

  it('random archives: every engine writes the same bytes, streamed or one-shot, and reads the others’', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 5000 }),
        fc.integer({ min: 64, max: 1500 }),
        fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1, maxLength: 6 }),
        async (key, salt, plain, chunkSize, cuts) => {
          const opts = { chunkSize, random: () => salt.slice() };
          const reference = await encryptArchive(key, new Uint8Array(16), plain, { ...opts, engine: nobleEngine() });
          for (const engine of engines) {
            // Fed in uneven pieces, as a file stream would.
            const pieces: Uint8Array[] = [];
            for (let off = 0, i = 0; off < plain.length; i++) {
              const n = cuts[i % cuts.length]!;
              pieces.push(plain.subarray(off, off + n));
              off += n;
            }
            const parts: Uint8Array[] = [];
            await new ReadableStream<Uint8Array>({ start: (c) => { pieces.forEach((p) => c.enqueue(p)); c.close(); } })
              .pipeThrough(createEncryptStream(key, new Uint8Array(16), { ...opts, engine }))
              .pipeTo(new WritableStream({ write: (p) => void parts.push(p) }));
            expect(equalBytes(concatBytes(...parts), reference), engine.name).toBe(true);
            const back: Uint8Array[] = [];
            await new ReadableStream<Uint8Array>({ start: (c) => { c.enqueue(reference); c.close(); } })
              .pipeThrough(createDecryptStream(key, { engine }))
              .pipeTo(new WritableStream({ write: (p) => void back.push(p) }));
            expect(equalBytes(concatBytes(...back), plain), engine.name).toBe(true);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a modified archive fails the same way on every engine', async () => {
    const key = nodeCrypto.randomBytes(32);
    const archive = await encryptArchive(key, new Uint8Array(16), nodeCrypto.randomBytes(3000), { chunkSize: 512, engine: nobleEngine() });
    for (const at of [archive.length - 1, archive.length - 600, 200]) {
      const bad = archive.slice();
      bad[at]! ^= 0x10;
      for (const engine of engines) {
        const err = await decryptArchive(key, bad, { engine }).then(() => undefined, (e: unknown) => e);
        expect(isBackupError(err, 'ARCHIVE_AUTH_FAILED'), `${engine.name} byte ${at}`).toBe(true);
      }
    }
  });
});

describe('engines: misuse', () => {
  it('refuses a repeated or decreasing nonce, use after dispose, and wrong lengths', async () => {
    for (const engine of engines) {
      const cipher = engine.create(new Uint8Array(32), new Uint8Array(16));
      await cipher.seal(chunkNonceTail(0, false), new Uint8Array(1), new Uint8Array(0));
      expect(() => cipher.seal(chunkNonceTail(0, false), new Uint8Array(1), new Uint8Array(0)), engine.name).toThrow();
      expect(() => cipher.seal(new Uint8Array(7), new Uint8Array(1), new Uint8Array(0)), engine.name).toThrow(RangeError);
      expect(() => cipher.seal(chunkNonceTail(1, false), 'x' as unknown as Uint8Array, new Uint8Array(0)), engine.name).toThrow(TypeError);
      cipher.dispose();
      expect(() => cipher.seal(chunkNonceTail(2, false), new Uint8Array(1), new Uint8Array(0)), engine.name).toThrow();
      expect(() => engine.create(new Uint8Array(31), new Uint8Array(16)), engine.name).toThrow(RangeError);
      expect(() => engine.create(new Uint8Array(32), new Uint8Array(24)), engine.name).toThrow(RangeError);
    }
  });

  it('the engines wipe the subkey on dispose (the caller’s key is untouched)', () => {
    const key = new Uint8Array(32).fill(7);
    for (const engine of engines) {
      const cipher = engine.create(key, new Uint8Array(16));
      cipher.dispose();
      expect(key.every((b) => b === 7)).toBe(true);
    }
  });

  it('createNodeEngine and createLibsodiumEngine check their arguments', async () => {
    expect(() => createNodeEngine({} as never)).toThrow(TypeError);
    await expect(createLibsodiumEngine({ sodium: {} as never })).rejects.toThrow(TypeError);
    const injected = await createLibsodiumEngine({ sodium });
    expect(injected.name).toBe('libsodium');
  });
});

describe('libsodium engine: heap paths', () => {
  it('through the wrappers’ API (an instance without its Emscripten module) gives the same bytes as through the raw heap path', async () => {
    const wrappersOnly = await createLibsodiumEngine({
      sodium: {
        crypto_aead_chacha20poly1305_ietf_encrypt: sodium.crypto_aead_chacha20poly1305_ietf_encrypt.bind(sodium),
        crypto_aead_chacha20poly1305_ietf_decrypt: sodium.crypto_aead_chacha20poly1305_ietf_decrypt.bind(sodium),
      } as never,
    });
    const raw = await createLibsodiumEngine({ sodium });
    const key = nodeCrypto.randomBytes(32);
    const prefix = nodeCrypto.randomBytes(16);
    const a = wrappersOnly.create(key, prefix);
    const b = raw.create(key, prefix);
    const ref = nobleEngine().create(key, prefix);
    for (const [i, n] of [0, 1, 4097, 70_000].entries()) {
      const pt = nodeCrypto.randomBytes(n);
      const tail = chunkNonceTail(i, n === 70_000);
      const sa = a.seal(tail, pt, new Uint8Array([i])) as Uint8Array;
      expect(equalBytes(sa, b.seal(tail, pt, new Uint8Array([i])) as Uint8Array)).toBe(true);
      expect(equalBytes(sa, ref.seal(tail, pt, new Uint8Array([i])) as Uint8Array)).toBe(true);
      expect(equalBytes(a.open(tail, sa, new Uint8Array([i])) as Uint8Array, pt)).toBe(true);
      expect(equalBytes(b.open(tail, sa, new Uint8Array([i])) as Uint8Array, pt)).toBe(true);
      sa[0]! ^= 1;
      expect(a.open(tail, sa, new Uint8Array([i]))).toBeUndefined();
      expect(b.open(tail, sa, new Uint8Array([i]))).toBeUndefined();
    }
  });

  it('the raw heap path leaves neither the subkey nor plaintext in the WASM heap', async () => {
    const engine = await createLibsodiumEngine({ sodium });
    const key = nodeCrypto.randomBytes(32);
    const prefix = nodeCrypto.randomBytes(16);
    const cipher = engine.create(key, prefix);
    const pt = nodeCrypto.randomBytes(50_000);
    const sealed = cipher.seal(chunkNonceTail(0, true), pt, new Uint8Array(3)) as Uint8Array;
    expect(equalBytes(cipher.open(chunkNonceTail(0, true), sealed, new Uint8Array(3)) as Uint8Array, pt)).toBe(true);
    const heap = Buffer.from((sodium as unknown as { libsodium: { HEAPU8: Uint8Array } }).libsodium.HEAPU8);
    expect(heap.indexOf(Buffer.from(hchacha20(key, prefix)))).toBe(-1);
    expect(heap.indexOf(pt.subarray(20_000, 20_064))).toBe(-1);
    cipher.dispose();
  });
});

describe('defaultEngine', () => {
  it('is the node:crypto engine in Node, found without a static import', () => {
    expect(nodeCryptoFromRuntime()).toBeDefined();
    expect(defaultEngine().name).toBe('node');
    expect(defaultEngine()).toBe(defaultEngine());
  });

  it('a browser bundle of the default engine has no node: import, no node:crypto and no Node engine', async () => {
    const out = await build({
      entryPoints: [fileURLToPath(new URL('../../lib/archive/engines/default.ts', import.meta.url))],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      minify: true,
      logLevel: 'silent',
      metafile: true,
    });
    const text = out.outputFiles[0]!.text;
    expect(text).not.toMatch(/from\s*["']node:|import\(["']node:|require\(["']node:/);
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.some((p) => p.includes('libsodium'))).toBe(false);
    // package.json "browser" maps platform.ts to platform.browser.ts: no Node engine, no selection code.
    expect(inputs.some((p) => /engines\/(node|platform)\.ts$/.test(p))).toBe(false);
    expect(text).not.toContain('getBuiltinModule');
    expect(text).not.toContain('createCipheriv');
  });
});

describe('engines: public types', () => {
  it('the real node:crypto module satisfies NodeCryptoAead, and the factories return CipherEngines', () => {
    expectTypeOf(nodeCrypto).toExtend<Parameters<typeof createNodeEngine>[0]>();
    expectTypeOf(createNodeEngine).returns.toEqualTypeOf<CipherEngine>();
    expectTypeOf(createLibsodiumEngine).returns.toEqualTypeOf<Promise<CipherEngine>>();
    expectTypeOf(defaultEngine).returns.toEqualTypeOf<CipherEngine>();
    expectTypeOf<ReturnType<CipherEngine['create']>['open']>().returns.toEqualTypeOf<Uint8Array | undefined | Promise<Uint8Array | undefined>>();
    // @ts-expect-error a key is bytes, not a string
    expect(() => createNodeEngine(nodeCrypto).create('k', new Uint8Array(16))).toThrow(TypeError);
  });
});
