/**
 * A worker-pool {@link CipherEngine} for browsers: the chunks of an archive are sealed and opened
 * in parallel in Web Workers, so a multi-GB backup uses several cores and the page stays
 * responsive. Same bytes as every other engine (docs/ENGINES.md).
 *
 * How it works: `create()` derives the archive's subkey K' = HChaCha20(K, prefix) on the calling
 * thread (one block, microseconds). Each `seal`/`open` copies its input into a batch buffer
 * (recycled: workers hand it back) and returns its own promise. A batch (up to 16 chunks of one
 * archive, at most 1 MiB of input, or one larger chunk) goes to a worker in
 * one message: the buffer is transferred, K', the AAD, the nonce tails and lengths travel in one
 * small cloned array (so a message carries two arrays however many chunks it has); the worker seals or
 * opens each chunk into a fresh buffer of its own and transfers the results back. So the calling
 * thread does one memcpy per chunk and one message per batch, and every result is an array that
 * owns its `ArrayBuffer`. A batch is sent when it is full, or at once when a worker is idle and
 * the batch holds enough work (or every worker is idle), so batches grow while the workers are
 * busy and a lone chunk is never kept waiting. A caller that awaits chunk i before emitting chunk
 * i + 1 gets its output in order while up to `parallelism` chunks run at once; the archive
 * streams do that. Batches beyond what the workers hold wait in a FIFO on the calling thread,
 * and nothing is read ahead of the caller, which is the backpressure: memory is bounded by what
 * the caller keeps in flight.
 *
 * @module
 */
import { assertOptionsObject, checkingOptions } from '../../util/options.js';
import { BackupError } from '../../errors.js';
import { abytes, copyBytes, equalBytes, isBytes, wipe } from '../../util/bytes.js';
import { createSealGuard, NONCE_TAIL_LENGTH, type ChunkCipher, type CipherEngine } from '../engine.js';
import { hchacha20 } from './noble.js';
import { batchMeta, slotLength, type WorkerCipherKind, type WorkerRequest } from './worker-core.js';

export type { WorkerCipherKind } from './worker-core.js';

/**
 * What the pool needs of a worker: a Web `Worker` fits, and so does a thin adapter over
 * `node:worker_threads` (see test/archive/engines-support.ts).
 */
export interface WorkerLike {
  /** Post a message, transferring the listed buffers. */
  postMessage(message: unknown, transfer: Transferable[]): void;
  /** Subscribe to replies (`message`) and to failures (`error`, `messageerror`). */
  addEventListener(type: 'message' | 'error' | 'messageerror', listener: (event: { readonly data?: unknown }) => void): void;
  /** Stop the worker. */
  terminate(): void;
}

/** Options for {@link createWorkerEngine}. */
export interface WorkerEngineOptions {
  /**
   * Number of cipher workers (1–64). Default 2. A browser backup through the presigned adapters
   * also starts one short-lived worker at a time (the same script, no cipher) that makes each
   * part's `Blob` off the page's thread; it is replaced every 32 MiB of parts and ended after a
   * second without work (docs/STORAGE.md §7).
   */
  readonly workers?: number;
  /**
   * Which implementation runs inside the workers: `noble` (pure JS, the default) or
   * `libsodium` (WebAssembly, loaded by each worker with a dynamic `import()`).
   */
  readonly engine?: WorkerCipherKind;
  /**
   * URL of the worker script (`chacha-worker.js`, built as a module worker). Defaults to the
   * copy next to this module, which bundlers that understand
   * `new Worker(new URL(…, import.meta.url))` (Vite, webpack 5, Parcel) pick up on their own.
   */
  readonly workerUrl?: string | URL;
  /**
   * Make a worker yourself (tests, CSP setups, Node's worker_threads). Overrides `workerUrl`.
   * `index` is 0 to `workers − 1` for the cipher workers, and `workers` for a part-body worker.
   */
  readonly createWorker?: (index: number) => WorkerLike;
  /**
   * Batches handed to one worker at a time (1–16). Default 2: while a worker works on one batch
   * the next is already in its inbox, so it never waits for a round trip through the main thread.
   */
  readonly perWorker?: number;
  /** Aborting terminates the workers and rejects every pending and later call with `ABORTED`. */
  readonly signal?: AbortSignal;
}

