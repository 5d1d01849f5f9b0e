/**
 * The keyed content-defined chunker (docs/INCREMENTAL.md §4), after the fix of Truong, Merz,
 * Scarlata, Günther and Paterson ("Breaking and Fixing Content-Defined Chunking", ePrint 2025/558):
 * a keyed almost-universal hash over the window, then a PRF (AES) on its output, cutting on bits
 * of the PRF output.
 *
 * - AU hash: a 64-bit Gear hash with a secret table, `h ← (h ≪ 1) ⊕ G[b]` (the window is the last
 *   64 bytes; bytes older than that have been shifted out).
 * - Candidate filter: positions whose top {@link FILTER_BITS} bits of `h` are zero (1 in 256). Only
 *   there is the PRF computed: this is what makes the chunker fast enough in a browser without
 *   AES instructions (the PRF costs about 120 ns a call in JavaScript; docs/INCREMENTAL.md §4.3 on
 *   what the filter leaks and why it is acceptable here).
 * - PRF: `AES-128(prfKey, h_hi ‖ h_lo ‖ 0^8)`; a candidate cuts when the first 32 output bits,
 *   big-endian, are below {@link CUT_THRESHOLD} (1 in 192).
 * - Sizes: no cut before {@link MIN_CHUNK} bytes, a forced cut at {@link MAX_CHUNK}; about 64 KiB
 *   on average.
 *
 * The Gear state is a function of the last 64 bytes only (older bytes are shifted out), so a cut
 * decision at a position depends on the window there and on where the current chunk started
 * (min / max), not on how the input was split into `push` calls; that is also why each chunk's
 * scan may start from a zero state 64 bytes before its minimum size.
 *
 * @module
 */
import { unsafe as aes } from '@noble/ciphers/aes.js';
import { abytes } from '../util/bytes.js';
import type { ChunkerKeys } from './keys.js';

/** Smallest chunk (except the last one of a stream). */
export const MIN_CHUNK = 16 * 1024;
/** Largest chunk: a cut is forced here. */
export const MAX_CHUNK = 256 * 1024;
/** Top bits of the Gear hash that must be zero at a candidate position. */
export const FILTER_BITS = 8;
/** A candidate cuts when the first 32 bits of its PRF output are below this (2^32 / 192). */
export const CUT_THRESHOLD = 22_369_621; // ⌊2^32 / 192⌋, a literal so bundlers see no top-level call

const INITIAL_CAPACITY = 1 << 20;
/** Bytes of the Gear window: the 64-bit state forgets a byte after 64 shifts. */
const WINDOW = 64;

/**
 * Splits a byte stream into content-defined chunks under a key.
 *
 * @example
 * ```ts
 * import { KeyedChunker, deriveChunkerKeys } from 'e2ee-backup/incremental';
 * const chunker = new KeyedChunker(deriveChunkerKeys(bk));
 * const chunks = [...chunker.push(part1), ...chunker.push(part2), ...chunker.end()];
 * ```
 */
export class KeyedChunker {
  readonly #gear: Int32Array;
  #buf = new Uint8Array(INITIAL_CAPACITY);
  /** Bytes held in `#buf`. */
  #len = 0;
  /** Start of the current chunk in `#buf`. */
  #start = 0;
  #hi = 0;
  #lo = 0;
  readonly #xk: Uint32Array;
  /** Next position to hash; the Gear state covers the bytes before it. */
  #pos = 0;
  #ended = false;

  /** Copies the keys it needs; the caller may wipe `keys` afterwards (call {@link dispose} when done). */
  constructor(keys: ChunkerKeys) {
    if (!(keys.gear instanceof Uint32Array) || keys.gear.length !== 512) throw new RangeError('keys.gear must be 512 words');
    abytes(keys.prfKey, 'keys.prfKey', 16);
    // Int32 so the hot loop stays on small integers (a Uint32Array read above 2^31 is a double).
    this.#gear = Int32Array.from(keys.gear, (x) => x | 0);
    this.#xk = aes.expandKeyLE(Uint8Array.from(keys.prfKey));
  }

  /** Feed bytes; returns the chunks completed so far (fresh arrays the caller owns). */
  push(data: Uint8Array): Uint8Array[] {
    abytes(data, 'data');
    if (this.#ended) throw new Error('chunker already ended');
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < data.length) {
      const n = Math.min(data.length - off, INITIAL_CAPACITY);
      this.#append(data.subarray(off, off + n));
      off += n;
      this.#emit(out);
    }
    return out;
  }

