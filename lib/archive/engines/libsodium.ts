/**
 * Opt-in engine on libsodium's WebAssembly build (`libsodium-wrappers`), faster than the pure-JS
 * engine in browsers (docs/ENGINES.md has the measured figures). Loaded by dynamic `import()` from {@link createLibsodiumEngine}, so it never
 * enters the default bundle: an app pays for libsodium.js (about 154 KB gzipped, measured with
 * esbuild; WASM embedded as base64) only if it asks.
 *
 * Same bytes as every other engine: HChaCha20 once per archive (from @noble/ciphers; the standard
 * libsodium.js build does not export `crypto_core_hchacha20`), then libsodium's
 * `crypto_aead_chacha20poly1305_ietf_*` (RFC 8439 §2.8) per chunk with the 12-byte nonce
 * 0x00000000 ‖ nonceTail (draft-irtf-cfrg-xchacha-03 §2.3.1).
 *
 * @module
 */
import { createSealGuard, NONCE_TAIL_LENGTH, type ChunkCipher, type CipherEngine } from '../engine.js';
import { abytes, wipe } from '../../util/bytes.js';
import { hchacha20 } from './noble.js';

const TAG = 16;

/**
 * The RFC 8439 12-byte nonce of one chunk: 0x00000000 ‖ nonceTail (draft-irtf-cfrg-xchacha-03
 * §2.3.1, the nonce that follows HChaCha20 in XChaCha20).
 */
function ietfNonce(nonceTail: Uint8Array): Uint8Array {
  abytes(nonceTail, 'nonceTail', NONCE_TAIL_LENGTH);
  const iv = new Uint8Array(12);
  iv.set(nonceTail, 4);
  return iv;
}

/**
 * The part of `libsodium-wrappers` this engine uses (after `await sodium.ready`). Declared
 * structurally so the types do not depend on the package, which is an optional peer.
 */
export interface LibsodiumAead {
  /** RFC 8439 AEAD encrypt; returns ciphertext ‖ 16-byte tag. */
  crypto_aead_chacha20poly1305_ietf_encrypt(
    message: Uint8Array,
    additionalData: Uint8Array | null,
    secretNonce: null,
    publicNonce: Uint8Array,
    key: Uint8Array,
  ): Uint8Array;
  /** RFC 8439 AEAD decrypt; throws when the tag does not verify. */
  crypto_aead_chacha20poly1305_ietf_decrypt(
    secretNonce: null,
    ciphertext: Uint8Array,
    additionalData: Uint8Array | null,
    publicNonce: Uint8Array,
    key: Uint8Array,
  ): Uint8Array;
}

/** Options for {@link createLibsodiumEngine}. */
export interface LibsodiumEngineOptions {
  /**
   * A ready libsodium instance to use instead of importing `libsodium-wrappers` (for an app that
   * already loaded it, or a sumo build). Must have finished `await sodium.ready`.
   */
  readonly sodium?: LibsodiumAead;
}

let loading: Promise<LibsodiumAead> | undefined;

/**
 * Import and initialise libsodium-wrappers once per realm (the worker script uses it too).
 *
 * @example
 * ```ts
 * const sodium = await loadLibsodium();
 * ```
 * @internal
 */
export function loadLibsodium(): Promise<LibsodiumAead> {
  loading ??= import('libsodium-wrappers').then(async (mod) => {
    const sodium = mod.default;
    await sodium.ready;
    return sodium as LibsodiumAead;
  });
  // A failed load (offline, CSP forbidding WebAssembly) may be retried by the next call.
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

/**
 * Load libsodium (dynamic `import('libsodium-wrappers')`, once per realm) and return an engine on it.
 * Synchronous once created; `parallelism` 1. For several cores, use it inside the worker pool:
 * `createWorkerEngine({ workers: 2, engine: 'libsodium' })`.
 *
 * @param options - optionally a ready libsodium instance.
 * @example
 * ```ts
 * import { createLibsodiumEngine } from 'e2ee-backup/engines/libsodium';
 *
 * const engine = await createLibsodiumEngine();
 * const cipher = engine.create(payloadKey, noncePrefix);
 * const sealed = cipher.seal(nonceTail, chunk, aad);
 * cipher.dispose();
 * ```
 */
export async function createLibsodiumEngine(options: LibsodiumEngineOptions = {}): Promise<CipherEngine> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const given = options.sodium;
  if (
    given !== undefined &&
    (typeof given.crypto_aead_chacha20poly1305_ietf_encrypt !== 'function' ||
      typeof given.crypto_aead_chacha20poly1305_ietf_decrypt !== 'function')
  ) {
    throw new TypeError('options.sodium must be a ready libsodium-wrappers instance');
  }
  const sodium = given ?? (await loadLibsodium());
  return libsodiumEngineFrom(sodium);
}

/**
 * The engine on an already-loaded libsodium (used by the worker script, which loads it itself).
 *
 * @example
 * ```ts
 * const engine = libsodiumEngineFrom(readySodium);
 * ```
 * @internal
 */
export function libsodiumEngineFrom(sodium: LibsodiumAead): CipherEngine {
  return {
    name: 'libsodium',
    parallelism: 1,
    create(key: Uint8Array, noncePrefix: Uint8Array): ChunkCipher {
      return new SodiumChunkCipher(sodium, hchacha20(key, noncePrefix));
    },
  };
}

class SodiumChunkCipher implements ChunkCipher {
  readonly #sodium: LibsodiumAead;
  #subkey: Uint8Array | undefined;
  readonly #guard = createSealGuard();

  constructor(sodium: LibsodiumAead, subkey: Uint8Array) {
    this.#sodium = sodium;
    this.#subkey = subkey;
  }

  #key(): Uint8Array {
    if (this.#subkey === undefined) throw new TypeError('ChunkCipher used after dispose()');
    return this.#subkey;
  }

  seal(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    const key = this.#key();
    abytes(plaintext, 'plaintext');
    abytes(aad, 'aad');
    const iv = ietfNonce(nonceTail);
    this.#guard(nonceTail); // single use per nonce, before any work (engine.ts contract)
    return this.#sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, aad, null, iv, key);
  }

  open(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
    const key = this.#key();
    abytes(sealed, 'sealed');
    abytes(aad, 'aad');
    const iv = ietfNonce(nonceTail);
    if (sealed.length < TAG) return undefined;
    try {
      // libsodium verifies the tag (constant time) before it decrypts anything.
      return this.#sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealed, aad, iv, key);
    } catch {
      return undefined;
    }
  }

  dispose(): void {
    wipe(this.#subkey);
    this.#subkey = undefined;
  }
}
