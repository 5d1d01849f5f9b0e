/**
 * The message protocol between the worker pool (`workers.ts`) and its workers, and the worker's
 * request handler. Environment-agnostic: `chacha-worker.ts` binds it to a Web Worker's
 * `self`; tests bind it to a `node:worker_threads` port.
 *
 * A worker is stateless: each request (a batch of chunks of one archive) carries the archive's
 * 32-byte subkey K' (HChaCha20 is done once per archive on the main thread), the AAD, the
 * chunks' 8-byte nonce tails and their inputs back to back in one buffer, which is transferred,
 * not copied. The worker runs plain ChaCha20-Poly1305 (RFC 8439 §2.8) with the nonce
 * 0x00000000 ‖ tail for each chunk, writing each result into a fresh buffer of its own (so the
 * caller gets arrays it may transfer or keep independently), wipes the plaintext inputs and its
 * copy of the key, and transfers the results and the request buffer back (the pool reuses it).
 * Statelessness means an abandoned archive leaves no key in any worker.
 *
 * @module
 * @internal
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { isBytes, wipe } from '../../util/bytes.js';
import type { LibsodiumAead } from './libsodium.js';

/** Which implementation a worker runs. */
export type WorkerCipherKind = 'noble' | 'libsodium';

/**
 * Main thread → worker. A `batch` carries up to {@link MAX_BATCH_ENTRIES} chunks of one archive
 * (one subkey, one AAD): their inputs lie back to back in `data` (a whole buffer, transferred),
 * entry `i` being `lengths[i]` bytes with operation `ops[i]` (0 seal, 1 open) and nonce tail
 * `tails[8i .. 8i+8)`. One message per batch instead of one per chunk is what keeps the main
 * thread's share small.
 */
export type WorkerRequest =
  | { readonly op: 'init'; readonly id: number; readonly engine: WorkerCipherKind }
  | {
      readonly op: 'batch';
      readonly id: number;
      readonly key: Uint8Array;
      readonly aad: Uint8Array;
      readonly ops: Uint8Array;
      readonly tails: Uint8Array;
      readonly lengths: Uint32Array;
      readonly data: Uint8Array;
    };

/**
 * Worker → main thread. For a batch: `ok[i]` is 1 when entry `i` sealed, or opened with a valid
 * tag, and 0 for a tag that did not verify; `outputs[i]` is then the sealed chunk
 * (`ciphertext ‖ tag`) or the plaintext, each in a buffer of its own (transferred), or `null`.
 * `data` is the request's buffer handed back for reuse, with every plaintext in it wiped.
 * `ok: true` alone answers `init`; `error` when the worker itself failed (libsodium did not
 * load, a malformed request).
 */
export type WorkerResponse =
  | { readonly id: number; readonly ok: true }
  | {
      readonly id: number;
      readonly ok: Uint8Array;
      readonly outputs: readonly (Uint8Array | null)[];
      readonly data: Uint8Array;
    }
  | { readonly id: number; readonly error: string };

/** A response and the buffers to transfer with it. */
export interface WorkerReply {
  /** The message to post back. */
  readonly response: WorkerResponse;
  /** Buffers to transfer (the results' and the returned request buffer). */
  readonly transfer: ArrayBuffer[];
}

const TAG = 16;

/** Most chunks in one batch. */
export const MAX_BATCH_ENTRIES = 64;
/** Largest batch buffer a worker accepts (the pool's batches are far smaller). */
const MAX_DATA = 64 * 1024 * 1024 + MAX_BATCH_ENTRIES * TAG;
/** Largest AAD a worker accepts. */
const MAX_AAD = 64 * 1024;

/**
 * ChaCha20-Poly1305 from `input` into a fresh buffer of its own: `seal` returns
 * `ciphertext ‖ tag`; `open` returns the plaintext, or `undefined` (having written no plaintext
 * anywhere) when the tag does not verify.
 */
interface RawAead {
  seal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array): Uint8Array;
  open(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array): Uint8Array | undefined;
}

const nobleAead: RawAead = {
  seal: (key, iv, aad, input) => chacha20poly1305(key, iv, aad).encrypt(input, new Uint8Array(input.length + TAG)),
  open: (key, iv, aad, input) => {
    try {
      // noble checks the tag before it writes any plaintext (RFC 8439 §2.8).
      return chacha20poly1305(key, iv, aad).decrypt(input, new Uint8Array(input.length - TAG));
    } catch {
      return undefined;
    }
  },
};

/** `b` when it is the whole of its own `ArrayBuffer` (so it can be transferred alone), else a copy. */
function owned(b: Uint8Array): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b;
  const copy = new Uint8Array(b.length);
  copy.set(b);
  wipe(b);
  return copy;
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
 * a buffer of its own; the region (key, nonce, AAD, data) is zeroed after every chunk, so no
 * subkey or plaintext stays in the WASM heap. The wrappers' own functions would instead
 * allocate and free five heap blocks per call and leave their contents behind.
 */
