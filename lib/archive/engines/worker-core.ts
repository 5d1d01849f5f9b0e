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
 * 0x00000000 ‖ tail for each chunk, in place in that buffer: a seal's slot has 16 spare bytes after
 * its plaintext and ends up holding `ciphertext ‖ tag` (no plaintext left), an open's slot ends up
 * holding the plaintext in its first `length - 16` bytes when the tag verified (nothing written
 * otherwise). It wipes its copy of the key and transfers the buffer back: no buffer is allocated
 * per chunk on either side (the pool copies each result out where its caller wants it, wipes the
 * plaintext left in the buffer and reuses it). Statelessness means an abandoned archive leaves no
 * key in any worker.
 *
 * @module
 * @internal
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { isBytes, wipe } from '../../util/bytes.js';
import { chunkNonceTail } from '../engine.js';
import { rawSodiumAead, type LibsodiumAead } from './libsodium.js';

/** Which implementation a worker runs. */
export type WorkerCipherKind = 'noble' | 'libsodium';

/**
 * Main thread → worker. A `batch` carries `n` (up to {@link MAX_BATCH_ENTRIES}) chunks of one
 * archive (one subkey, one AAD): their inputs lie in `data` (a whole buffer, transferred), one slot
 * after the other, a seal's slot 16 bytes longer than its input (room for the tag), an open's as
 * long as its input. Everything else travels in one small array, `meta` (see {@link batchMeta}):
 * the 32-byte subkey, then `ops` (n bytes: 0 seal, 1 open), the nonce tails (8 bytes each),
 * the input lengths (4 bytes each, little-endian) and the AAD. One message and two arrays per
 * batch, instead of one message per chunk or an array per field, is what keeps the main
 * thread's share small.
 */
export type WorkerRequest =
  | { readonly op: 'init'; readonly id: number; readonly engine: WorkerCipherKind }
  | {
      /**
       * A restore window read and opened here: `url` and `headers` are the ranged GET the blob
       * store gave for `count` whole sealed chunks of `chunkSize + 16` bytes, from chunk `first`
       * on (none of them the final chunk), within `timeoutMs`; `meta` is the 32-byte subkey, then
       * the AAD.
       */
      readonly op: 'fetch';
      readonly id: number;
      readonly url: string;
      readonly headers: Readonly<Record<string, string>>;
      readonly timeoutMs: number;
      /** Read the answer with `blob()` (Chromium's fastest, filled on its IO thread) or `arrayBuffer()`. */
      readonly read: 'blob' | 'stream';
      readonly first: number;
      readonly count: number;
      readonly chunkSize: number;
      readonly meta: Uint8Array;
    }
  | {
      readonly op: 'batch';
      readonly id: number;
      readonly n: number;
      readonly meta: Uint8Array;
      readonly data: Uint8Array;
    }
  /**
   * A backup part's body made here: `new Blob([data[0..length)])` (ciphertext only), so the copy
   * into the browser's blob storage costs this thread, not the page's. `data` is a whole buffer,
   * transferred, and comes back with the `Blob`.
   */
  | { readonly op: 'blob'; readonly id: number; readonly data: Uint8Array; readonly length: number };

/**
 * Worker → main thread. For a batch: `ok[i]` is 1 when entry `i` succeeded (a seal always does; an
 * open when its tag verified) and 0 otherwise; the results are in `data`, the request's buffer
 * handed back, in place (see the module comment). `ok: true` alone answers `init`; `error` when
 * the worker itself failed (libsodium did not load, a malformed request).
 */
export type WorkerResponse =
  | { readonly id: number; readonly ok: true }
  | {
      readonly id: number;
      readonly ok: Uint8Array;
      readonly data: Uint8Array;
    }
  | { readonly id: number; readonly error: string }
  /**
   * For a fetch: the window's plaintext, chunk after chunk (`count × chunkSize` bytes, the whole
   * buffer, transferred); or `auth: true` when a chunk's tag did not verify (nothing released);
   * or `status` (the HTTP status, 0 for a network failure or a body of another length) when the
   * read did not give the window: the pool then reads it through the store.
   */
  | { readonly id: number; readonly plain: Uint8Array }
  /** For a blob request: the part's body, and the request's buffer handed back. */
  | { readonly id: number; readonly blob: Blob; readonly data: Uint8Array }
  | { readonly id: number; readonly auth: true }
  | { readonly id: number; readonly status: number };

/**
 * The slot an entry takes in a batch buffer: its input, plus 16 bytes for a seal's tag.
 *
 * @example
 * ```ts
 * const bytes = slotLength(0, plaintext.length); // plaintext.length + 16
 * ```
 * @internal
 */
export function slotLength(op: 0 | 1, inputLength: number): number {
  return op === 0 ? inputLength + TAG : inputLength;
}

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
  /** Buffers to transfer (the returned request buffer). */
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
 * ChaCha20-Poly1305 written into `output`, which may start where `input` does (in place):
 * `sealInto` writes `ciphertext ‖ tag`; `openInto` writes the plaintext and returns `true`, or
 * returns `false` having written nothing when the tag does not verify.
 */
interface RawAead {
  sealInto(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array): void;
  openInto(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array): boolean;
}

