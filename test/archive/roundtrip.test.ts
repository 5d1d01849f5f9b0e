import { describe, expect, it } from 'vitest';
import { decryptArchive, encryptArchive } from '../../lib/archive/archive.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { ciphertextSize, DEFAULT_CHUNK_SIZE, parseHeader } from '../../lib/archive/format.js';
import { openArchive } from '../../lib/archive/random-access.js';
import { createDecryptStream, createEncryptStream } from '../../lib/archive/stream.js';
import { isBackupError } from '../../lib/errors.js';
import { equalBytes, toHex, utf8 } from '../../lib/util/bytes.js';
import { asyncEngine, offsetView, pseudoRandom, through } from './support.js';

const key = pseudoRandom(32, 11);
const keyId = pseudoRandom(16, 12);

async function allWays(pt: Uint8Array, chunkSize: number, pieces: readonly number[]): Promise<void> {
  const label = `n=${pt.length} c=${chunkSize}`;
  const metadata = utf8('meta');
  // One shot, from a view with a non-zero offset (key, keyId, plaintext, metadata).
  const archive = await encryptArchive(offsetView(key), offsetView(keyId), offsetView(pt), { chunkSize, metadata: offsetView(metadata) });
  expect(archive.length, label).toBe(ciphertextSize(pt.length, chunkSize, metadata.length));
  expect(equalBytes(await decryptArchive(key, offsetView(archive)), pt), label).toBe(true);
  // Streams, fed in the given piece sizes.
  const enc = await through(pt, createEncryptStream(key, toHex(keyId), { chunkSize, metadata }), pieces);
  expect(enc.error, label).toBeUndefined();
  expect(enc.bytes.length, label).toBe(archive.length);
  expect(equalBytes(await decryptArchive(key, enc.bytes), pt), label).toBe(true);
  const dec = await through(archive, createDecryptStream(key), pieces);
  expect(dec.error, label).toBeUndefined();
  expect(equalBytes(dec.bytes, pt), label).toBe(true);
  // Blob in, Blob out.
  const blob = await encryptArchive(key, keyId, new Blob([pt.slice()]), { chunkSize, metadata });
  expect(blob.size, label).toBe(archive.length);
  const back = await decryptArchive(key, blob);
  expect(equalBytes(new Uint8Array(await back.arrayBuffer()), pt), label).toBe(true);
  // Random access, whole range and a middle range.
  const reader = await openArchive({ size: archive.length, readAt: async (o, l) => archive.slice(o, o + l), key });
  expect(reader.plaintextSize, label).toBe(pt.length);
  expect(equalBytes(await reader.read(0, pt.length), pt), label).toBe(true);
  if (pt.length > 2) expect(equalBytes(await reader.read(1, pt.length - 2), pt.subarray(1, -1)), label).toBe(true);
  reader.close();
}

