import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encryptArchive } from '../../lib/archive/archive.js';
import { openArchive } from '../../lib/archive/random-access.js';
import { isBackupError } from '../../lib/errors.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { pseudoRandom } from './support.js';

const key = pseudoRandom(32, 31);
const keyId = pseudoRandom(16, 32);

describe('openArchive', () => {
  it('reads any range, fetching only the chunks it overlaps', async () => {
    const c = 100;
    const pt = pseudoRandom(c * 30 + 17, 5);
    const archive = await encryptArchive(key, keyId, pt, { chunkSize: c, metadata: new Uint8Array(9) });
    const h = 100 + 9;
    const reads: [number, number][] = [];
    const reader = await openArchive({
      size: archive.length,
      readAt: async (o, l) => {
        reads.push([o, l]);
        return archive.slice(o, o + l);
      },
      key,
    });
    expect(reader.plaintextSize).toBe(pt.length);
    expect(reader.header.metadata.length).toBe(9);
    await fc.assert(
      fc.asyncProperty(fc.nat(pt.length), fc.nat(pt.length), async (a, b) => {
        const offset = Math.min(a, b);
        const length = Math.max(a, b) - offset;
        reads.length = 0;
        const got = await reader.read(offset, length);
        expect(equalBytes(got, pt.subarray(offset, offset + length))).toBe(true);
        if (length === 0) {
          expect(reads.length).toBe(0);
          return;
        }
        const first = Math.floor(offset / c);
        const last = Math.floor((offset + length - 1) / c);
        const lastChunk = Math.ceil(pt.length / c) - 1;
        // One read per chunk needed, the verified final chunk comes from the cache.
        const expected = [];
        for (let i = first; i <= last; i++) if (i !== lastChunk) expected.push([h + i * (c + 16), c + 16]);
        expect(reads).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });

  it('detects truncation and extension at open time (the final chunk is verified first)', async () => {
    const c = 64;
    const archive = await encryptArchive(key, keyId, pseudoRandom(c * 5), { chunkSize: c });
    for (const bad of [archive.subarray(0, archive.length - (c + 16)), new Uint8Array([...archive, ...archive.subarray(100, 100 + c + 16)])]) {
      await expect(openArchive({ size: bad.length, readAt: async (o, l) => bad.slice(o, o + l), key })).rejects.toSatisfy((e) =>
        isBackupError(e, 'ARCHIVE_AUTH_FAILED'),
      );
    }
  });

  it('a corrupted middle chunk fails only the reads that touch it', async () => {
    const c = 64;
    const pt = pseudoRandom(c * 5);
    const archive = await encryptArchive(key, keyId, pt, { chunkSize: c });
    const bad = archive.slice();
    bad[100 + 2 * (c + 16) + 5]! ^= 1;
    const reader = await openArchive({ size: bad.length, readAt: async (o, l) => bad.slice(o, o + l), key });
    expect(equalBytes(await reader.read(0, 2 * c), pt.subarray(0, 2 * c))).toBe(true);
    expect(equalBytes(await reader.read(3 * c, 2 * c), pt.subarray(3 * c))).toBe(true);
    await expect(reader.read(2 * c + 10, 1)).rejects.toSatisfy((e) => isBackupError(e, 'ARCHIVE_AUTH_FAILED'));
  });

  it('a storage that answers short or with the wrong type fails cleanly', async () => {
    const archive = await encryptArchive(key, keyId, pseudoRandom(200), { chunkSize: 64 });
    await expect(openArchive({ size: archive.length, readAt: async (o, l) => archive.slice(o, o + l - 1), key })).rejects.toSatisfy((e) =>
      isBackupError(e, 'ARCHIVE_AUTH_FAILED'),
    );
    await expect(openArchive({ size: archive.length, readAt: async () => 'x' as unknown as Uint8Array, key })).rejects.toThrow(TypeError);
    // A size the archive cannot have.
    await expect(openArchive({ size: archive.length - 1, readAt: async (o, l) => archive.slice(o, o + l), key })).rejects.toSatisfy((e) =>
      isBackupError(e, 'ARCHIVE_AUTH_FAILED'),
    );
    await expect(openArchive({ size: 50, readAt: async (o, l) => archive.slice(o, o + l), key })).rejects.toSatisfy((e) =>
      isBackupError(e, 'ARCHIVE_AUTH_FAILED'),
    );
  });
});
