import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encryptArchive } from '../../lib/archive/archive.js';
import { chunkNonceTail, createSealGuard } from '../../lib/archive/engine.js';
import {
  ARCHIVE_MAGIC,
  DEFAULT_CHUNK_SIZE,
  HEADER_OVERHEAD,
  KEY_ID_LENGTH,
  MAX_CHUNK_SIZE,
  MAX_METADATA_LENGTH,
  MIN_CHUNK_SIZE,
  ciphertextSize,
  parseHeader,
  plaintextSize,
} from '../../lib/archive/format.js';
import { isBackupError, type BackupErrorCode } from '../../lib/errors.js';
import { equalBytes, toHex, utf8, writeU32BE } from '../../lib/util/bytes.js';
import { offsetView } from './support.js';

const key = new Uint8Array(32).fill(3);
const keyId = Uint8Array.from({ length: 16 }, (_, i) => i);

function code(f: () => unknown): BackupErrorCode | string {
  try {
    f();
  } catch (e) {
    return isBackupError(e) ? e.code : String(e);
  }
  return 'no error';
}

describe('header', () => {
  it('parses what the encoder writes, also from a view with a non-zero offset', async () => {
    const metadata = utf8('{"chat":"family"}');
    const archive = await encryptArchive(key, keyId, new Uint8Array(10), { chunkSize: 128, metadata });
    for (const view of [archive, offsetView(archive, 7)]) {
      const h = parseHeader(view);
      expect(h.version).toBe(1);
      expect(h.suite).toBe(1);
      expect(h.flags).toBe(0);
      expect(h.chunkSize).toBe(128);
      expect(equalBytes(h.keyId, keyId)).toBe(true);
      expect(h.keyIdHex).toBe(toHex(keyId));
      expect(equalBytes(h.metadata, metadata)).toBe(true);
      expect(h.length).toBe(HEADER_OVERHEAD + metadata.length);
      expect(equalBytes(h.commitment, archive.subarray(h.length - 32, h.length))).toBe(true);
    }
    expect(KEY_ID_LENGTH).toBe(16);
    expect(toHex(archive.subarray(0, 8))).toBe('453245452d415243');
  });

  it('gives each broken field its own code (docs/FORMAT.md §7)', async () => {
    const archive = await encryptArchive(key, keyId, new Uint8Array(10), { chunkSize: 128 });
    const mut = (f: (b: Uint8Array) => void): Uint8Array => {
      const b = archive.slice();
      f(b);
      return b;
    };
    expect(code(() => parseHeader(mut((b) => (b[0] = 0x46))))).toBe('ARCHIVE_NOT_RECOGNIZED');
    expect(code(() => parseHeader(utf8('PK\x03\x04')))).toBe('ARCHIVE_NOT_RECOGNIZED');
    expect(code(() => parseHeader(mut((b) => (b[8] = 2))))).toBe('ARCHIVE_UNSUPPORTED_VERSION');
    expect(code(() => parseHeader(mut((b) => (b[8] = 0))))).toBe('ARCHIVE_UNSUPPORTED_VERSION');
    expect(code(() => parseHeader(mut((b) => (b[9] = 2))))).toBe('ARCHIVE_UNSUPPORTED_SUITE');
    expect(code(() => parseHeader(mut((b) => (b[11] = 1))))).toBe('ARCHIVE_LIMIT_EXCEEDED');
    expect(code(() => parseHeader(mut((b) => writeU32BE(b, 12, MAX_CHUNK_SIZE + 1))))).toBe('ARCHIVE_LIMIT_EXCEEDED');
    expect(code(() => parseHeader(mut((b) => writeU32BE(b, 12, MIN_CHUNK_SIZE - 1))))).toBe('ARCHIVE_LIMIT_EXCEEDED');
    expect(code(() => parseHeader(mut((b) => writeU32BE(b, 12, 0xffffffff))))).toBe('ARCHIVE_LIMIT_EXCEEDED');
    expect(code(() => parseHeader(mut((b) => writeU32BE(b, 64, MAX_METADATA_LENGTH + 1))))).toBe('ARCHIVE_LIMIT_EXCEEDED');
    expect(code(() => parseHeader(mut((b) => writeU32BE(b, 64, 0xffffffff))))).toBe('ARCHIVE_LIMIT_EXCEEDED');
    // Ending inside the header is a truncation.
    expect(code(() => parseHeader(new Uint8Array(0)))).toBe('ARCHIVE_AUTH_FAILED');
    expect(code(() => parseHeader(ARCHIVE_MAGIC))).toBe('ARCHIVE_AUTH_FAILED');
    expect(code(() => parseHeader(archive.subarray(0, 99)))).toBe('ARCHIVE_AUTH_FAILED');
    // A metadata length within the limit but past the end of the input: truncated, not a crash.
    expect(code(() => parseHeader(mut((b) => writeU32BE(b, 64, MAX_METADATA_LENGTH))))).toBe('ARCHIVE_AUTH_FAILED');
  });

  it('never throws anything but a BackupError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, withMagic) => {
        const b = withMagic ? new Uint8Array([...ARCHIVE_MAGIC, ...bytes]) : bytes;
        try {
          const h = parseHeader(b);
          expect(h.length).toBeLessThanOrEqual(b.length);
        } catch (e) {
          expect(isBackupError(e)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('sizes', () => {
  it('follows the formula of docs/FORMAT.md §5', () => {
    expect(ciphertextSize(0)).toBe(116);
    expect(ciphertextSize(1)).toBe(117);
    expect(ciphertextSize(DEFAULT_CHUNK_SIZE)).toBe(100 + DEFAULT_CHUNK_SIZE + 16);
    expect(ciphertextSize(DEFAULT_CHUNK_SIZE + 1)).toBe(100 + DEFAULT_CHUNK_SIZE + 1 + 32);
    expect(ciphertextSize(1000, 100, 7)).toBe(107 + 1000 + 160);
    expect(plaintextSize(116)).toBe(0);
    expect(() => plaintextSize(115)).toThrow(RangeError);
    expect(() => plaintextSize(100 + 65552 + 16)).toThrow(RangeError); // empty chunk after a full one
    expect(() => plaintextSize(100 + 65552 + 10)).toThrow(RangeError);
    expect(() => ciphertextSize(-1)).toThrow(RangeError);
    expect(() => ciphertextSize(1, 63)).toThrow(RangeError);
    expect(() => ciphertextSize(1, 64, MAX_METADATA_LENGTH + 1)).toThrow(RangeError);
  });

  it('plaintextSize inverts ciphertextSize, and ciphertextSize is what the encoder writes', async () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: MIN_CHUNK_SIZE, max: MAX_CHUNK_SIZE }), fc.integer({ min: 0, max: MAX_METADATA_LENGTH }), (n, c, m) => {
        expect(plaintextSize(ciphertextSize(n, c, m), c, m)).toBe(n);
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 700 }), fc.integer({ min: 64, max: 200 }), fc.integer({ min: 0, max: 40 }), async (n, c, m) => {
        const a = await encryptArchive(key, keyId, new Uint8Array(n), { chunkSize: c, metadata: new Uint8Array(m) });
        expect(a.length).toBe(ciphertextSize(n, c, m));
      }),
      { numRuns: 50 },
    );
  });

  it('no two plaintext sizes share an archive size, and every other size is refused', () => {
    const c = 64;
    const seen = new Map<number, number>();
    for (let n = 0; n < 1000; n++) seen.set(ciphertextSize(n, c), n);
    for (let s = 0; s < ciphertextSize(999, c); s++) {
      if (seen.has(s)) expect(plaintextSize(s, c)).toBe(seen.get(s));
      else expect(() => plaintextSize(s, c)).toThrow(RangeError);
    }
  });
});

