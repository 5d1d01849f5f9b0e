/**
 * A worker-pool {@link CipherEngine} for browsers: the chunks of an archive are sealed and opened
 * in parallel in Web Workers, so a multi-GB backup uses several cores and the page stays
 * responsive. Same bytes as every other engine (docs/ENGINES.md).
 *
 * How it works: `create()` derives the archive's subkey K' = HChaCha20(K, prefix) on the calling
 * thread (one block, microseconds); each `seal`/`open` copies its input into a fresh buffer with
 * room for the tag, which is transferred (not cloned) to the least-busy worker together with K'
 * and the nonce tail; the worker runs ChaCha20-Poly1305 (RFC 8439 §2.8) in place in that buffer
 * and transfers it back, so a chunk costs one allocation and one copy on this thread. Every call
 * returns its own promise, so a caller that awaits chunk i before emitting chunk i + 1 gets its
 * output in order while up to `parallelism` chunks run at once; the archive streams do that.
 * Requests beyond what the workers hold wait in a FIFO queue, and nothing is read ahead of the
 * caller, which is the backpressure: memory is bounded by what the caller keeps in flight.
 *
 * @module
 */
import { BackupError } from '../../errors.js';
import { abytes, copyBytes, isBytes, wipe } from '../../util/bytes.js';
import { createSealGuard, NONCE_TAIL_LENGTH, type ChunkCipher, type CipherEngine } from '../engine.js';
import { hchacha20 } from './noble.js';
import type { WorkerCipherKind, WorkerRequest, WorkerResponse } from './worker-core.js';

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
  /** Number of workers (1–64). Default 2. */
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
  /** Make a worker yourself (tests, CSP setups, Node's worker_threads). Overrides `workerUrl`. */
  readonly createWorker?: (index: number) => WorkerLike;
  /**
   * Chunks handed to one worker at a time (1–16). Default 2: while a worker seals one chunk the
   * next is already in its inbox, so it never waits for a round trip through the main thread.
   */
  readonly perWorker?: number;
  /** Aborting terminates the workers and rejects every pending and later call with `ABORTED`. */
  readonly signal?: AbortSignal;
}

/** The worker-pool engine: a {@link CipherEngine} with a lifecycle. */
export interface WorkerEngine extends CipherEngine {
  /** `workers × perWorker`: how many chunks the archive streams keep in flight. */
  readonly parallelism: number;
  /** Resolves when every worker has started (and, for `libsodium`, loaded its WASM). */
  ready(): Promise<void>;
  /** Terminate the workers; pending and later calls reject with `ABORTED`. Idempotent. */
  terminate(): void;
}

interface Task {
  readonly cipher: WorkerChunkCipher;
  readonly op: 'seal' | 'open';
  readonly nonceTail: Uint8Array;
  readonly aad: Uint8Array;
  readonly data: Uint8Array<ArrayBuffer>;
  readonly resolve: (value: Outcome) => void;
  readonly reject: (reason: unknown) => void;
}

/** A worker's answer: `ok` false for a tag that did not verify; `data` when there is a result. */
interface Outcome {
  readonly ok: boolean;
  readonly data: Uint8Array | undefined;
}

/** A request posted to a worker, waiting for its reply. */
interface Pending {
  readonly resolve: (value: Outcome) => void;
  readonly reject: (reason: unknown) => void;
}

interface Slot {
  readonly worker: WorkerLike;
  /** In-flight requests by id. */
  readonly pending: Map<number, Pending>;
}

const DEFAULT_WORKERS = 2;
const MAX_WORKERS = 64;
const TAG = 16;

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
 * import { createWorkerEngine, encryptArchive } from 'e2ee-backup';
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
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const n = count(options.workers, DEFAULT_WORKERS, MAX_WORKERS, 'options.workers');
  const perWorker = count(options.perWorker, 2, 16, 'options.perWorker');
  const kind = options.engine ?? 'noble';
  if (kind !== 'noble' && kind !== 'libsodium') throw new TypeError("options.engine must be 'noble' or 'libsodium'");
  if (options.createWorker !== undefined && typeof options.createWorker !== 'function') {
    throw new TypeError('options.createWorker must be a function');
  }
  const { signal } = options;
  if (signal?.aborted) throw new BackupError('ABORTED', 'operation was aborted', { cause: signal.reason });
  return new WorkerPool(n, perWorker, kind, options.createWorker ?? defaultWorker(options.workerUrl), signal);
}

class WorkerPool implements WorkerEngine {
  readonly name = 'workers';
  readonly parallelism: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Task[] = [];
  readonly #perWorker: number;
  readonly #ready: Promise<void>;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.#shutdown(this.#abortedError());
  #nextId = 1;
  #failure: BackupError | undefined;

