/**
 * Opt-in engine on libsodium's WebAssembly build (`libsodium-wrappers`), faster than the pure-JS
 * engine in browsers (docs/ENGINES.md has the measured figures). Loaded by dynamic `import()` from {@link createLibsodiumEngine}, so it never
 * enters the default bundle: an app pays for libsodium.js (about 154 KB gzipped, measured with
 * esbuild; WASM embedded as base64) only if it asks.
 *
 * Same bytes as every other engine: HChaCha20 once per archive (from @noble/ciphers; the standard
 * libsodium.js build does not export `crypto_core_hchacha20`), then libsodium's
 * `crypto_aead_chacha20poly1305_ietf_*` (RFC 8439 §2.8) per chunk with the 12-byte nonce
 * 0x00000000 ‖ nonceTail (draft-irtf-cfrg-xchacha-03 §2.3.1), called directly on one reused,
 * zeroed-after-use region of the WASM heap when the instance exposes its Emscripten module.
 *
 * @module
 */
import { createSealGuard, NONCE_TAIL_LENGTH, type ChunkCipher, type CipherEngine } from '../engine.js';
import { abytes, isBytes, wipe } from '../../util/bytes.js';
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

/**
 * The raw Emscripten module under libsodium-wrappers (`sodium.libsodium`): the C functions on
 * the WASM heap. 64-bit lengths are passed as (low, high) 32-bit halves (no WASM BigInt).
 */
interface SodiumModule {
  readonly HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  /** crypto_aead_chacha20poly1305_ietf_encrypt(c, clen_p, m, mlen, ad, adlen, nsec, npub, k). */
  _crypto_aead_chacha20poly1305_ietf_encrypt(...args: number[]): number;
  /** crypto_aead_chacha20poly1305_ietf_decrypt(m, mlen_p, nsec, c, clen, ad, adlen, npub, k). */
  _crypto_aead_chacha20poly1305_ietf_decrypt(...args: number[]): number;
}

function isSodiumModule(m: unknown): m is SodiumModule {
  const x = m as Partial<Record<keyof SodiumModule, unknown>> | null;
  return (
    typeof x === 'object' &&
    x !== null &&
    isBytes(x.HEAPU8) &&
    typeof x._malloc === 'function' &&
    typeof x._free === 'function' &&
    typeof x._crypto_aead_chacha20poly1305_ietf_encrypt === 'function' &&
    typeof x._crypto_aead_chacha20poly1305_ietf_decrypt === 'function'
  );
}

/**
 * libsodium's C functions called directly on one reused heap region: the input is copied in
 * once, sealed or opened in place (libsodium allows c == m), and the result copied out once into
 * a buffer of its own; after every chunk the key, nonce and AAD are zeroed, and so is the data
 * unless it is ciphertext that overwrote the plaintext in place, so no subkey or plaintext stays
 * in the WASM heap. The wrappers' own functions would instead
 * allocate and free five heap blocks per call and leave their contents behind.
 */
function rawOn(mod: SodiumModule): RawSodiumAead {
  let base = 0;
  let capacity = 0;
  const reserve = (size: number): number => {
    if (size > capacity) {
      if (base !== 0) {
        mod.HEAPU8.fill(0, base, base + capacity);
        mod._free(base);
      }
      base = 0;
      capacity = 0;
      const p = mod._malloc(size);
      if (p === 0) throw new Error('libsodium heap exhausted');
      base = p;
      capacity = size;
    }
    return base;
  };
  const run = (op: 0 | 1, key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array, output?: Uint8Array): Uint8Array | undefined => {
    const outLength = op === 0 ? input.length + TAG : input.length - TAG;
    const size = 32 + 12 + aad.length + Math.max(input.length, outLength);
    const k = reserve(size);
    const npub = k + 32;
    const ad = npub + 12;
    const d = ad + aad.length;
    // What to zero afterwards: everything, unless a seal succeeded, which overwrote the
    // plaintext in place with ciphertext (public): then the key, nonce and AAD only.
    let zeroEnd = k + size;
    try {
      const heap = mod.HEAPU8; // read after any malloc: growing memory replaces the view
      heap.set(key, k);
      heap.set(iv, npub);
      heap.set(aad, ad);
      heap.set(input, d);
      const rc =
        op === 0
          ? mod._crypto_aead_chacha20poly1305_ietf_encrypt(d, 0, d, input.length, 0, ad, aad.length, 0, 0, npub, k)
          : mod._crypto_aead_chacha20poly1305_ietf_decrypt(d, 0, 0, d, input.length, 0, ad, aad.length, 0, npub, k);
      // decrypt verifies the tag (constant time) before it writes any plaintext.
      if (rc !== 0) return undefined;
      if (op === 0) zeroEnd = d;
      // Into the caller's buffer when given (no allocation per chunk), else a fresh one.
      if (output === undefined) return mod.HEAPU8.slice(d, d + outLength);
      output.set(mod.HEAPU8.subarray(d, d + outLength));
      return output;
    } finally {
      mod.HEAPU8.fill(0, k, zeroEnd);
    }
  };
  return {
    seal: (key, iv, aad, input) => {
      const out = run(0, key, iv, aad, input);
      if (out === undefined) throw new Error('libsodium refused to seal');
      return out;
    },
    open: (key, iv, aad, input) => run(1, key, iv, aad, input),
    sealInto: (key, iv, aad, input, output) => {
      if (output.length !== input.length + TAG) throw new RangeError('output must be input.length + 16 bytes');
      if (run(0, key, iv, aad, input, output) === undefined) throw new Error('libsodium refused to seal');
    },
    openInto: (key, iv, aad, input, output) => {
      if (output.length !== input.length - TAG) throw new RangeError('output must be input.length - 16 bytes');
      return run(1, key, iv, aad, input, output) !== undefined;
    },
  };
}

