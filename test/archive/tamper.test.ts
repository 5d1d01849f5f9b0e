/**
 * fast-check properties: any truncation, chunk reorder, duplication, extension, bit flip anywhere,
 * header change, or splice from another archive fails with the typed error, through every
 * decoder (one-shot, stream fed in random pieces, random access), and no decoder ever releases
 * plaintext from an unverified chunk: what a stream emits before failing is always a prefix of
 * the true plaintext made of chunks before the first modified byte.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decryptArchive, encryptArchive } from '../../lib/archive/archive.js';
import { TAG_LENGTH } from '../../lib/archive/format.js';
import { openArchive } from '../../lib/archive/random-access.js';
import { createDecryptStream } from '../../lib/archive/stream.js';
import { ARCHIVE_AUTH_MESSAGE, isBackupError, type BackupErrorCode } from '../../lib/errors.js';
import { concatBytes, equalBytes } from '../../lib/util/bytes.js';
import { through } from './support.js';

const AUTH: BackupErrorCode[] = ['ARCHIVE_AUTH_FAILED'];

interface Sample {
  key: Uint8Array;
  pt: Uint8Array;
  c: number;
  archive: Uint8Array;
  h: number;
  chunks: Uint8Array[];
}

const sampleArb = fc
  .record({
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    keyId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    pt: fc.uint8Array({ maxLength: 600 }),
    c: fc.integer({ min: 64, max: 100 }),
    m: fc.uint8Array({ maxLength: 12 }),
  });

async function make(s: { key: Uint8Array; keyId: Uint8Array; pt: Uint8Array; c: number; m: Uint8Array }): Promise<Sample> {
  const archive = await encryptArchive(s.key, s.keyId, s.pt, { chunkSize: s.c, metadata: s.m });
  const h = 100 + s.m.length;
  const chunks: Uint8Array[] = [];
  for (let o = h; o < archive.length; o += s.c + TAG_LENGTH) chunks.push(archive.slice(o, Math.min(archive.length, o + s.c + TAG_LENGTH)));
  return { key: s.key, pt: s.pt, c: s.c, archive, h, chunks };
}

/** The codes a change at byte `p` may give (docs/FORMAT.md §7), with the key passed directly. */
function codesAt(p: number): BackupErrorCode[] {
  if (p < 8) return ['ARCHIVE_NOT_RECOGNIZED'];
  if (p === 8) return ['ARCHIVE_UNSUPPORTED_VERSION'];
  if (p === 9) return ['ARCHIVE_UNSUPPORTED_SUITE'];
  if (p < 12) return ['ARCHIVE_LIMIT_EXCEEDED'];
  if (p < 16 || (p >= 64 && p < 68)) return ['ARCHIVE_LIMIT_EXCEEDED', 'ARCHIVE_AUTH_FAILED'];
  return AUTH;
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Check every decoder refuses `bad`, with one of `codes`, releasing only verified chunks. */
async function refused(s: Sample, bad: Uint8Array, codes: BackupErrorCode[], pieces: number[]): Promise<void> {
  const p = firstDiff(s.archive, bad);
  const count = s.chunks.length;
  // Chunks wholly before the first changed byte are the only ones that may be released.
  const maxChunks = p < s.h ? 0 : Math.min(Math.floor((p - s.h) / (s.c + TAG_LENGTH)), count - 1);
  const check = (e: unknown): void => {
    expect(isBackupError(e), String(e)).toBe(true);
    expect(codes).toContain((e as { code: string }).code);
    if ((e as { code: string }).code === 'ARCHIVE_AUTH_FAILED') expect((e as Error).message).toBe(ARCHIVE_AUTH_MESSAGE);
  };
  // One shot: throws, returns nothing.
  let oneShot: unknown;
  await decryptArchive(s.key, bad).then(
    () => (oneShot = 'resolved'),
    (e: unknown) => (oneShot = e),
  );
  check(oneShot);
  // Stream: errors; what it emitted first is a prefix of the plaintext from verified chunks.
  const st = await through(bad, createDecryptStream(s.key), pieces);
  check(st.error);
  expect(equalBytes(st.bytes, s.pt.subarray(0, st.bytes.length))).toBe(true);
  expect(st.bytes.length).toBeLessThanOrEqual(maxChunks * s.c);
  // Random access: either open fails, or reading the whole plaintext does.
  let ra: unknown = 'resolved';
  try {
    const r = await openArchive({ size: bad.length, readAt: async (o, l) => bad.slice(o, o + l), key: s.key });
    await r.read(0, r.plaintextSize);
  } catch (e) {
    ra = e;
  }
  check(ra);
}

const pieces = fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 5 });
const RUNS = { numRuns: 60 };

