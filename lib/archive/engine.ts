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

/** Seals and opens the chunks of one archive. Created per archive; wipe with `dispose()`. */
export interface ChunkCipher {
  /**
   * Seal one chunk. `nonceTail` is the 8-byte C = counter(7, big-endian) ‖ final-flag(1).
   * Returns ciphertext ‖ 16-byte tag.
   */
  seal(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /**
   * Open one chunk; returns the plaintext, or `undefined` when the tag does not verify (never
   * throws on a bad tag, so every caller maps it to the same error).
   */
  open(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /** Wipe the subkey. */
  dispose(): void;
}

/** A source of {@link ChunkCipher}s. */
export interface CipherEngine {
  /**
   * How many chunks the archive streams should keep in flight with this engine (1 for a
   * synchronous engine; the worker pool answers its worker count).
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
