/**
 * The Node fast path: HChaCha20 from @noble/ciphers once per archive, then OpenSSL's
 * ChaCha20-Poly1305 (RFC 8439 §2.8) through `node:crypto` for every chunk. Same bytes as the
 * pure-JS engine (`noble.ts`, docs/ENGINES.md), several times faster (measured figures there).
 *
 * This module never imports `node:crypto` itself: the caller hands the module in (it is an
 * injected side effect), and {@link nodeCryptoFromRuntime} finds it through
 * `process.getBuiltinModule`, so a browser bundle that includes this file has no `node:` import.
 *
 * @module
 */
import { createSealGuard, NONCE_TAIL_LENGTH, type ChunkCipher, type CipherEngine, type SealedParts } from '../engine.js';
import { abytes, wipe } from '../../util/bytes.js';
import { hchacha20 } from './noble.js';

const TAG = 16;
/** `createCipheriv`/`createDecipheriv` options, shared by every call (Node only reads them). */
const AEAD_OPTIONS = { authTagLength: TAG } as const;

/**
 * The RFC 8439 12-byte nonce of one chunk: 0x00000000 ‖ nonceTail (draft-irtf-cfrg-xchacha-03
 * §2.3.1, the nonce that follows HChaCha20 in XChaCha20).
 */
function ietfNonce(iv: Uint8Array, nonceTail: Uint8Array): Uint8Array {
  abytes(nonceTail, 'nonceTail', NONCE_TAIL_LENGTH);
  iv.set(nonceTail, 4);
  return iv;
}

/**
 * A plain `Uint8Array` over `b`'s bytes. Node allocates the outputs of `update()` and
 * `getAuthTag()` as buffers of their own; when `b` is the whole of its `ArrayBuffer` (checked,
 * not assumed) it is viewed as is, otherwise (a slice of Node's shared pool, whose neighbours are
 * unrelated data) copied.
 */
function ownView(b: Uint8Array): Uint8Array {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length && b.buffer instanceof ArrayBuffer) return new Uint8Array(b.buffer, 0, b.length);
  const copy = new Uint8Array(b.length);
  copy.set(b);
  return copy;
}

function concatOwned(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The `chacha20-poly1305` cipher object of `node:crypto` (the part this engine uses). */
export interface NodeAeadCipher {
  /** Set the associated data; `plaintextLength` is required by OpenSSL for AEAD modes. */
  setAAD(aad: Uint8Array, options: { plaintextLength: number }): unknown;
  /** Encrypt a piece. */
  update(data: Uint8Array): Uint8Array;
  /** Finish (no output for a stream cipher). */
  final(): Uint8Array;
  /** The 16-byte Poly1305 tag, after `final()`. */
  getAuthTag(): Uint8Array;
}

/** The `chacha20-poly1305` decipher object of `node:crypto` (the part this engine uses). */
export interface NodeAeadDecipher {
  /** Set the associated data. */
  setAAD(aad: Uint8Array, options: { plaintextLength: number }): unknown;
  /** Set the expected tag before `final()`. */
  setAuthTag(tag: Uint8Array): unknown;
  /** Decrypt a piece (released by this engine only after `final()` verified the tag). */
  update(data: Uint8Array): Uint8Array;
  /** Verify the tag; throws when it does not match. */
  final(): Uint8Array;
}

/**
 * The part of `node:crypto` the engine needs. `import * as crypto from 'node:crypto'` satisfies
 * it; declared structurally so the public types do not depend on `@types/node`.
 */
export interface NodeCryptoAead {
  /** `crypto.createCipheriv`. */
  createCipheriv(algorithm: 'chacha20-poly1305', key: Uint8Array, iv: Uint8Array, options: { authTagLength: number }): NodeAeadCipher;
  /** `crypto.createDecipheriv`. */
  createDecipheriv(algorithm: 'chacha20-poly1305', key: Uint8Array, iv: Uint8Array, options: { authTagLength: number }): NodeAeadDecipher;
}

/**
 * `node:crypto` from the running Node, without a static import: `process.getBuiltinModule`
 * (Node ≥ 20.16) keeps `node:` specifiers out of browser bundles. `undefined` outside Node, in
 * an older Node, or when OpenSSL lacks ChaCha20-Poly1305 (a FIPS build, say).
 *
 * @example
 * ```ts
 * const nodeCrypto = nodeCryptoFromRuntime();
 * const engine = nodeCrypto ? createNodeEngine(nodeCrypto) : nobleEngine();
 * ```
 */
export function nodeCryptoFromRuntime(): NodeCryptoAead | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.('node:crypto') as
    | (NodeCryptoAead & { getCiphers?: () => string[] })
    | undefined;
  if (mod === undefined || typeof mod.createCipheriv !== 'function' || typeof mod.createDecipheriv !== 'function') {
    return undefined;
  }
  if (typeof mod.getCiphers === 'function' && !mod.getCiphers().includes('chacha20-poly1305')) return undefined;
  return mod;
}

