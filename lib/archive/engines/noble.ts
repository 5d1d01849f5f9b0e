/**
 * The pure-JS {@link CipherEngine}: @noble/ciphers' HChaCha20 once per archive, then
 * ChaCha20-Poly1305 (RFC 8439 §2.8) per chunk. Runs everywhere (browsers, workers, Node).
 *
 * XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03 §2.3) with the 24-byte nonce P ‖ C is
 * ChaCha20-Poly1305 under K' = HChaCha20(K, P) (§2.2) with the 12-byte nonce 0x00000000 ‖ C.
 * Deriving K' once per archive saves one HChaCha20 per chunk and gives bytes identical to
 * libsodium's `crypto_aead_xchacha20poly1305_ietf_*`.
 *
 * @module
 */
import { chacha20poly1305, hchacha } from '@noble/ciphers/chacha.js';
import { abytes, wipe } from '../../util/bytes.js';
import { createSealGuard, NONCE_TAIL_LENGTH, type ChunkCipher, type CipherEngine } from '../engine.js';

/** "expand 32-byte k", the ChaCha constant (RFC 8439 §2.3), as bytes for a native u32 view. */
const SIGMA_BYTES = /* @__PURE__ */ new TextEncoder().encode('expand 32-byte k');

/** A native-endian u32 view over a fresh, aligned copy of `bytes` (noble's hchacha convention). */
function u32Copy(bytes: Uint8Array): Uint32Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Uint32Array(copy.buffer, 0, bytes.length / 4);
}

/**
 * HChaCha20(key, input16) (draft-irtf-cfrg-xchacha-03 §2.2): the 32-byte XChaCha20 subkey.
 *
 * @example
 * ```ts
 * const subkey = hchacha20(key, noncePrefix);
 * ```
 * @internal
 */
export function hchacha20(key: Uint8Array, input16: Uint8Array): Uint8Array {
  abytes(key, 'key', 32);
  abytes(input16, 'input16', 16);
  const sigma = u32Copy(SIGMA_BYTES);
  const k = u32Copy(key);
  const n = u32Copy(input16);
  const out = new Uint32Array(8);
  // noble's hchacha takes native u32 views of the byte strings and writes native-order words
  // that, viewed as bytes, are the little-endian subkey on every host.
  hchacha(sigma, k, n, out);
  wipe(new Uint8Array(k.buffer));
  return new Uint8Array(out.buffer);
}

class NobleChunkCipher implements ChunkCipher {
  #subkey: Uint8Array;
  readonly #guard = createSealGuard();
  #disposed = false;

  constructor(subkey: Uint8Array) {
    this.#subkey = subkey;
  }

  #nonce(nonceTail: Uint8Array): Uint8Array {
    if (this.#disposed) throw new Error('ChunkCipher was disposed');
    abytes(nonceTail, 'nonceTail', NONCE_TAIL_LENGTH);
    const nonce = new Uint8Array(12);
    nonce.set(nonceTail, 4);
    return nonce;
  }

  seal(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    const nonce = this.#nonce(nonceTail);
    abytes(plaintext, 'plaintext');
    abytes(aad, 'aad');
    this.#guard(nonceTail);
    return chacha20poly1305(this.#subkey, nonce, aad).encrypt(plaintext);
  }

  sealInto(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, output: Uint8Array): void {
    const nonce = this.#nonce(nonceTail);
    abytes(plaintext, 'plaintext');
    abytes(aad, 'aad');
    abytes(output, 'output', plaintext.length + 16);
    this.#guard(nonceTail);
    chacha20poly1305(this.#subkey, nonce, aad).encrypt(plaintext, output);
  }

  openInto(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array, output: Uint8Array): boolean {
    const nonce = this.#nonce(nonceTail);
    abytes(sealed, 'sealed');
    abytes(aad, 'aad');
    if (sealed.length < 16) return false;
    abytes(output, 'output', sealed.length - 16);
    try {
      // The tag is verified before anything is written to `output` (RFC 8439 §2.8).
      chacha20poly1305(this.#subkey, nonce, aad).decrypt(sealed, output);
      return true;
    } catch {
      return false;
    }
  }

  open(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
    const nonce = this.#nonce(nonceTail);
    abytes(sealed, 'sealed');
    abytes(aad, 'aad');
    if (sealed.length < 16) return undefined;
    try {
      // noble verifies the Poly1305 tag before it decrypts (RFC 8439 §2.8), so no plaintext of
      // an unverified chunk ever exists.
      return chacha20poly1305(this.#subkey, nonce, aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  }

  dispose(): void {
    this.#disposed = true;
    wipe(this.#subkey);
  }
}

/**
 * The pure-JS engine (@noble/ciphers). Synchronous, `parallelism` 1.
 *
 * @example
 * ```ts
 * import { encryptArchive, nobleEngine } from 'e2ee-backup/archive';
 * const archive = await encryptArchive(key, keyId, bytes, { engine: nobleEngine() });
 * ```
 */
export function nobleEngine(): CipherEngine {
  return {
    name: 'noble',
    parallelism: 1,
    create(key: Uint8Array, noncePrefix: Uint8Array): ChunkCipher {
      return new NobleChunkCipher(hchacha20(key, noncePrefix));
    },
  };
}
