/** The frozen vectors (test/vectors/archive-v1.json): our encoder reproduces them byte for byte, every decoder reads them. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decryptArchive, encryptArchive } from '../../lib/archive/archive.js';
import { defaultEngine } from '../../lib/archive/engines/default.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { parseHeader } from '../../lib/archive/format.js';
import { openArchive } from '../../lib/archive/random-access.js';
import { createDecryptStream, createEncryptStream } from '../../lib/archive/stream.js';
import { equalBytes, fromHex, toHex } from '../../lib/util/bytes.js';
import { through } from './support.js';

interface Vector { name: string; key: string; keyId: string; salt: string; chunkSize: number; metadata: string; plaintext: string; archive: string }
const vectors = (JSON.parse(readFileSync(new URL('../vectors/archive-v1.json', import.meta.url), 'utf8')) as { cases: Vector[] }).cases;

describe('frozen archive vectors', () => {
  it('cover empty, 1, chunk − 1, chunk, chunk + 1, many chunks, metadata, the default chunk size', () => {
    const sizes = vectors.map((v) => v.plaintext.length / 2);
    for (const n of [0, 1, 63, 64, 65]) expect(sizes).toContain(n);
    expect(vectors.some((v) => v.chunkSize === 65536 && v.plaintext.length / 2 > 65536)).toBe(true);
    expect(vectors.some((v) => v.metadata.length > 0)).toBe(true);
  });

  for (const v of vectors) {
    it(`${v.name}: encoder reproduces, decoders read`, async () => {
      const key = fromHex(v.key);
      const salt = fromHex(v.salt);
      const plaintext = fromHex(v.plaintext);
      const archive = fromHex(v.archive);
      const opts = { chunkSize: v.chunkSize, metadata: fromHex(v.metadata), random: () => salt.slice() };
      for (const engine of [nobleEngine(), defaultEngine()]) {
        expect(toHex(await encryptArchive(key, v.keyId, plaintext, { ...opts, engine }))).toBe(v.archive);
        expect(equalBytes(await decryptArchive(key, archive, { engine }), plaintext)).toBe(true);
      }
      const s = await through(plaintext, createEncryptStream(key, fromHex(v.keyId), opts), [1000, 3]);
      expect(toHex(s.bytes)).toBe(v.archive);
      const d = await through(archive, createDecryptStream((_id, hex) => (hex === v.keyId ? key : undefined)), [17]);
      expect(d.error).toBeUndefined();
      expect(equalBytes(d.bytes, plaintext)).toBe(true);
      const h = parseHeader(archive);
      expect(h.keyIdHex).toBe(v.keyId);
      expect(toHex(h.salt)).toBe(v.salt);
      const reader = await openArchive({ size: archive.length, readAt: async (o, l) => archive.slice(o, o + l), key });
      expect(equalBytes(await reader.read(0, plaintext.length), plaintext)).toBe(true);
    });
  }
});
