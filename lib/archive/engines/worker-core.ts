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
import { rawSodiumAead, type LibsodiumAead } from './libsodium.js';

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