/** The worker-pool engine: a {@link CipherEngine} with a lifecycle. */
export interface WorkerEngine extends CipherEngine {
  /**
   * How many chunks the archive streams keep in flight: `workers × perWorker × 16`, at most 64
   * (the streams lower it for large chunks), so that full batches (16 chunks) can form.
   */
  readonly parallelism: number;
  /** Resolves when every worker has started (and, for `libsodium`, loaded its WASM). */
  ready(): Promise<void>;
  /** Terminate the workers; pending and later calls reject with `ABORTED`. Idempotent. */
  terminate(): void;
}

/** One chunk in a batch, waiting for its result. */
interface Entry {
  /** 0 seal, 1 open. */
  readonly op: 0 | 1;
  readonly tail: Uint8Array;
  /** Input length (its slot in the batch buffer is 16 bytes longer for a seal). */
  readonly length: number;
  /**
   * Where the caller wants the result (sealInto / openInto); otherwise it gets a copy of its own,
   * or, for `LEND`, a view of its place in the buffer the worker handed back (sealLent).
   */
  readonly into: Uint8Array | typeof LEND | undefined;
  readonly resolve: (value: Uint8Array | undefined) => void;
  readonly reject: (reason: unknown) => void;
}

/** Chunks of one archive (one cipher, one AAD) whose slots lie back to back in `buffer` (worker-core.ts). */
interface Batch {
  readonly cipher: WorkerChunkCipher;
  readonly aad: Uint8Array;
  readonly buffer: Uint8Array<ArrayBuffer>;
  used: number;
  readonly entries: Entry[];
}

interface Slot {
  readonly worker: WorkerLike;
  /** What it is, for messages: a cipher worker or a part-body worker (blobOf). */
  readonly what: string;
  /** In-flight batches (and the init request, and window reads) by id. */
  readonly pending: Map<number, Batch | InitRequest | FetchRequest | BlobRequest>;
}

interface InitRequest {
  readonly init: true;
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
}

/** A restore window read and opened in a worker ({@link WorkerPool.fetchOpen}). */
interface FetchRequest {
  readonly fetch: true;
  readonly resolve: (plain: Uint8Array | false | undefined) => void;
  readonly reject: (reason: unknown) => void;
}

/** A part's body made in a worker ({@link WorkerPool.blobOf}). */
interface BlobRequest {
  readonly blob: true;
  readonly length: number;
  readonly resolve: (made: { readonly blob: Blob; readonly buffer: Uint8Array<ArrayBuffer> }) => void;
  readonly reject: (reason: unknown) => void;
}

/** `into` of a seal whose result is lent: a view of the returned batch buffer (see WorkerPool.release). */
const LEND = 0;
const DEFAULT_WORKERS = 2;
const MAX_WORKERS = 64;
const TAG = 16;
/**
 * Part bodies one worker makes before it is replaced (WorkerPool.blobOf): 32 MiB. Chromium here
 * keeps about 500 MiB of Blobs in memory in all (a 256 MiB source Blob takes half of it), and a
 * worker's dead Blobs count until it ends.
 */
const BLOB_WORKER_BYTES = 32 * 1024 * 1024;
/** A part-body worker asked for nothing this long is ended (WorkerPool.blobOf). */
const BLOB_WORKER_IDLE_MS = 1000;
/** Size of a (recycled) batch buffer; a chunk larger than this travels in a buffer of its own size. */
const BATCH_BYTES = 1024 * 1024;
/** A batch with this much input (or {@link READY_ENTRIES} chunks) goes to an idle worker at once. */
const READY_BYTES = 256 * 1024;
const READY_ENTRIES = 4;
/** Most chunks in one batch (the worker accepts up to 64). */
const MAX_BATCH_ENTRIES = 16;
/** Chunks in flight per batch slot that `parallelism` asks the archive streams for. */
const CHUNKS_PER_SLOT = 16;
/** The archive layer keeps at most 64 chunks in flight. */
const MAX_PARALLELISM = 64;