describe('tampering is detected', () => {
  it('any truncation', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb, fc.nat(), pieces, async (raw, cut, ps) => {
        const s = await make(raw);
        const k = cut % s.archive.length; // every proper prefix, including empty
        await refused(s, s.archive.slice(0, k), AUTH, ps);
      }),
      RUNS,
    );
  });

  it('any bit flip anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb, fc.nat(), fc.integer({ min: 0, max: 7 }), pieces, async (raw, at, bit, ps) => {
        const s = await make(raw);
        const bad = s.archive.slice();
        const p = at % bad.length;
        bad[p]! ^= 1 << bit;
        await refused(s, bad, codesAt(p), ps);
      }),
      { numRuns: 150 },
    );
  });

  it('any header byte replaced', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb, fc.nat(), fc.integer({ min: 1, max: 255 }), pieces, async (raw, at, x, ps) => {
        const s = await make(raw);
        const bad = s.archive.slice();
        const p = at % s.h;
        bad[p]! ^= x;
        await refused(s, bad, codesAt(p), ps);
      }),
      RUNS,
    );
  });

  it('any chunk reorder, duplication or removal', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          keyId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
          pt: fc.uint8Array({ minLength: 201, maxLength: 600 }), // at least 3 chunks
          c: fc.integer({ min: 64, max: 100 }),
          m: fc.uint8Array({ maxLength: 12 }),
        }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom('swap', 'duplicate', 'drop'),
        pieces,
        async (raw, a, b, op, ps) => {
          const s = await make(raw);
          const n = s.chunks.length;
          const chunks = s.chunks.slice();
          const i = a % n;
          let j = b % n;
          if (op === 'swap') {
            if (i === j) j = (j + 1) % n;
            [chunks[i], chunks[j]] = [chunks[j]!, chunks[i]!];
          } else if (op === 'duplicate') {
            chunks.splice(b % (n + 1), 0, chunks[i]!);
          } else {
            chunks.splice(i, 1);
          }
          await refused(s, concatBytes(s.archive.subarray(0, s.h), ...chunks), AUTH, ps);
        },
      ),
      RUNS,
    );
  });

  it('any extension', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb, fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.boolean(), pieces, async (raw, tail, copyChunk, ps) => {
        const s = await make(raw);
        const extra = copyChunk ? s.chunks[0]! : tail;
        await refused(s, concatBytes(s.archive, extra), AUTH, ps);
      }),
      RUNS,
    );
  });

  it('any splice from another archive under the same key', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb, fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.constantFrom('chunk', 'header', 'tail'), pieces, async (raw, pt2, at, op, ps) => {
        const s = await make(raw);
        // Same key, keyId, chunk size and metadata: only the salt (and plaintext) differ.
        const o = await make({ ...raw, pt: pt2 });
        let bad: Uint8Array;
        if (op === 'header') {
          bad = concatBytes(o.archive.subarray(0, o.h), s.archive.subarray(s.h));
        } else if (op === 'tail') {
          // Our chunks up to i, theirs from i on.
          const i = at % Math.min(s.chunks.length, o.chunks.length);
          bad = concatBytes(s.archive.subarray(0, s.h), ...s.chunks.slice(0, i), ...o.chunks.slice(i));
        } else {
          const i = at % Math.min(s.chunks.length, o.chunks.length);
          const chunks = s.chunks.slice();
          chunks[i] = o.chunks[i]!;
          bad = concatBytes(s.archive.subarray(0, s.h), ...chunks);
        }
        await refused(s, bad, AUTH, ps);
      }),
      RUNS,
    );
  });

  it('a wrong key, through every decoder, with the same code and message', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb, fc.uint8Array({ minLength: 32, maxLength: 32 }), pieces, async (raw, other, ps) => {
        fc.pre(!equalBytes(other, raw.key));
        const s = await make(raw);
        await refused({ ...s, key: other, pt: new Uint8Array(0) }, s.archive, AUTH, ps);
      }),
      { numRuns: 20 },
    );
  });
});
