/**
 * The cipher engine seam under the archive's chunk seal/open (docs/FORMAT.md §STREAM).
 *
 * XChaCha20-Poly1305 with nonce N = P ‖ C (P: 16-byte per-archive prefix, C: 8 bytes) equals
 * ChaCha20-Poly1305 under subkey K' = HChaCha20(K, P) with the 12-byte nonce 0x00000000 ‖ C.
 * So an engine derives K' once per archive and then seals each chunk with plain
 * ChaCha20-Poly1305: pure JS (@noble/ciphers), `node:crypto`, or libsodium all give the same bytes.
 *
 * @module
 */

/**
 * Seals and opens the chunks of one archive. Created per archive; wipe with `dispose()`.
 *
 * Contract for implementations: `seal` is single-use per nonce (an engine must refuse a seal
 * whose nonce tail is not above every earlier one; {@link createSealGuard} does that; the archive
 * layer itself never seals after the final chunk), `open` returns `undefined` on a bad tag and releases no
 * plaintext before the tag verified, and neither method retains or detaches its inputs after it
 * returned (or its promise settled).
 *
 * @example
 * ```ts
 * const cipher = defaultEngine().create(payloadKey, noncePrefix);
 * const sealed = await cipher.seal(chunkNonceTail(0, true), plaintext, aad);
 * cipher.dispose();
 * ```
 */
export interface ChunkCipher {
  /**
   * Seal one chunk. `nonceTail` is the 8-byte C = counter(7, big-endian) ‖ final-flag(1).
   * Returns ciphertext ‖ 16-byte tag.
   */
  seal(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /**
   * Optional fast path for engines whose backend returns the ciphertext and the tag as separate
   * buffers (`node:crypto`): seal one chunk exactly as `seal` does (same nonce rules, same bytes)
   * but return the two parts, so no `ciphertext ‖ tag` array has to be allocated and filled per
   * chunk. The archive layer prefers it when present. Each part must be a `Uint8Array` that shares
   * its `ArrayBuffer` with nothing else the caller could not see (a fresh buffer or a view of the
   * whole of one).
   */
  sealParts?(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): SealedParts | Promise<SealedParts>;
  /**
   * Optional fast path for engines that can write where they are told (noble, libsodium, the
   * worker pool): seal one chunk exactly as `seal` does (same nonce rule, same bytes) into
   * `output`, which is `plaintext.length + 16` bytes, overlaps no input, and is the caller's until
   * the call returns (or its promise settles). Lets the archive layer recycle its output buffers
   * instead of allocating one per chunk, which costs browsers more than the cipher itself.
   */
  sealInto?(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, output: Uint8Array): void | Promise<void>;
  /**
   * Optional: open one chunk into `output` (`sealed.length - 16` bytes, overlapping no input).
   * Returns `true` when the tag verified and the plaintext is in `output`, `false` otherwise, in
   * which case no plaintext was written (the tag is checked first). Never throws on a bad tag.
   */
  openInto?(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array, output: Uint8Array): boolean | Promise<boolean>;
  /**
   * Open one chunk; returns the plaintext, or `undefined` when the tag does not verify (never
   * throws on a bad tag, so every caller maps it to the same error).
   */
  open(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /** Wipe the subkey. */
  dispose(): void;
}

/**
 * One sealed chunk as two parts: `ciphertext` (as long as the plaintext) and the 16-byte `tag`;
 * their concatenation is the chunk's bytes in the archive.
 *
 * @example
 * ```ts
 * const { ciphertext, tag } = cipher.sealParts!(chunkNonceTail(0, true), plaintext, aad) as SealedParts;
 * ```
 */
export interface SealedParts {
  /** The ciphertext, as long as the plaintext. */
  readonly ciphertext: Uint8Array;
  /** The 16-byte Poly1305 tag. */
  readonly tag: Uint8Array;
}

/**
 * A source of {@link ChunkCipher}s: pure JS (`noble`, the default), `node:crypto`, libsodium or
 * a worker pool. All produce the same bytes (docs/FORMAT.md §STREAM).
 *
 * @example
 * ```ts
 * import { encryptArchive, nobleEngine } from 'e2ee-backup/archive';
 * const archive = await encryptArchive(key, keyId, plaintext, { engine: nobleEngine() });
 * ```
 */
export interface CipherEngine {
  /**
   * How many chunks the archive operations should keep in flight with this engine (1 for a
   * synchronous engine; the worker pool asks for `workers × perWorker × 8` so that batches form).
   * The archive layer caps it at 64 and lowers it to keep about 8 MiB of chunks in flight.
   */
  readonly parallelism?: number;
  /** Short name for diagnostics and benchmarks (`noble`, `node`, `libsodium`, `workers`). */
  readonly name: string;
  /**
   * Create the cipher for one archive from the 32-byte payload key and the 16-byte nonce prefix.
   * The engine copies what it needs; the caller may wipe its inputs afterwards.
   */
  create(key: Uint8Array, noncePrefix: Uint8Array): ChunkCipher;
}

/**
 * Length of the nonce tail C = counter(7, big-endian) ‖ final-flag(1).
 *
 * @example
 * ```ts
 * chunkNonceTail(0, true).length === NONCE_TAIL_LENGTH; // true
 * ```
 */
export const NONCE_TAIL_LENGTH = 8;

/** Largest chunk counter that fits the 7-byte counter (2^56 - 1 is above 2^53; we cap at safe integers). */
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/**
 * The 8-byte nonce tail of chunk `index` (docs/FORMAT.md §Nonce): the 7-byte big-endian counter
 * followed by 0x01 for the final chunk and 0x00 otherwise.
 *
 * @example
 * ```ts
 * chunkNonceTail(1, true); // 00 00 00 00 00 00 01 01
 * ```
 */
export function chunkNonceTail(index: number, final: boolean): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0 || index > MAX_COUNTER) {
    throw new RangeError('index must be a non-negative safe integer');
  }
  const out = new Uint8Array(NONCE_TAIL_LENGTH);
  // 7-byte big-endian counter: 3 high bytes from the upper 32 bits, 4 low bytes from the rest.
  const hi = Math.floor(index / 2 ** 32);
  const lo = index >>> 0;
  out[0] = (hi >>> 16) & 0xff;
  out[1] = (hi >>> 8) & 0xff;
  out[2] = hi & 0xff;
  out[3] = lo >>> 24;
  out[4] = (lo >>> 16) & 0xff;
  out[5] = (lo >>> 8) & 0xff;
  out[6] = lo & 0xff;
  out[7] = final ? 1 : 0;
  return out;
}

