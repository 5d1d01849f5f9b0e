/**
 * The message protocol between the worker pool (`workers.ts`) and its workers, and the worker's
 * request handler. Environment-agnostic: `chacha-worker.ts` binds it to a Web Worker's
 * `self`; tests bind it to a `node:worker_threads` port.
 *
 * A worker is stateless: each request (a batch of chunks of one archive) carries the archive's
 * 32-byte subkey K' (HChaCha20 is done once per archive on the main thread), the chunks'
 * operations, 8-byte nonce tails and lengths and the AAD in one small array (cloned; the worker
 * wipes the key in it), and the chunks' inputs back to back in one buffer, which is transferred,
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
import { rawSodiumAead, type LibsodiumAead } from './libsodium.js';

/** Which implementation a worker runs. */
export type WorkerCipherKind = 'noble' | 'libsodium';

/**
 * Main thread → worker. A `batch` carries `n` (up to {@link MAX_BATCH_ENTRIES}) chunks of one
 * archive (one subkey, one AAD): their inputs lie back to back in `data` (a whole buffer,
 * transferred). Everything else travels in one small array, `meta` (see {@link batchMeta}):
 * the 32-byte subkey, then `ops` (n bytes: 0 seal, 1 open), the nonce tails (8 bytes each),
 * the input lengths (4 bytes each, little-endian) and the AAD. One message and two arrays per
 * batch, instead of one message per chunk or an array per field, is what keeps the main
 * thread's share small.
 */
export type WorkerRequest =
  | { readonly op: 'init'; readonly id: number; readonly engine: WorkerCipherKind }
  | {
      readonly op: 'batch';
      readonly id: number;
      readonly n: number;
      readonly meta: Uint8Array;
      readonly data: Uint8Array;
    };

/**
 * Worker → main thread. For a batch: `outputs[i]` is entry `i`'s sealed chunk
 * (`ciphertext ‖ tag`) or plaintext, each in a buffer of its own (transferred), or `null` for
 * an open whose tag did not verify. `data` is the request's buffer handed back for reuse, with
 * every plaintext in it wiped. `ok: true` alone answers `init`; `error` when the worker itself
 * failed (libsodium did not load, a malformed request).
 */
export type WorkerResponse =
  | { readonly id: number; readonly ok: true }
  | {
      readonly id: number;
      readonly outputs: readonly (Uint8Array | null)[];
      readonly data: Uint8Array;
    }
  | { readonly id: number; readonly error: string };

/** Where each field of a batch's `meta` array starts, for `n` entries. */
export interface BatchMetaLayout {
  /** The subkey: bytes [0, 32). */
  readonly key: 0;
  /** `ops`: n bytes. */
  readonly ops: number;
  /** Nonce tails: 8n bytes. */
  readonly tails: number;
  /** Input lengths: 4n bytes, little-endian u32. */
  readonly lengths: number;
  /** The AAD: the rest. */
  readonly aad: number;
}

/**
 * The layout of a batch's `meta` array (shared by the pool, which writes it, and the worker).
 *
 * @example
 * ```ts
 * const at = batchMeta(n);
 * const meta = new Uint8Array(at.aad + aad.length);
 * ```
 * @internal
 */
export function batchMeta(n: number): BatchMetaLayout {
  return { key: 0, ops: 32, tails: 32 + n, lengths: 32 + 9 * n, aad: 32 + 13 * n };
}

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

function sodiumAead(sodium: LibsodiumAead): RawAead {
  const raw = rawSodiumAead(sodium);
  if (raw !== undefined) return raw;
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
 *   self.postMessage(response, { transfer });
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
    const { op, n, meta, data } = m;
    if (op !== 'batch' || !isBytes(meta) || !isBytes(data) || typeof n !== 'number' || !Number.isSafeInteger(n)) {
      if (isBytes(meta)) wipe(meta.subarray(0, 32));
      return fail('malformed request');
    }
    const key = meta.subarray(0, 32);
    try {
      const at = batchMeta(n);
      if (
        n < 1 ||
        n > MAX_BATCH_ENTRIES ||
        meta.length < at.aad ||
        meta.length - at.aad > MAX_AAD ||
        data.length > MAX_DATA ||
        data.byteOffset !== 0 ||
        data.byteLength !== data.buffer.byteLength ||
        !(data.buffer instanceof ArrayBuffer)
      ) {
        return fail('malformed request');
      }
      const ops = meta.subarray(at.ops, at.tails);
      const tails = meta.subarray(at.tails, at.lengths);
      const lengthView = new DataView(meta.buffer, meta.byteOffset + at.lengths, 4 * n);
      const aad = meta.subarray(at.aad);
      const lengths = new Uint32Array(n);
      let total = 0;
      for (let i = 0; i < n; i++) {
        lengths[i] = lengthView.getUint32(4 * i, true);
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
        outputs.push(out ?? null);
        if (out !== undefined) transfer.push(out.buffer as ArrayBuffer);
      }
      // The request buffer goes back too (the pool reuses it); it was transferred to us whole.
      transfer.push(data.buffer);
      return { response: { id, outputs, data }, transfer };
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