  constructor(
    n: number,
    perWorker: number,
    kind: WorkerCipherKind,
    make: (index: number) => WorkerLike,
    signal: AbortSignal | undefined,
  ) {
    this.parallelism = n * perWorker;
    this.#perWorker = perWorker;
    this.#signal = signal;
    const inits: Promise<void>[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const slot: Slot = { worker: make(i), pending: new Map() };
        this.#slots.push(slot);
        slot.worker.addEventListener('message', (ev) => this.#onMessage(slot, ev.data));
        const broken = (): void =>
          this.#shutdown(new BackupError('ENGINE_UNAVAILABLE', 'a cipher worker failed (script not loaded or crashed)'));
        slot.worker.addEventListener('error', broken);
        slot.worker.addEventListener('messageerror', broken);
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

  #abortedError(): BackupError {
    return new BackupError('ABORTED', 'operation was aborted', { cause: this.#signal?.reason });
  }

  #init(slot: Slot, kind: WorkerCipherKind): Promise<void> {
    // The init request rides in the same id space; it resolves with no data.
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      slot.pending.set(id, { resolve: () => resolve(), reject });
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

  /** @internal Queue a task and return its result. */
  submit(task: Omit<Task, 'resolve' | 'reject'>): Promise<Outcome> {
    if (this.#failure) {
      wipe(task.data);
      return Promise.reject(this.#failure);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...task, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      let best: Slot | undefined;
      for (const s of this.#slots) {
        if (s.pending.size < this.#perWorker && (!best || s.pending.size < best.pending.size)) best = s;
      }
      if (!best) return;
      const task = this.#queue.shift()!;
      const key = task.cipher.subkeyForDispatch();
      if (key === undefined) {
        wipe(task.data);
        task.reject(new TypeError('ChunkCipher was disposed with chunks still queued'));
        continue;
      }
      const id = this.#nextId++;
      best.pending.set(id, task);
      const msg: WorkerRequest = { op: task.op, id, key, nonceTail: task.nonceTail, aad: task.aad, data: task.data };
      try {
        // key, nonceTail and aad are cloned (the worker wipes its key copy); data is transferred,
        // which detaches our private copy, never the caller's array.
        best.worker.postMessage(msg, [task.data.buffer]);
      } catch (e) {
        best.pending.delete(id);
        wipe(task.data);
        task.reject(new BackupError('ENGINE_UNAVAILABLE', 'could not post a chunk to a cipher worker', { cause: e }));
      } finally {
        wipe(key);
      }
    }
  }

  #onMessage(slot: Slot, data: unknown): void {
    const r = data as Partial<WorkerResponse> | null;
    const id = typeof r === 'object' && r !== null ? r.id : undefined;
    const task = typeof id === 'number' ? slot.pending.get(id) : undefined;
    if (task === undefined) {
      this.#shutdown(new BackupError('ENGINE_UNAVAILABLE', 'a cipher worker sent an unexpected message'));
      return;
    }
    slot.pending.delete(id!);
    if ('error' in r!) {
      this.#shutdown(new BackupError('ENGINE_UNAVAILABLE', `a cipher worker failed: ${String(r.error)}`));
      task.reject(this.#failure);
      return;
    }
    // Lengths are checked by the cipher, which knows what it sent.
    const { ok, data: out } = r as { ok?: unknown; data?: unknown };
    task.resolve({ ok: ok === true, data: isBytes(out) ? out : undefined });
    this.#pump();
  }

  #shutdown(reason: BackupError): void {
    if (this.#failure) return;
    this.#failure = reason;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    for (const s of this.#slots) {
      try {
        s.worker.terminate();
      } catch {
        // already gone
      }
      for (const t of s.pending.values()) t.reject(reason);
      s.pending.clear();
    }
    for (const t of this.#queue.splice(0)) {
      wipe(t.data);
      t.reject(reason);
    }
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

  /** @internal A copy of the subkey for one request (cloned into the worker, then wiped here). */
  subkeyForDispatch(): Uint8Array | undefined {
    return this.#subkey === undefined ? undefined : copyBytes(this.#subkey);
  }

  seal(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    if (this.#subkey === undefined) throw new TypeError('ChunkCipher used after dispose()');
    abytes(nonceTail, 'nonceTail', NONCE_TAIL_LENGTH);
    abytes(plaintext, 'plaintext');
    abytes(aad, 'aad');
    this.#guard(nonceTail); // single use per nonce, checked in call order on this thread
    const len = plaintext.length;
    // plaintext ‖ 16 spare bytes: the worker seals in place and sends this buffer back.
    const data = new Uint8Array(len + TAG);
    data.set(plaintext);
    const task = { cipher: this, op: 'seal', nonceTail: copyBytes(nonceTail), aad: copyBytes(aad), data } as const;
    return this.#pool.submit(task).then(({ ok, data }) => {
      if (!ok || data === undefined || data.length !== len + TAG) throw malformed();
      return data;
    });
  }

  open(nonceTail: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.#subkey === undefined) throw new TypeError('ChunkCipher used after dispose()');
    abytes(nonceTail, 'nonceTail', NONCE_TAIL_LENGTH);
    abytes(sealed, 'sealed');
    abytes(aad, 'aad');
    if (sealed.length < TAG) return Promise.resolve(undefined);
    const len = sealed.length - TAG;
    const task = { cipher: this, op: 'open', nonceTail: copyBytes(nonceTail), aad: copyBytes(aad), data: copyBytes(sealed) } as const;
    return this.#pool.submit(task).then(({ ok, data }) => {
      if (!ok) return undefined;
      if (data === undefined || data.length !== len + TAG) {
        wipe(data);
        throw malformed();
      }
      // plaintext ‖ tag, opened in place; the tag behind the view is public.
      return data.subarray(0, len);
    });
  }

  dispose(): void {
    wipe(this.#subkey);
    this.#subkey = undefined;
  }
}