/**
 * Make nonce reuse impossible by construction for one {@link ChunkCipher}: the returned check
 * throws unless each sealed chunk's 8-byte nonce tail, read as a big-endian number, is above every
 * earlier one (so counter i final-flag 0 < counter i final-flag 1 < counter i+1). Call it at the top
 * of `seal`, before any work, so no caller bug can encrypt two messages under one (key, nonce).
 * The archive's own rules (no chunk after the final one) are enforced by the archive layer; this
 * guard is only about nonce uniqueness, so it also admits the arbitrary tails of test vectors.
 *
 * @example
 * ```ts
 * const guard = createSealGuard();
 * guard(chunkNonceTail(0, false)); // ok
 * guard(chunkNonceTail(0, false)); // throws: nonce not increasing
 * ```
 */
export function createSealGuard(): (nonceTail: Uint8Array) => void {
  // The last tail, copied (the caller may reuse its array); one buffer for the cipher's lifetime.
  const last = new Uint8Array(NONCE_TAIL_LENGTH);
  let first = true;
  return (tail) => {
    if (tail.length !== NONCE_TAIL_LENGTH) throw new RangeError(`nonceTail must be ${NONCE_TAIL_LENGTH} bytes`);
    if (!first) {
      let cmp = 0;
      for (let i = 0; i < NONCE_TAIL_LENGTH && cmp === 0; i++) cmp = tail[i]! - last[i]!;
      if (cmp <= 0) throw new Error('cannot seal twice with the same nonce (nonce tail not increasing)');
    }
    last.set(tail);
    first = false;
  };
}