function defaultWorker(url: string | URL | undefined): (index: number) => WorkerLike {
  return () => {
    if (typeof Worker !== 'function') {
      throw new BackupError('ENGINE_UNAVAILABLE', 'Web Workers are not available here; pass createWorker');
    }
    // Written as one expression so bundlers recognise the worker entry (Vite, webpack 5).
    return url === undefined
      ? new Worker(new URL('./chacha-worker.js', import.meta.url), { type: 'module', name: 'e2ee-backup-cipher' })
      : new Worker(url, { type: 'module', name: 'e2ee-backup-cipher' });
  };
}

function count(value: number | undefined, fallback: number, max: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new RangeError(`${name} must be an integer from 1 to ${max}`);
  return value;
}

/**
 * A {@link CipherEngine} that seals and opens chunks in a pool of Web Workers.
 *
 * Call `terminate()` when done (or pass a `signal`). The pool is shared by every archive created
 * from it; each archive's subkey is wiped by its `dispose()`.
 *
 * @param options - workers, implementation, worker URL or factory, abort signal.
 * @example
 * ```ts
 * import { createWorkerEngine } from 'e2ee-backup/workers';
 * import { encryptArchive } from 'e2ee-backup/archive';
 *
 * const engine = createWorkerEngine({ workers: 2, engine: 'noble' });
 * try {
 *   const archive = await encryptArchive(key, keyId, bytes, { engine });
 * } finally {
 *   engine.terminate();
 * }
 * ```
 */
export function createWorkerEngine(options: WorkerEngineOptions = {}): WorkerEngine {
  assertOptionsObject(options, 'createWorkerEngine');
  const { n, perWorker, kind } = checkingOptions(() => {
    const n = count(options.workers, DEFAULT_WORKERS, MAX_WORKERS, 'options.workers');
    const perWorker = count(options.perWorker, 2, 16, 'options.perWorker');
    const kind = options.engine ?? 'noble';
    if (kind !== 'noble' && kind !== 'libsodium') throw new TypeError("options.engine must be 'noble' or 'libsodium'");
    if (options.createWorker !== undefined && typeof options.createWorker !== 'function') {
      throw new TypeError('options.createWorker must be a function');
    }
    return { n, perWorker, kind };
  });
  const { signal } = options;
  if (signal?.aborted) throw new BackupError('ABORTED', 'operation was aborted', { cause: signal.reason });
  return new WorkerPool(n, perWorker, kind, options.createWorker ?? defaultWorker(options.workerUrl), signal);
}

class WorkerPool implements WorkerEngine {
  readonly name = 'workers';
  readonly parallelism: number;
  readonly #slots: Slot[] = [];
  /** Full batches waiting for a worker, in submission order. */
  readonly #queue: Batch[] = [];
  /** The batch being filled. */
  #open: Batch | undefined;
  /** Batch buffers handed back by the workers, ready for reuse. */
  readonly #free: Uint8Array<ArrayBuffer>[] = [];
  readonly #maxFree: number;
  /** Batch buffers whose sealed chunks are lent out (sealLent): where those not yet released start. */
  readonly #lent = new WeakMap<ArrayBufferLike, Set<number>>();
  readonly #perWorker: number;
  readonly #ready: Promise<void>;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.#shutdown(this.#abortedError());
  #nextId = 1;
  #failure: BackupError | undefined;
  readonly #make: (index: number) => WorkerLike;
  /** The worker that makes part bodies now (blobOf), and the bytes it has made. */
  #blobSlot: Slot | undefined;
  #blobBytes = 0;
  #blobIdle: ReturnType<typeof setTimeout> | undefined;
  /** Every part-body worker not yet terminated: the current one and those retiring. */
  readonly #blobSlots = new Set<Slot>();