describe('nonce tail and seal guard', () => {
  it('encodes a 7-byte big-endian counter and the final flag', () => {
    expect(toHex(chunkNonceTail(0, false))).toBe('0000000000000000');
    expect(toHex(chunkNonceTail(1, true))).toBe('0000000000000101');
    expect(toHex(chunkNonceTail(0x0102030405, false))).toBe('0000010203040500');
    expect(toHex(chunkNonceTail(Number.MAX_SAFE_INTEGER, true))).toBe('1fffffffffffff01');
    expect(() => chunkNonceTail(-1, false)).toThrow(RangeError);
    expect(() => chunkNonceTail(1.5, false)).toThrow(RangeError);
  });

  it('refuses a nonce tail that is not above every earlier one', () => {
    const g = createSealGuard();
    g(chunkNonceTail(0, false));
    g(chunkNonceTail(0, true));
    expect(() => g(chunkNonceTail(0, true))).toThrow();
    expect(() => g(chunkNonceTail(0, false))).toThrow();
    g(chunkNonceTail(2 ** 40, false));
    expect(() => g(chunkNonceTail(2 ** 40 - 1, true))).toThrow();
    expect(() => g(new Uint8Array(7))).toThrow(RangeError);
  });

  it('keeps its own copy of the last tail; a refused tail changes nothing', () => {
    const g = createSealGuard();
    const tail = chunkNonceTail(5, false);
    g(tail);
    tail.fill(0); // the caller reuses its array: the guard still remembers counter 5
    expect(() => g(chunkNonceTail(5, false))).toThrow();
    expect(() => g(chunkNonceTail(3, true))).toThrow();
    g(chunkNonceTail(5, true)); // still above 5/false after the refusals
    expect(() => g(chunkNonceTail(5, true))).toThrow();
  });
});