/** ChaCha20-Poly1305 (RFC 8439) on libsodium's heap: each result in a fresh buffer of its own. */
export interface RawSodiumAead {
  /** `ciphertext ‖ tag`. */
  seal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array): Uint8Array;
  /** The plaintext, or `undefined` when the tag does not verify. */
  open(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array): Uint8Array | undefined;
  /** `ciphertext ‖ tag` into `output` (input.length + 16 bytes). */
  sealInto(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array): void;
  /** The plaintext into `output` (input.length - 16 bytes); `false`, with nothing written, when the tag does not verify. */
  openInto(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array): boolean;
}

/**
 * The direct, heap-zeroing path on a loaded libsodium-wrappers, or `undefined` when the instance
 * does not expose its Emscripten module (a custom build): callers then use the wrappers' API.
 *
 * @example
 * ```ts
 * const raw = rawSodiumAead(await loadLibsodium());
 * ```
 * @internal
 */
export function rawSodiumAead(sodium: LibsodiumAead): RawSodiumAead | undefined {
  const mod = (sodium as { libsodium?: unknown }).libsodium;
  return isSodiumModule(mod) ? rawOn(mod) : undefined;
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
 * `createWorkerEngine({ workers: 2, engine: 'libsodium' })` from `e2ee-backup/workers`.
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
  const raw = rawSodiumAead(sodium);
  return {
    name: 'libsodium',
    parallelism: 1,
    create(key: Uint8Array, noncePrefix: Uint8Array): ChunkCipher {
      return new SodiumChunkCipher(sodium, raw, hchacha20(key, noncePrefix));
    },
  };
}

class SodiumChunkCipher implements ChunkCipher {
  readonly #sodium: LibsodiumAead;
  readonly #raw: RawSodiumAead | undefined;
  #subkey: Uint8Array | undefined;
  readonly #guard = createSealGuard();

  constructor(sodium: LibsodiumAead, raw: RawSodiumAead | undefined, subkey: Uint8Array) {
    this.#sodium = sodium;
    this.#raw = raw;
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
    if (this.#raw !== undefined) return this.#raw.seal(key, iv, aad, plaintext);
    return this.#sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, aad, null, iv, key);
  }

  sealInto(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, output: Uint8Array): void {
    const key = this.#key();
    abytes(plaintext, 'plaintext');
    abytes(aad, 'aad');
    abytes(output, 'output', plaintext.length + TAG);
    const iv = ietfNonce(nonceTail);
    this.#guard(nonceTail); // single use per nonce, before any work (engine.ts contract)
    if (this.#raw !== undefined) return this.#raw.sealInto(key, iv, aad, plaintext, output);
    output.set(this.#sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, aad, null, iv, key));
  }

  openInto(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array, output: Uint8Array): boolean {
    const key = this.#key();
    abytes(sealed, 'sealed');
    abytes(aad, 'aad');
    const iv = ietfNonce(nonceTail);
    if (sealed.length < TAG) return false;
    abytes(output, 'output', sealed.length - TAG);
    if (this.#raw !== undefined) return this.#raw.openInto(key, iv, aad, sealed, output);
    try {
      const plain = this.#sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealed, aad, iv, key);
      output.set(plain);
      wipe(plain);
      return true;
    } catch {
      return false;
    }
  }

  open(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
    const key = this.#key();
    abytes(sealed, 'sealed');
    abytes(aad, 'aad');
    const iv = ietfNonce(nonceTail);
    if (sealed.length < TAG) return undefined;
    if (this.#raw !== undefined) return this.#raw.open(key, iv, aad, sealed);
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
