/**
 * The message protocol between the worker pool (`workers.ts`) and its workers, and the worker's
 * request handler. Environment-agnostic: `chacha-worker.ts` binds it to a Web Worker's
 * `self`; tests bind it to a `node:worker_threads` port.
 *
 * A worker is stateless: each request carries the archive's 32-byte subkey K' (HChaCha20 is done
 * once per archive on the main thread), the 8-byte nonce tail, the AAD and the data, whose
 * buffer is transferred, not copied. The worker runs plain ChaCha20-Poly1305 (RFC 8439 §2.8) with
 * the nonce 0x00000000 ‖ tail *in place* in that buffer (sealing overwrites the plaintext with
 * the ciphertext, so no plaintext copy is left behind), wipes its copy of the key, and transfers
 * the same buffer back. Statelessness means an abandoned archive leaves no key in any worker.
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
 * Main thread → worker. `data` is a whole, transferred buffer: `plaintext ‖ 16 spare bytes` to
 * seal, `ciphertext ‖ tag` to open.
 */
export type WorkerRequest =
  | { readonly op: 'init'; readonly id: number; readonly engine: WorkerCipherKind }
  | {
      readonly op: 'seal' | 'open';
      readonly id: number;
      readonly key: Uint8Array;
      readonly nonceTail: Uint8Array;
      readonly aad: Uint8Array;
      readonly data: Uint8Array;
    };

/**
 * Worker → main thread. `ok: true` with `data` (the request's buffer, transferred back) holding
 * `ciphertext ‖ tag` or `plaintext ‖ tag` for a sealed or opened chunk,
 * `ok: true` without data for `init`; `ok: false` for a tag that did not verify; `error` when the
 * worker itself failed (libsodium did not load, a malformed request).
 */
export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly data?: Uint8Array }
  | { readonly id: number; readonly ok: false }
  | { readonly id: number; readonly error: string };

/** A response and the buffers to transfer with it. */
export interface WorkerReply {
  /** The message to post back. */
  readonly response: WorkerResponse;
  /** Buffers to transfer (the result's). */
  readonly transfer: ArrayBuffer[];
}

const TAG = 16;

/** Largest chunk a worker accepts (the archive format caps chunks far below this). */
const MAX_DATA = 64 * 1024 * 1024;
/** Largest AAD a worker accepts. */
const MAX_AAD = 64 * 1024;

/**
 * ChaCha20-Poly1305 in place on `buf` (plaintext or ciphertext length + 16 bytes): sealing turns
 * `plaintext ‖ 16 spare bytes` into `ciphertext ‖ tag`; opening turns `ciphertext ‖ tag` into
 * `plaintext ‖ (tag)` and returns false, leaving `buf` untouched, when the tag does not verify.
 * In place means no allocation per chunk and no plaintext copy left behind to wipe.
 */
interface RawAead {
  seal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, buf: Uint8Array): void;
  open(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, buf: Uint8Array): boolean;
}

const nobleAead: RawAead = {
  // noble reads its input before writing the same bytes (same offset), so in place is exact.
  seal: (key, iv, aad, buf) => void chacha20poly1305(key, iv, aad).encrypt(buf.subarray(0, buf.length - TAG), buf),
  open: (key, iv, aad, buf) => {
    try {
      // noble checks the tag before it writes any plaintext (RFC 8439 §2.8).
      chacha20poly1305(key, iv, aad).decrypt(buf, buf.subarray(0, buf.length - TAG));
      return true;
    } catch {
      return false;
    }
  },
};

function sodiumAead(sodium: LibsodiumAead): RawAead {
  return {
    seal: (key, iv, aad, buf) => {
      // The result is ciphertext ‖ tag; writing it over buf also overwrites our plaintext copy.
      buf.set(sodium.crypto_aead_chacha20poly1305_ietf_encrypt(buf.subarray(0, buf.length - TAG), aad, null, iv, key));
    },
    open: (key, iv, aad, buf) => {
      let pt: Uint8Array;
      try {
        pt = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, buf, aad, iv, key);
      } catch {
        return false;
      }
      buf.set(pt);
      wipe(pt);
      return true;
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
    const { op, key, nonceTail, aad, data } = m;
    if ((op !== 'seal' && op !== 'open') || !isBytes(key) || !isBytes(nonceTail) || !isBytes(aad) || !isBytes(data)) {
      return fail('malformed request');
    }
    try {
      if (key.length !== 32 || nonceTail.length !== 8 || aad.length > MAX_AAD || data.length < TAG || data.length > MAX_DATA) {
        return fail('malformed request');
      }
      let impl: RawAead;
      try {
        impl = await aead;
      } catch {
        return fail('libsodium failed to load');
      }
      const iv = new Uint8Array(12);
      iv.set(nonceTail, 4);
      if (op === 'seal') impl.seal(key, iv, aad, data);
      else if (!impl.open(key, iv, aad, data)) return { response: { id, ok: false }, transfer: [] };
      // The same buffer goes back. It was transferred to us whole (the pool sends a fresh,
      // zero-offset buffer), so transferring it back detaches nothing else.
      const transfer = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer ? [data.buffer] : [];
      return { response: { id, ok: true, data }, transfer };
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
      // An implementation error (not a bad tag, which is ok: false); no detail, it may be secret-adjacent.
      return fail('cipher failed');
    }
  };
}