  constructor(
    n: number,
    perWorker: number,
    kind: WorkerCipherKind,
    make: (index: number) => WorkerLike,
    signal: AbortSignal | undefined,
  ) {
    this.parallelism = Math.min(MAX_PARALLELISM, n * perWorker * CHUNKS_PER_SLOT);
    this.#perWorker = perWorker;
    this.#maxFree = n * perWorker + 2;
    this.#signal = signal;
    this.#make = make;
    const inits: Promise<void>[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const slot = this.#addSlot(i);
        this.#slots.push(slot);
        inits.push(this.#init(slot, kind));
      }
    } catch (e) {
      this.#shutdown(new BackupError('ENGINE_UNAVAILABLE', 'could not start the cipher workers', { cause: e }));
      throw this.#failure;
    }
    this.#ready = Promise.all(inits).then(() => undefined);
    // Callers that never await ready() must not see an unhandled rejection; calls report failure.
    this.#ready.catch(() => undefined);
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** A worker from the factory, its answers and failures wired to the pool. */
  #addSlot(index: number, what = 'a cipher worker'): Slot {
    const slot: Slot = { worker: this.#make(index), what, pending: new Map() };
    slot.worker.addEventListener('message', (ev) => this.#onMessage(slot, ev.data));
    const broken = (): void =>
      this.#shutdown(new BackupError('ENGINE_UNAVAILABLE', `${slot.what} failed (script not loaded or crashed)`));
    slot.worker.addEventListener('error', broken);
    slot.worker.addEventListener('messageerror', broken);
    return slot;
  }

  #abortedError(): BackupError {
    return new BackupError('ABORTED', 'operation was aborted', { cause: this.#signal?.reason });
  }

  #init(slot: Slot, kind: WorkerCipherKind): Promise<void> {
    // The init request rides in the same id space; it is answered with ok: true alone.
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      slot.pending.set(id, { init: true, resolve, reject });
      const msg: WorkerRequest = { op: 'init', id, engine: kind };
      slot.worker.postMessage(msg, []);
    });
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  create(key: Uint8Array, noncePrefix: Uint8Array): ChunkCipher {
    if (this.#failure) throw this.#failure;
    return new WorkerChunkCipher(this, hchacha20(key, noncePrefix));
  }

  terminate(): void {
    this.#shutdown(new BackupError('ABORTED', 'the cipher worker pool was terminated'));
  }

  /**
   * @internal Copy one chunk's input into the batch being filled and return its result: the
   * sealed chunk or the plaintext, each in a buffer of its own, or `undefined` for a tag that did
   * not verify. `tail` is the caller's private copy.
   */
  submit(
    cipher: WorkerChunkCipher,
    op: 0 | 1,
    tail: Uint8Array,
    input: Uint8Array,
    aad: Uint8Array,
    into?: Uint8Array | typeof LEND,
  ): Promise<Uint8Array | undefined> {
    if (this.#failure) return Promise.reject(this.#failure);
    const slot = slotLength(op, input.length);
    let batch = this.#open;
    if (
      batch !== undefined &&
      (batch.cipher !== cipher ||
        !(batch.aad === aad || equalBytes(batch.aad, aad)) ||
        batch.entries.length >= MAX_BATCH_ENTRIES ||
        batch.used + slot > batch.buffer.length)
    ) {
      this.#queue.push(batch);
      batch = undefined;
    }
    if (batch === undefined) {
      batch = { cipher, aad: copyBytes(aad), buffer: this.#takeBuffer(slot), used: 0, entries: [] };
      this.#open = batch;
    }
    batch.buffer.set(input, batch.used);
    batch.used += slot;
    const b = batch;
    const result = new Promise<Uint8Array | undefined>((resolve, reject) => {
      b.entries.push({ op, tail, length: input.length, into, resolve, reject });
    });
    if (b.entries.length >= MAX_BATCH_ENTRIES || b.used === b.buffer.length) {
      this.#queue.push(b);
      this.#open = undefined;
    }
    this.#pump();
    return result;
  }

  #takeBuffer(need: number): Uint8Array<ArrayBuffer> {
    if (need > BATCH_BYTES) return new Uint8Array(need);
    return this.#free.pop() ?? new Uint8Array(BATCH_BYTES);
  }

  #pump(): void {
    for (;;) {
      let best: Slot | undefined;
      for (const s of this.#slots) {
        if (s.pending.size < this.#perWorker && (!best || s.pending.size < best.pending.size)) best = s;
      }
      if (best === undefined) return;
      let batch = this.#queue.shift();
      if (batch === undefined) {
        // The batch being filled goes to an idle worker once it holds enough work, or at once
        // when every worker is idle (its caller may be waiting for it); otherwise it keeps
        // growing while the workers are busy.
        const open = this.#open;
        if (open === undefined || best.pending.size > 0) return;
        const enough = open.used >= READY_BYTES || open.entries.length >= READY_ENTRIES;
        if (!enough && this.#slots.some((s) => s.pending.size > 0)) return;
        batch = open;
        this.#open = undefined;
      }
      this.#dispatch(best, batch);
    }
  }

  #dispatch(slot: Slot, batch: Batch): void {
    const n = batch.entries.length;
    const at = batchMeta(n);
    // The subkey, ops, nonce tails, lengths and AAD in one array (worker-core.ts), cloned into
    // the worker (which wipes its copy); ours is wiped below.
    const meta = new Uint8Array(at.aad + batch.aad.length);
    if (!batch.cipher.writeSubkey(meta)) {
      this.#drop(batch, new TypeError('ChunkCipher was disposed with chunks still queued'));
      return;
    }
    const lengths = new DataView(meta.buffer, at.lengths, 4 * n);
    for (let i = 0; i < n; i++) {
      const e = batch.entries[i]!;
      meta[at.ops + i] = e.op;
      meta.set(e.tail, at.tails + 8 * i);
      lengths.setUint32(4 * i, e.length, true);
    }
    meta.set(batch.aad, at.aad);
    const id = this.#nextId++;
    slot.pending.set(id, batch);
    const msg: WorkerRequest = { op: 'batch', id, n, meta, data: batch.buffer };
    try {
      // The batch buffer is transferred, which detaches our private copy, never a caller's array.
      slot.worker.postMessage(msg, [batch.buffer.buffer]);
    } catch (e) {
      slot.pending.delete(id);
      this.#drop(batch, new BackupError('ENGINE_UNAVAILABLE', 'could not post chunks to a cipher worker', { cause: e }));
    } finally {
      wipe(meta.subarray(0, 32));
    }
  }

  /** Fail every chunk of a batch that never reached a worker, wiping its plaintext copies. */
  #drop(batch: Batch, reason: unknown): void {
    wipe(batch.buffer);
    for (const e of batch.entries) e.reject(reason);
  }

  #onMessage(slot: Slot, data: unknown): void {
    const r = data as Partial<Record<string, unknown>> | null;
    const id = typeof r === 'object' && r !== null ? r.id : undefined;
    const request = typeof id === 'number' ? slot.pending.get(id) : undefined;
    if (request === undefined) {
      this.#shutdown(new BackupError('ENGINE_UNAVAILABLE', 'a cipher worker sent an unexpected message'));
      return;
    }
    slot.pending.delete(id as number);
    if ('error' in r!) {
      this.#shutdown(new BackupError('ENGINE_UNAVAILABLE', `${slot.what} failed: ${String(r.error)}`));
      this.#settleFailed(request);
      return;
    }
    if ('fetch' in request) {
      const { plain } = r as { plain?: unknown };
      request.resolve(r!.auth === true ? false : isBytes(plain) ? plain : undefined);
      this.#pump();
      return;
    }
    if ('blob' in request) {
      const { blob, data: back } = r as { blob?: unknown; data?: unknown };
      // Duck-typed: in tests the reply may come from another realm.
      const size = (blob as { size?: unknown } | null)?.size;
      if (typeof blob !== 'object' || blob === null || size !== request.length || typeof (blob as Blob).slice !== 'function' || !isBytes(back)) {
        this.#shutdown(malformed());
        this.#settleFailed(request);
        return;
      }
      request.resolve({ blob: blob as Blob, buffer: back as Uint8Array<ArrayBuffer> });
      if (slot.pending.size === 0) {
        if (slot !== this.#blobSlot) this.#retire(slot); // replaced: see blobOf
        else this.#retireWhenIdle(slot);
      }
      return;
    }
    if ('init' in request) {
      if (r!.ok === true) {
        request.resolve();
        this.#pump(); // chunks submitted before the worker was ready
      } else {
        this.#shutdown(malformed());
        request.reject(this.#failure);
      }
      return;
    }
    const { ok, data: back } = r as { ok?: unknown; data?: unknown };
    const n = request.entries.length;
    if (!isBytes(ok) || ok.length !== n || !isBytes(back) || back.length < request.used) {
      this.#shutdown(malformed());
      this.#settleFailed(request);
      return;
    }
    // Each result is in its slot of the returned buffer: copied out where its caller wants it (or
    // into a buffer of the caller's own), then the plaintext left in the buffer is wiped. A lent
    // seal gets its slot itself (ciphertext only): the buffer is reused once all are released.
    let off = 0;
    const lent = new Set<number>();
    for (let i = 0; i < n; i++) {
      const e = request.entries[i]!;
      const slot = back.subarray(off, off + slotLength(e.op, e.length));
      off += slot.length;
      if (e.op === 0) {
        if (ok[i] !== 1) {
          e.reject(malformed());
        } else if (e.into === LEND) {
          lent.add(slot.byteOffset);
          e.resolve(slot);
        } else if (e.into !== undefined) {
          e.into.set(slot);
          e.resolve(e.into);
        } else e.resolve(slot.slice());
      } else if (ok[i] === 1) {
        const plain = slot.subarray(0, e.length - TAG);
        let out: Uint8Array;
        if (e.into !== undefined && e.into !== LEND) {
          e.into.set(plain);
          out = e.into;
        } else out = plain.slice();
        wipe(plain);
        e.resolve(out);
      } else e.resolve(undefined);
    }
    if (lent.size > 0) this.#lent.set(back.buffer, lent);
    else this.#recycle(back);
    this.#pump();
  }

  /** Keep a batch buffer the worker handed back for reuse (no plaintext left in it). */
  #recycle(back: Uint8Array): void {
    if (back.byteOffset === 0 && back.length === BATCH_BYTES && back.buffer.byteLength === BATCH_BYTES && this.#free.length < this.#maxFree) {
      this.#free.push(back as Uint8Array<ArrayBuffer>);
    }
  }

  /**
   * @internal Hand back a chunk `sealLent` returned, once it is no longer read: its batch buffer
   * is reused when every chunk in it was released (and is then transferred to a worker again,
   * which detaches every view of it). Releasing a chunk twice, or one never lent, throws.
   */
  release(sealed: Uint8Array): void {
    const left = this.#lent.get(sealed.buffer);
    if (left?.delete(sealed.byteOffset) !== true) throw new Error('internal: chunk not on loan');
    if (left.size === 0) {
      this.#lent.delete(sealed.buffer);
      this.#recycle(new Uint8Array(sealed.buffer));
    }
  }

  /**
   * @internal Read `count` whole sealed chunks (none of them the final one) from `first` on with
   * the ranged GET `req` and open them, all in a worker (chacha-worker.ts), so the page's thread
   * touches neither the network data nor the ciphertext. Resolves with the plaintext, `false`
   * when a tag did not verify, `undefined` when the read did not give the window (a status other
   * than 206, a network failure, another length): read it another way.
   */
  fetchOpen(
    cipher: ChunkCipher,
    aad: Uint8Array,
    req: { readonly url: string; readonly headers: Readonly<Record<string, string>>; readonly timeoutMs: number; readonly read: 'blob' | 'stream' },
    first: number,
    count: number,
    chunkSize: number,
  ): Promise<Uint8Array | false | undefined> {
    if (this.#failure) return Promise.reject(this.#failure);
    // The subkey and the AAD in one array, as for a batch (the worker wipes its copy; ours below).
    const meta = new Uint8Array(32 + aad.length);
    if (!(cipher as WorkerChunkCipher).writeSubkey?.(meta)) return Promise.reject(new TypeError('cipher disposed'));
    meta.set(aad, 32);
    // The least busy worker: a window read waits there on the network, not on a batch.
    const slot = this.#slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { fetch: true, resolve, reject });
      const msg: WorkerRequest = { op: 'fetch', id, ...req, first, count, chunkSize, meta };
      try {
        slot.worker.postMessage(msg, []);
      } finally {
        wipe(meta.subarray(0, 32));
      }
    });
  }

  /**
   * @internal `new Blob([bytes[0..length)])` made in a worker of its own (a backup part's body,
   * ciphertext only), so the copy into the browser's blob storage does not cost the page's thread
   * a long task per part. `bytes` must be a whole buffer: it is transferred, and comes back with
   * the `Blob` for reuse.
   *
   * The worker is replaced after {@link BLOB_WORKER_BYTES} (and terminated once it has answered),
   * and ended when idle for {@link BLOB_WORKER_IDLE_MS}:
   * a `Blob` holds its bytes in the browser's blob storage until every object referring to it is
   * garbage-collected, and a worker that allocates nothing is almost never collected, so its dead
   * `Blob`s filled Chromium's blob storage within one 256 MiB backup (`ERR_BLOB_OUT_OF_MEMORY`,
   * every later part failing). Ending the worker releases them all.
   */
  blobOf(bytes: Uint8Array<ArrayBuffer>, length: number): Promise<{ readonly blob: Blob; readonly buffer: Uint8Array<ArrayBuffer> }> {
    if (this.#failure) return Promise.reject(this.#failure);
    clearTimeout(this.#blobIdle);
    if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength || !Number.isSafeInteger(length) || length < 0 || length > bytes.length) {
      return Promise.reject(new TypeError('blobOf: a whole buffer and a length within it'));
    }
    if (this.#blobSlot !== undefined && this.#blobBytes >= BLOB_WORKER_BYTES) {
      const old = this.#blobSlot;
      this.#blobSlot = undefined;
      if (old.pending.size === 0) this.#retire(old); // else once its last answer came (#onMessage)
    }
    let slot = this.#blobSlot;
    if (slot === undefined) {
      try {
        slot = this.#addSlot(this.#slots.length, 'a part-body worker'); // index `workers`: see WorkerEngineOptions.createWorker
      } catch (e) {
        return Promise.reject(new BackupError('ENGINE_UNAVAILABLE', 'could not start a worker for part bodies', { cause: e }));
      }
      this.#blobSlot = slot;
      this.#blobSlots.add(slot);
      this.#blobBytes = 0;
    }
    this.#blobBytes += length;
    const target = slot;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      target.pending.set(id, { blob: true, length, resolve, reject });
      const msg: WorkerRequest = { op: 'blob', id, data: bytes, length };
      try {
        target.worker.postMessage(msg, [bytes.buffer]);
      } catch (e) {
        target.pending.delete(id);
        reject(new BackupError('ENGINE_UNAVAILABLE', 'could not post a part to a worker', { cause: e }));
      }
    });
  }