const nobleAead: RawAead = {
  // noble copies the input into `output` first and works there, so the same start is safe.
  sealInto: (key, iv, aad, input, output) => void chacha20poly1305(key, iv, aad).encrypt(input, output),
  openInto: (key, iv, aad, input, output) => {
    try {
      // noble checks the tag before it writes any plaintext (RFC 8439 §2.8).
      chacha20poly1305(key, iv, aad).decrypt(input, output);
      return true;
    } catch {
      return false;
    }
  },
};

function sodiumAead(sodium: LibsodiumAead): RawAead {
  // The raw heap path copies the input into the WASM heap before it writes `output`.
  const raw = rawSodiumAead(sodium);
  if (raw !== undefined) return raw;
  return {
    // libsodium.js returns a fresh array copied out of the WASM heap.
    sealInto: (key, iv, aad, input, output) => output.set(sodium.crypto_aead_chacha20poly1305_ietf_encrypt(input, aad, null, iv, key)),
    openInto: (key, iv, aad, input, output) => {
      try {
        // libsodium verifies the tag (constant time) before it decrypts.
        const plain = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, input, aad, iv, key);
        output.set(plain);
        wipe(plain);
        return true;
      } catch {
        return false;
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
    if (m.op === 'fetch') return fetchWindow(m, await aead, id);
    if (m.op === 'blob') {
      const { data, length } = m;
      if (!isBytes(data) || data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || !(data.buffer instanceof ArrayBuffer)) return fail('malformed request');
      // No MAX_DATA here: the bytes are already this thread's (transferred), and a part may be
      // larger than any batch (partSize is the app's, up to the store's maxPartSize).
      if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0 || length > data.length) return fail('malformed request');
      const blob = new Blob([data.subarray(0, length) as Uint8Array<ArrayBuffer>]);
      return { response: { id, blob, data }, transfer: [data.buffer] };
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
        total += slotLength(ops[i] as 0 | 1, lengths[i]!);
      }
      if (total > data.length) return fail('malformed request');
      let impl: RawAead;
      try {
        impl = await aead;
      } catch {
        return fail('libsodium failed to load');
      }
      const ok = new Uint8Array(n);
      const iv = new Uint8Array(12);
      let off = 0;
      for (let i = 0; i < n; i++) {
        const len = lengths[i]!;
        const input = data.subarray(off, off + len);
        iv.set(tails.subarray(8 * i, 8 * i + 8), 4);
        if (ops[i] === 0) {
          // In place: the ciphertext overwrites the plaintext, the tag fills the slot's spare bytes.
          impl.sealInto(key, iv, aad, input, data.subarray(off, off + len + TAG));
          ok[i] = 1;
          off += len + TAG;
        } else {
          ok[i] = impl.openInto(key, iv, aad, input, data.subarray(off, off + len - TAG)) ? 1 : 0;
          off += len;
        }
      }
      // The request buffer goes back (the pool reuses it); it was transferred to us whole.
      return { response: { id, ok, data }, transfer: [data.buffer] };
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

/**
 * A restore window, read and opened in the worker (the `fetch` request): the page's thread never
 * touches the network data or the ciphertext, and gets the plaintext by transfer. Each chunk is
 * opened in place and its plaintext moved down over the tags before it, so the window comes back
 * as one run of plaintext. Any chunk whose tag fails voids the whole window (wiped, `auth`).
 */
async function fetchWindow(m: Partial<Record<string, unknown>>, impl: RawAead, id: number): Promise<WorkerReply> {
  const { meta, url, headers, timeoutMs, read } = m;
  const [first, count, chunk] = [m.first, m.count, m.chunkSize] as number[];
  if (!isBytes(meta) || meta.length < 32 || typeof url !== 'string' || typeof timeoutMs !== 'number') throw new TypeError('malformed request');
  const key = meta.subarray(0, 32);
  try {
    if (![first, count, chunk].every((v) => Number.isSafeInteger(v) && v! >= 0) || count! < 1 || chunk! < 1) throw new TypeError('malformed request');
    const sealed = chunk! + TAG;
    if (count! * sealed > MAX_DATA || meta.length - 32 > MAX_AAD) throw new TypeError('malformed request');
    const aad = meta.subarray(32);
    let data: Uint8Array;
    try {
      const res = await fetch(url, { headers: headers as Record<string, string>, signal: AbortSignal.timeout(timeoutMs) });
      if (res.status !== 206) return { response: { id, status: res.status }, transfer: [] };
      data = new Uint8Array(await (read === 'blob' ? await res.blob() : res).arrayBuffer());
    } catch {
      return { response: { id, status: 0 }, transfer: [] };
    }
    if (data.length !== count * sealed) return { response: { id, status: 0 }, transfer: [] };
    const iv = new Uint8Array(12);
    for (let i = 0; i < count; i++) {
      iv.set(chunkNonceTail(first! + i, false), 4); // none of the window's chunks is the final one
      const at = i * sealed;
      if (!impl.openInto(key, iv, aad, data.subarray(at, at + sealed), data.subarray(at, at + chunk))) {
        wipe(data);
        return { response: { id, auth: true }, transfer: [] };
      }
      if (i > 0) data.copyWithin(i * chunk, at, at + chunk);
    }
    const plain = data.subarray(0, count * chunk);
    wipe(data.subarray(count * chunk)); // what the last chunk's move left behind
    return { response: { id, plain }, transfer: [data.buffer as ArrayBuffer] };
  } finally {
    wipe(key);
  }
}
