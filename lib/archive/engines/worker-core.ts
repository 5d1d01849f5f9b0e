/**
 * The message protocol between the worker pool (`workers.ts`) and its workers, and the worker's
 * request handler. Environment-agnostic: `chacha-worker.ts` binds it to a Web Worker's
 * `self`; tests bind it to a `node:worker_threads` port.
 *
 * A worker is stateless: each request carries the archive's 32-byte subkey K' (HChaCha20 is done
 * once per archive on the main thread), the 8-byte nonce tail, the AAD and the data, whose
 * buffer is transferred, not copied. The worker runs plain ChaCha20-Poly1305 (RFC 8439 §2.8) with
 * the nonce 0x00000000 ‖ tail, wipes its copies of the key and the input, and transfers the result
 * back. Statelessness means an abandoned archive leaves no key behind in any worker.
 *
 * @module
 * @internal
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { isBytes, wipe } from '../../util/bytes.js';
import type { LibsodiumAead } from './libsodium.js';

/** Which implementation a worker runs. */
export type WorkerCipherKind = 'noble' | 'libsodium';

/** Main thread → worker. `data`'s buffer is transferred. */
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
 * Worker → main thread. `ok: true` with `data` (transferred) for a sealed or opened chunk,
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

/** Largest chunk a worker accepts (the archive format caps chunks far below this). */
const MAX_DATA = 64 * 1024 * 1024;
/** Largest AAD a worker accepts. */
const MAX_AAD = 64 * 1024;

interface RawAead {
  seal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array;
  /** Plaintext, or undefined for a bad tag. */
  open(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array | undefined;
}

const nobleAead: RawAead = {
  seal: (key, iv, aad, data) => chacha20poly1305(key, iv, aad).encrypt(data),
  open: (key, iv, aad, data) => {
    try {
      return chacha20poly1305(key, iv, aad).decrypt(data);
    } catch {
      return undefined;
    }
  },
};

function sodiumAead(sodium: LibsodiumAead): RawAead {
  return {
    seal: (key, iv, aad, data) => sodium.crypto_aead_chacha20poly1305_ietf_encrypt(data, aad, null, iv, key),
    open: (key, iv, aad, data) => {
      try {
        return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, data, aad, iv, key);
      } catch {
        return undefined;
      }
    },
  };
}

/** A fresh, exclusively owned buffer, so transferring it detaches nothing else. */
function owned(a: Uint8Array): Uint8Array<ArrayBuffer> {
  if (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer) {
    return a as Uint8Array<ArrayBuffer>;
  }
  const out = new Uint8Array(a.length);
  out.set(a);
  return out;
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
      if (key.length !== 32 || nonceTail.length !== 8 || aad.length > MAX_AAD || data.length > MAX_DATA) {
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
      if (op === 'seal') {
        const out = owned(impl.seal(key, iv, aad, data));
        return { response: { id, ok: true, data: out }, transfer: [out.buffer] };
      }
      const pt = impl.open(key, iv, aad, data);
      if (pt === undefined) return { response: { id, ok: false }, transfer: [] };
      const out = owned(pt);
      return { response: { id, ok: true, data: out }, transfer: [out.buffer] };
    } finally {
      // Our copies: the subkey, and the plaintext we were sent to seal (or the ciphertext).
      wipe(key, data);
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