  /**
   * End the part-body worker once no body was asked of it for {@link BLOB_WORKER_IDLE_MS} (the
   * backup ended), so the `Blob`s it made do not hold blob storage until the next backup.
   */
  #retireWhenIdle(slot: Slot): void {
    clearTimeout(this.#blobIdle);
    const t = setTimeout(() => {
      if (this.#blobSlot === slot && slot.pending.size === 0) {
        this.#blobSlot = undefined;
        this.#retire(slot);
      }
    }, BLOB_WORKER_IDLE_MS);
    (t as { unref?: () => void }).unref?.(); // Node: never what keeps a process alive
    this.#blobIdle = t;
  }

  #retire(slot: Slot): void {
    this.#blobSlots.delete(slot);
    stopWorker(slot.worker);
  }

  #settleFailed(request: Batch | InitRequest | FetchRequest | BlobRequest): void {
    if (!('entries' in request)) request.reject(this.#failure);
    else for (const e of request.entries) e.reject(this.#failure);
  }

  #shutdown(reason: BackupError): void {
    if (this.#failure) return;
    this.#failure = reason;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    clearTimeout(this.#blobIdle);
    const blobSlots = [...this.#blobSlots];
    this.#blobSlots.clear();
    this.#blobSlot = undefined;
    for (const s of [...this.#slots, ...blobSlots]) {
      stopWorker(s.worker);
      for (const request of s.pending.values()) this.#settleFailed(request); // with `reason`, now #failure
      s.pending.clear();
    }
    const waiting = this.#queue.splice(0);
    if (this.#open !== undefined) waiting.push(this.#open);
    this.#open = undefined;
    for (const b of waiting) this.#drop(b, reason);
    this.#free.length = 0;
  }
}

function stopWorker(worker: WorkerLike): void {
  try {
    worker.terminate();
  } catch {
    // already gone
  }
}

function malformed(): BackupError {
  return new BackupError('ENGINE_UNAVAILABLE', 'a cipher worker returned a malformed result');
}

class WorkerChunkCipher implements ChunkCipher {
  readonly #pool: WorkerPool;
  #subkey: Uint8Array | undefined;
  readonly #guard = createSealGuard();

  constructor(pool: WorkerPool, subkey: Uint8Array) {
    this.#pool = pool;
    this.#subkey = subkey;
  }

  /**
   * @internal Write the subkey into `into[0..32)` for one batch (cloned into the worker, then
   * wiped by the pool); `false` once disposed.
   */
  writeSubkey(into: Uint8Array): boolean {
    if (this.#subkey === undefined) return false;
    into.set(this.#subkey);
    return true;
  }

  /**
   * Check a call and hand it to the pool: the nonce tail, the input (`plaintext` or `sealed`) and
   * the AAD; seals also pass the single-use guard (in call order, on this thread) and the
   * output's length. Opens of an input shorter than a tag answer `false` without the pool.
   */
  #submit(op: 0 | 1, nonceTail: Uint8Array, input: Uint8Array, aad: Uint8Array, into?: Uint8Array | typeof LEND): Promise<Uint8Array | undefined> {
    if (this.#subkey === undefined) throw new TypeError('ChunkCipher used after dispose()');
    abytes(nonceTail, 'nonceTail', NONCE_TAIL_LENGTH);
    abytes(input, op === 0 ? 'plaintext' : 'sealed');
    abytes(aad, 'aad');
    if (op === 1 && input.length < TAG) return Promise.resolve(undefined);
    if (into !== undefined && into !== LEND) abytes(into, 'output', input.length + (op === 0 ? TAG : -TAG));
    if (op === 0) this.#guard(nonceTail); // single use per nonce, checked in call order on this thread
    return this.#pool.submit(this, op, copyBytes(nonceTail), input, aad, into);
  }

  seal(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    // The pool resolves a seal only with a sealed chunk of the right length (anything else,
    // including a seal reported as failed, rejects as malformed), so no extra check here.
    return this.#submit(0, nonceTail, plaintext, aad) as Promise<Uint8Array>;
  }

  sealInto(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, output: Uint8Array): Promise<void> {
    return this.#submit(0, nonceTail, plaintext, aad, output).then(() => undefined);
  }

  /**
   * @internal Seal as `seal` does, without the copy out of the batch buffer: the result is a view
   * of its place in the buffer the worker handed back, shared with the other chunks of its batch.
   * Read it, then give it back with the pool's `release` (the buffer is reused once all of its
   * chunks are back; an unreleased one is only garbage).
   */
  sealLent(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    return this.#submit(0, nonceTail, plaintext, aad, LEND) as Promise<Uint8Array>;
  }

  openInto(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array, output: Uint8Array): Promise<boolean> {
    return this.#submit(1, nonceTail, sealed, aad, output).then((r) => r !== undefined);
  }

  open(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#submit(1, nonceTail, sealed, aad);
  }

  dispose(): void {
    wipe(this.#subkey);
    this.#subkey = undefined;
  }
}