  /** End of input: returns the remaining chunks (the last may be shorter than the minimum). */
  end(): Uint8Array[] {
    if (this.#ended) return [];
    this.#ended = true;
    const out: Uint8Array[] = [];
    this.#emit(out);
    if (this.#len > this.#start) out.push(this.#buf.slice(this.#start, this.#len));
    this.#buf.fill(0);
    this.#len = this.#start = this.#pos = 0;
    return out;
  }

  /** Wipe the keys and buffered plaintext. */
  dispose(): void {
    this.#gear.fill(0);
    this.#xk.fill(0);
    this.#buf.fill(0);
    this.#hi = this.#lo = 0;
    this.#ended = true;
  }

  #append(data: Uint8Array): void {
    // Compact: drop bytes before the current chunk.
    if (this.#start > 0 && this.#len + data.length > this.#buf.length) {
      const s = this.#start;
      this.#buf.copyWithin(0, s, this.#len);
      this.#buf.fill(0, this.#len - s, this.#len);
      this.#len -= s;
      this.#pos -= s;
      this.#start = 0;
    }
    if (this.#len + data.length > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + data.length));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf.fill(0);
      this.#buf = next;
    }
    this.#buf.set(data, this.#len);
    this.#len += data.length;
  }

  /**
   * Emit every chunk whose end is decided by the bytes seen so far. The Gear state depends only on
   * the last 64 bytes, so each chunk's scan starts 64 bytes before its minimum size from a zero
   * state (exact from the minimum on) and the first `MIN_CHUNK - 64` bytes are never hashed.
   */
  #emit(out: Uint8Array[]): void {
    const buf = this.#buf;
    const g = this.#gear;
    const xk = this.#xk;
    const shift = 32 - FILTER_BITS;
    for (;;) {
      const start = this.#start;
      const warm = start + MIN_CHUNK - WINDOW;
      if (this.#pos < warm) {
        if (this.#len < warm) return;
        this.#pos = warm;
        this.#hi = this.#lo = 0;
      }
      const limit = Math.min(this.#len, start + MAX_CHUNK);
      const minEnd = start + MIN_CHUNK;
      let hi = this.#hi;
      let lo = this.#lo;
      let end = -1;
      let i = this.#pos;
      for (; i < limit; i++) {
        const b = buf[i]! << 1;
        hi = ((hi << 1) | (lo >>> 31)) ^ g[b]!;
        lo = (lo << 1) ^ g[b + 1]!;
        if (hi >>> shift === 0 && i + 1 >= minEnd && cutPrf(xk, hi, lo) < CUT_THRESHOLD) {
          end = i + 1;
          break;
        }
      }
      this.#hi = hi;
      this.#lo = lo;
      this.#pos = end < 0 ? i : end;
      if (end < 0) {
        if (this.#len - start < MAX_CHUNK) return;
        end = start + MAX_CHUNK;
      }
      out.push(buf.slice(start, end));
      this.#start = end;
    }
  }
}

/** Byte-swap a 32-bit word (the AES tables work on little-endian words). */
function bswap(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

/**
 * The cut PRF on one Gear state: the first 4 bytes, big-endian, of
 * `AES-128(prfKey, u32be(hi) ‖ u32be(lo) ‖ 0^8)` (FIPS 197), from the expanded key `xk`.
 */
function cutPrf(xk: Uint32Array, hi: number, lo: number): number {
  return bswap(aes.encrypt(xk, bswap(hi), bswap(lo), 0, 0).s0) >>> 0;
}

/**
 * Chunk lengths of `data` under `keys` (a convenience for tests and vectors).
 *
 * @example
 * ```ts
 * import { chunkLengths, deriveChunkerKeys } from 'e2ee-backup/incremental';
 * const lengths = chunkLengths(deriveChunkerKeys(bk), bytes);
 * ```
 */
export function chunkLengths(keys: ChunkerKeys, data: Uint8Array, pieceSize = data.length || 1): number[] {
  const c = new KeyedChunker(keys);
  const out: number[] = [];
  for (let o = 0; o < data.length; o += pieceSize) for (const ch of c.push(data.subarray(o, o + pieceSize))) out.push(ch.length);
  for (const ch of c.end()) out.push(ch.length);
  c.dispose();
  return out;
}