/**
 * A {@link CipherEngine} on `node:crypto`'s ChaCha20-Poly1305. Synchronous; `parallelism` 1.
 *
 * @param nodeCrypto - the `node:crypto` module (or anything with the same two functions).
 * @example
 * ```ts
 * import * as nodeCrypto from 'node:crypto';
 * import { createNodeEngine } from 'e2ee-backup/archive';
 *
 * const engine = createNodeEngine(nodeCrypto);
 * const cipher = engine.create(payloadKey, noncePrefix);
 * const sealed = cipher.seal(nonceTail, chunk, aad);
 * cipher.dispose();
 * ```
 */
export function createNodeEngine(nodeCrypto: NodeCryptoAead): CipherEngine {
  if (
    typeof nodeCrypto !== 'object' ||
    nodeCrypto === null ||
    typeof nodeCrypto.createCipheriv !== 'function' ||
    typeof nodeCrypto.createDecipheriv !== 'function'
  ) {
    throw new TypeError('nodeCrypto must be the node:crypto module');
  }
  return {
    name: 'node',
    parallelism: 1,
    create(key: Uint8Array, noncePrefix: Uint8Array): ChunkCipher {
      return new NodeChunkCipher(nodeCrypto, hchacha20(key, noncePrefix));
    },
  };
}

class NodeChunkCipher implements ChunkCipher {
  readonly #crypto: NodeCryptoAead;
  #subkey: Uint8Array | undefined;
  readonly #guard = createSealGuard();
  // The 12-byte nonce, rewritten per chunk: its first 4 bytes stay zero, and OpenSSL copies the
  // nonce into the cipher context when the cipher is created, so nothing keeps this buffer.
  readonly #iv = new Uint8Array(12);

  constructor(nodeCrypto: NodeCryptoAead, subkey: Uint8Array) {
    this.#crypto = nodeCrypto;
    this.#subkey = subkey;
  }

  #key(): Uint8Array {
    if (this.#subkey === undefined) throw new TypeError('ChunkCipher used after dispose()');
    return this.#subkey;
  }

  seal(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    const { ciphertext, tag } = this.sealParts(nonceTail, plaintext, aad);
    // One copy into ct ‖ tag, as the `seal` contract asks; the archive layer uses sealParts.
    const out = new Uint8Array(ciphertext.length + TAG);
    out.set(ciphertext, 0);
    out.set(tag, ciphertext.length);
    return out;
  }

  sealParts(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): SealedParts {
    const key = this.#key();
    abytes(plaintext, 'plaintext');
    abytes(aad, 'aad');
    const iv = ietfNonce(this.#iv, nonceTail);
    this.#guard(nonceTail); // single use per nonce, before any work (engine.ts contract)
    const c = this.#crypto.createCipheriv('chacha20-poly1305', key, iv, AEAD_OPTIONS);
    c.setAAD(aad, { plaintextLength: plaintext.length });
    const ct = c.update(plaintext);
    const tail = c.final(); // empty for a stream cipher; handled anyway
    const ciphertext = tail.length === 0 ? ownView(ct) : concatOwned(ct, tail);
    return { ciphertext, tag: ownView(c.getAuthTag()) };
  }

  open(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
    const key = this.#key();
    abytes(sealed, 'sealed');
    abytes(aad, 'aad');
    const iv = ietfNonce(this.#iv, nonceTail);
    if (sealed.length < TAG) return undefined;
    const ctLen = sealed.length - TAG;
    const d = this.#crypto.createDecipheriv('chacha20-poly1305', key, iv, AEAD_OPTIONS);
    d.setAuthTag(sealed.subarray(ctLen));
    d.setAAD(aad, { plaintextLength: ctLen });
    const pt = d.update(sealed.subarray(0, ctLen));
    try {
      d.final(); // RFC 8439 §2.8: the tag is checked here; OpenSSL compares in constant time.
    } catch {
      // update() already produced unauthenticated plaintext: wipe it, never release it.
      wipe(pt);
      return undefined;
    }
    // Node allocates update()'s output as its own ArrayBuffer; when it is (checked, not assumed),
    // hand out a plain Uint8Array view of it instead of copying the plaintext once more.
    if (pt.byteOffset === 0 && pt.buffer.byteLength === ctLen) return new Uint8Array(pt.buffer, 0, ctLen);
    const out = new Uint8Array(ctLen);
    out.set(pt);
    wipe(pt);
    return out;
  }

  dispose(): void {
    wipe(this.#subkey);
    this.#subkey = undefined;
  }
}