function rawSodiumAead(mod: SodiumModule): RawAead {
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
  const run = (op: 0 | 1, key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array): Uint8Array | undefined => {
    const outLength = op === 0 ? input.length + TAG : input.length - TAG;
    const size = 32 + 12 + aad.length + Math.max(input.length, outLength);
    const k = reserve(size);
    const npub = k + 32;
    const ad = npub + 12;
    const d = ad + aad.length;
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
      return mod.HEAPU8.slice(d, d + outLength);
    } finally {
      mod.HEAPU8.fill(0, k, k + size);
    }
  };
  return {
    seal: (key, iv, aad, input) => {
      const out = run(0, key, iv, aad, input);
      if (out === undefined) throw new Error('libsodium refused to seal');
      return out;
    },
    open: (key, iv, aad, input) => run(1, key, iv, aad, input),
  };
}

function sodiumAead(sodium: LibsodiumAead): RawAead {
  const mod = (sodium as { libsodium?: unknown }).libsodium;
  if (isSodiumModule(mod)) return rawSodiumAead(mod);
  return {
    // libsodium.js returns a fresh array copied out of the WASM heap.
    seal: (key, iv, aad, input) => owned(sodium.crypto_aead_chacha20poly1305_ietf_encrypt(input, aad, null, iv, key)),
    open: (key, iv, aad, input) => {
      try {
        // libsodium verifies the tag (constant time) before it decrypts.
        return owned(sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, input, aad, iv, key));
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * Make the request handler of one worker. `loadSodium` is injected (the browser worker passes
 * the dynamic-import loader; it runs only if the pool asks for libsodium).
 *
 * @example
 * ```ts
 * const handle = createWorkerHandler(loadLibsodium);
 * self.addEventListener('message', async (ev) => {
 *   const { response, transfer } = await handle(ev.data);
 *   self.postMessage(response, transfer);
 * });
 * ```
 * @internal
 */
export function createWorkerHandler(loadSodium: () => Promise<LibsodiumAead>): (message: unknown) => Promise<WorkerReply> {
  let aead: Promise<RawAead> = Promise.resolve(nobleAead);
  const handle = async (message: unknown, fail: (error: string) => WorkerReply, id: number): Promise<WorkerReply> => {
    const m = message as Partial<Record<string, unknown>>;
    if (m.op === 'init') {
      if (m.engine === 'libsodium') aead = loadSodium().then(sodiumAead);
      else if (m.engine === 'noble') aead = Promise.resolve(nobleAead);
      else return fail('unknown engine');
      try {
        await aead;
      } catch {
        // The reason (network, CSP) is not secret, but keep the message fixed and short.
        return fail('libsodium failed to load');
      }
      return { response: { id, ok: true }, transfer: [] };
    }
    const { op, key, aad, ops, tails, lengths, data } = m;
    if (op !== 'batch' || !isBytes(key) || !isBytes(aad) || !isBytes(ops) || !isBytes(tails) || !isBytes(data) || !(lengths instanceof Uint32Array)) {
      if (isBytes(key)) wipe(key);
      return fail('malformed request');
    }
    try {
      const n = ops.length;
      if (
        key.length !== 32 ||
        aad.length > MAX_AAD ||
        n < 1 ||
        n > MAX_BATCH_ENTRIES ||
        lengths.length !== n ||
        tails.length !== 8 * n ||
        data.length > MAX_DATA ||
        data.byteOffset !== 0 ||
        data.byteLength !== data.buffer.byteLength ||
        !(data.buffer instanceof ArrayBuffer)
      ) {
        return fail('malformed request');
      }
      let total = 0;
      for (let i = 0; i < n; i++) {
        if (ops[i]! > 1 || (ops[i] === 1 && lengths[i]! < TAG)) return fail('malformed request');
        total += lengths[i]!;
      }
      if (total > data.length) return fail('malformed request');
      let impl: RawAead;
      try {
        impl = await aead;
      } catch {
        return fail('libsodium failed to load');
      }
      const ok = new Uint8Array(n);
      const outputs: (Uint8Array | null)[] = [];
      const transfer: ArrayBuffer[] = [];
      const iv = new Uint8Array(12);
      let off = 0;
      for (let i = 0; i < n; i++) {
        const input = data.subarray(off, off + lengths[i]!);
        off += lengths[i]!;
        iv.set(tails.subarray(8 * i, 8 * i + 8), 4);
        let out: Uint8Array | undefined;
        if (ops[i] === 0) {
          out = impl.seal(key, iv, aad, input);
          wipe(input); // our copy of the plaintext
        } else {
          out = impl.open(key, iv, aad, input);
        }
        ok[i] = out === undefined ? 0 : 1;
        outputs.push(out ?? null);
        if (out !== undefined) transfer.push(out.buffer as ArrayBuffer);
      }
      // The request buffer goes back too (the pool reuses it); it was transferred to us whole.
      transfer.push(data.buffer);
      return { response: { id, ok, outputs, data }, transfer };
    } finally {
      wipe(key); // our copy of the subkey
    }
  };
  // Never rejects: every request gets exactly one reply, or the pool would wait for it forever.
  return async (message) => {
    const m = message as Partial<Record<string, unknown>> | null;
    const id = typeof m === 'object' && m !== null && Number.isSafeInteger(m.id) ? (m.id as number) : -1;
    const fail = (error: string): WorkerReply => ({ response: { id, error }, transfer: [] });
    if (id < 0) return fail('malformed request');
    try {
      return await handle(message, fail, id);
    } catch {
      // An implementation error (not a bad tag, which is ok: 0); no detail, it may be secret-adjacent.
      return fail('cipher failed');
    }
  };
}