describe('round trips', () => {
  it('at 0, 1, chunk − 1, chunk, chunk + 1 and many chunks (64-byte chunks, byte by byte)', async () => {
    const c = 64;
    for (const n of [0, 1, c - 1, c, c + 1, 2 * c, 37 * c + 5]) await allWays(pseudoRandom(n, n + 1), c, [1]);
  });

  it('with pieces that end exactly on chunk boundaries (whole chunks sealed without a copy)', async () => {
    const c = 64;
    for (const n of [0, c, 2 * c, 3 * c, 10 * c + 1]) {
      for (const pieces of [[c], [2 * c], [c, 2 * c, 1, c - 1]]) await allWays(pseudoRandom(n, n + 3), c, pieces);
    }
  });

  it('at 0, 1, chunk − 1, chunk, chunk + 1 and many chunks (default 64 KiB chunks, uneven pieces)', async () => {
    const c = DEFAULT_CHUNK_SIZE;
    for (const n of [0, 1, c - 1, c, c + 1, 5 * c + 3]) await allWays(pseudoRandom(n, n + 7), c, [1, 4096, 65535, 100_000, 7]);
  });

  it('a key lookup by keyId, sync or async; ARCHIVE_KEY_UNKNOWN when absent', async () => {
    const other = pseudoRandom(32, 99);
    const archive = await encryptArchive(key, keyId, utf8('hello'), { chunkSize: 64 });
    const ring = new Map([[toHex(keyId), key], [toHex(pseudoRandom(16, 5)), other]]);
    const seen: string[] = [];
    const lookup = (id: Uint8Array, hex: string): Uint8Array | undefined => {
      expect(toHex(id)).toBe(hex);
      seen.push(hex);
      return ring.get(hex);
    };
    expect(equalBytes(await decryptArchive(lookup, archive), utf8('hello'))).toBe(true);
    expect(equalBytes(await decryptArchive(async (_id, hex) => ring.get(hex), archive), utf8('hello'))).toBe(true);
    expect(seen).toEqual([toHex(keyId)]);
    const unknown = await encryptArchive(key, pseudoRandom(16, 77), utf8('x'), { chunkSize: 64 });
    await expect(decryptArchive(lookup, unknown)).rejects.toSatisfy((e) => isBackupError(e, 'ARCHIVE_KEY_UNKNOWN'));
    const s = await through(unknown, createDecryptStream(lookup));
    expect(isBackupError(s.error, 'ARCHIVE_KEY_UNKNOWN')).toBe(true);
    await expect(openArchive({ size: unknown.length, readAt: async (o, l) => unknown.slice(o, o + l), key: lookup })).rejects.toSatisfy((e) =>
      isBackupError(e, 'ARCHIVE_KEY_UNKNOWN'),
    );
    // A wrong key (the lookup's answer is wrong) is an authentication failure.
    await expect(decryptArchive(() => other, archive)).rejects.toSatisfy((e) => isBackupError(e, 'ARCHIVE_AUTH_FAILED'));
    await expect(decryptArchive(other, archive)).rejects.toSatisfy((e) => isBackupError(e, 'ARCHIVE_AUTH_FAILED'));
  });

  it('two encryptions of the same plaintext differ (fresh salt), the metadata is readable and authenticated', async () => {
    const a = await encryptArchive(key, keyId, utf8('same'), { metadata: utf8('m') });
    const b = await encryptArchive(key, keyId, utf8('same'), { metadata: utf8('m') });
    expect(equalBytes(a, b)).toBe(false);
    expect(equalBytes(parseHeader(a).metadata, utf8('m'))).toBe(true);
  });

  it('an asynchronous engine with parallelism 4 gives the same bytes, in order, never more than 4 in flight', async () => {
    const pt = pseudoRandom(64 * 50 + 3, 3);
    const salt = pseudoRandom(32, 4);
    const ref = await encryptArchive(key, keyId, pt, { chunkSize: 64, random: () => salt.slice(), engine: nobleEngine() });
    const e1 = asyncEngine(4);
    expect(equalBytes(await encryptArchive(key, keyId, pt, { chunkSize: 64, random: () => salt.slice(), engine: e1 }), ref)).toBe(true);
    expect(e1.maxInFlight).toBe(4);
    const e2 = asyncEngine(4, 2);
    const s = await through(pt, createEncryptStream(key, keyId, { chunkSize: 64, random: () => salt.slice(), engine: e2 }), [1, 100, 7, 300]);
    expect(equalBytes(s.bytes, ref)).toBe(true);
    expect(e2.maxInFlight).toBe(4);
    const e3 = asyncEngine(4, 3);
    const d = await through(ref, createDecryptStream(key, { engine: e3 }), [13, 200, 1]);
    expect(equalBytes(d.bytes, pt)).toBe(true);
    expect(e3.maxInFlight).toBe(4);
    const e4 = asyncEngine(3, 4);
    expect(equalBytes(await decryptArchive(key, ref, { engine: e4 }), pt)).toBe(true);
    expect(e4.maxInFlight).toBe(3);
    const reader = await openArchive({ size: ref.length, readAt: async (o, l) => ref.slice(o, o + l), key, engine: asyncEngine(2, 5) });
    expect(equalBytes(await reader.read(100, 2000), pt.subarray(100, 2100))).toBe(true);
  });
});
