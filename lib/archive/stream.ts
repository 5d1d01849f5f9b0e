/**
 * Streaming encryption and decryption as WHATWG `TransformStream`s (docs/FORMAT.md §STREAM).
 *
 * Input may arrive in pieces of any size (one byte at a time works). Each stream keeps at most
 * `engine.parallelism` chunks in flight (lowered to about 8 MiB of chunks) plus one being filled, emits chunks in order, and
 * lets the platform's backpressure hold the writer while the reader is slow (the transform is not
 * called again until the readable side wants more). One written piece's output is emitted before
 * the next piece is taken, so peak memory is a few chunks plus the largest piece the caller wrote.
 *
 * @module
 */
import { archiveAuthFailed, BackupError, throwIfAborted } from '../errors.js';
import { isBytes, wipe } from '../util/bytes.js';
import { linkAbort, type Disposer } from '../util/abort.js';
import { createYielder } from '../util/yield.js';
import { chunkNonceTail, type ChunkCipher } from './engine.js';
import { HEADER_FIXED_LENGTH, TAG_LENGTH, checkHeaderStart, parseHeader } from './format.js';
import {
  InOrderPipeline,
  checkKeySource,
  checkSealed,
  inFlightLimit,
  sealChunk,
  type SealedChunk,
  openHeader,
  resolveCommon,
  resolveKey,
  setupEncrypt,
  type ArchiveKeySource,
  type DecryptOptions,
  type EncryptOptions,
} from './options.js';

/**
 * The WHATWG transformer with its `cancel` hook (Streams spec, TransformStream "cancel"
 * algorithm; Node ≥ 20.x and current browsers call it, older ones ignore it). TypeScript's DOM
 * lib does not declare it yet.
 */
type CancellableTransformer = Transformer<Uint8Array, Uint8Array> & { cancel?: (reason: unknown) => void };

/**
 * Fixed-size buffers recycled between chunks, so a long stream allocates only a handful. Fresh
 * memory is what costs: its first touch faults every page in (in Chromium on the 2-core VM a
 * fresh 64 KiB buffer cost 250-530 µs, a reused one about 1 µs).
 *
 * An encrypt stream may share its pool with its source ({@link readBlobInto}): the source reads
 * the plaintext straight into the pool's buffers, one chunk each, and the stream, which
 * recognises them ({@link BufferPool.owns}), releases each once its chunk is sealed and emitted.
 *
 * @internal
 */
export class BufferPool {
  readonly #size: number;
  readonly #free: Uint8Array[] = [];
  /** Every live buffer, wiped at the end (plaintext). */
  readonly #all = new Set<Uint8Array>();
  readonly #mine = new WeakSet<ArrayBufferLike>();

  constructor(size: number) {
    this.#size = size;
  }

  /** The size of every buffer. */
  get size(): number {
    return this.#size;
  }

  take(): Uint8Array {
    const b = this.#free.pop();
    if (b !== undefined) return b;
    const fresh = new Uint8Array(this.#size);
    this.#all.add(fresh);
    this.#mine.add(fresh.buffer);
    return fresh;
  }

  /**
   * A buffer taken from this pool came back under a new `ArrayBuffer` (a BYOB read transfers
   * the buffer it fills: same memory, the old one detached): keep track of the new one.
   */
  adopt(old: Uint8Array, now: Uint8Array): void {
    if (!this.#all.delete(old)) throw new TypeError('not a buffer of this pool');
    this.#all.add(now);
    this.#mine.add(now.buffer);
  }

  /** Whether `b` is a whole buffer of this pool. */
  owns(b: Uint8Array): boolean {
    return b.byteOffset === 0 && b.length === this.#size && b.buffer.byteLength === this.#size && this.#mine.has(b.buffer);
  }

  /** Return a buffer (or a view of the start of one) taken from this pool. */
  release(b: Uint8Array): void {
    if (b.byteOffset === 0 && b.length === this.#size) this.#free.push(b);
  }

  wipeAll(): void {
    wipe(...this.#all);
  }
}

/**
 * A `Blob` read with BYOB reads straight into the buffers of `pool`, one whole buffer per
 * piece (the last one shorter): no fresh memory per piece, unlike the platform's own chunks
 * (64 KiB fresh `ArrayBuffer`s in Chromium; draining a 64 MiB Blob cost 304-377 ms of main-thread
 * CPU that way, 42-61 ms with BYOB reads into reused buffers: bench/browser/profile.ts, load 11).
 * Only for an encrypt stream made with the same pool, which releases each piece after sealing it.
 * `undefined` where `Blob.stream()` is not a byte stream (the caller then reads it as usual).
 *
 * @internal
 */
export function readBlobInto(blob: Blob, pool: BufferPool): ReadableStream<Uint8Array> | undefined {
  if (typeof blob.stream !== 'function') return undefined;
  const stream = blob.stream() as ReadableStream<Uint8Array>;
  let reader: ReadableStreamBYOBReader;
  try {
    reader = stream.getReader({ mode: 'byob' });
  } catch {
    void stream.cancel().catch(() => undefined);
    return undefined;
  }
  const size = pool.size;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let buf = pool.take();
        let filled = 0;
        while (filled < size) {
          const r = await reader.read(new Uint8Array(buf.buffer, filled, size - filled));
          if (r.value !== undefined && r.value.buffer !== buf.buffer) {
            // Transferred: the same memory under a new ArrayBuffer.
            const now = new Uint8Array(r.value.buffer, 0, size);
            pool.adopt(buf, now);
            buf = now;
          }
          filled += r.value?.length ?? 0;
          if (r.done) break;
        }
        if (filled > 0) controller.enqueue(filled === size ? buf : buf.subarray(0, filled));
        else pool.release(buf);
        if (filled < size) controller.close();
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Sealed-chunk buffers recycled in the order they were read (see
 * {@link createRecyclingEncryptStream}): each emitted buffer is numbered, and one is free again
 * once the reader has taken the chunk after it (a reader that asks for chunk k + 1 is done with
 * chunk k). How far the reader got is read off the stream itself: chunks enqueued minus chunks
 * still queued on the readable side (its high-water mark is 0, each chunk counts 1).
 */
class OutputRing {
  readonly #size: number;
  readonly #free: Uint8Array[] = [];
  /** Emitted buffers not yet known to be done with, oldest first, with their enqueue number. */
  readonly #out: { seq: number; buf: Uint8Array }[] = [];
  #enqueued = 0;

  constructor(size: number) {
    this.#size = size;
  }

  /** A buffer of `length` bytes (a view of a whole one for the shorter final chunk). */
  take(length: number, controller: TransformStreamDefaultController<Uint8Array>): Uint8Array {
    const queued = Math.max(0, -(controller.desiredSize ?? 0));
    const read = this.#enqueued - queued;
    while (this.#out.length > 0 && this.#out[0]!.seq < read - 1) this.#free.push(this.#out.shift()!.buf);
    const buf = this.#free.pop() ?? new Uint8Array(this.#size);
    return length === this.#size ? buf : buf.subarray(0, length);
  }

  /** Enqueue `chunk`, remembering its buffer when it is one of ours. */
  enqueue(controller: TransformStreamDefaultController<Uint8Array>, chunk: Uint8Array, ours: boolean): void {
    controller.enqueue(chunk);
    if (ours) this.#out.push({ seq: this.#enqueued, buf: chunk.byteOffset === 0 && chunk.buffer.byteLength === this.#size ? new Uint8Array(chunk.buffer, 0, this.#size) : chunk });
    this.#enqueued++;
  }
}

/** A chunk cipher that can lend its results (the worker pool: lib/archive/engines/workers.ts). */
type LendingCipher = ChunkCipher & { sealLent?(nonceTail: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> };

function abortError(signal: AbortSignal): BackupError {
  return new BackupError('ABORTED', 'operation was aborted', { cause: signal.reason });
}

function checkPiece(piece: unknown): Uint8Array {
  if (!isBytes(piece)) throw new TypeError('archive streams accept only Uint8Array chunks');
  return piece;
}

/**
 * What a stream must wipe however it ends: its chunk cipher (the subkey) and its buffer pool
 * (plaintext chunks, when encrypting). Held apart from the stream so that a stream abandoned
 * without end or cancel can be wiped when it is collected (`linkAbort`).
 */
class StreamSecrets implements Disposer {
  constructor(
    public cipher?: ChunkCipher,
    readonly pool?: BufferPool,
  ) {}

  dispose(): void {
    this.cipher?.dispose();
    this.pool?.wipeAll();
  }
}

/** What an abort acts on: the stream's controller and its cleanup. */
interface AbortTarget {
  readonly controller: TransformStreamDefaultController<Uint8Array>;
  readonly cleanup: () => void;
}

/** Abort errors the stream at once (even while it waits on backpressure) and runs its cleanup. */
function abortStream(t: AbortTarget, signal: AbortSignal): void {
  t.controller.error(abortError(signal));
  t.cleanup();
}

/**
 * A `TransformStream` that encrypts plaintext bytes into an archive: the header first, then the
 * sealed chunks (with an engine that has `sealParts`, such as Node's default, a chunk comes out
 * as two pieces, ciphertext then tag: consumers see bytes, not chunk boundaries). The last chunk is sealed as final when the writable side closes, so the archive
 * is complete only after `close()`; an aborted or errored stream leaves a truncated archive that
 * every decoder rejects.
 *
 * As with any `TransformStream`, a written chunk is handed over: do not modify it after writing
 * (whole chunks are sealed straight from the written bytes, without a copy).
 *
 * Misuse (a wrong key length, a bad keyId or option) throws `TypeError`/`RangeError` here; a
 * non-`Uint8Array` chunk written later errors the stream with a `TypeError`; an abort errors it
 * with `BackupError('ABORTED')`.
 *
 * @param key - The 32-byte backup key (keyring generation `keyId`).
 * @param keyId - That key's id: {@link KEY_ID_LENGTH} bytes, or as many bytes in hex.
 * @param opts - Chunk size, metadata, engine, signal, progress.
 * @example
 * ```ts
 * await file.stream()
 *   .pipeThrough(createEncryptStream(key, keyId, { totalBytes: file.size, onProgress }))
 *   .pipeTo(uploadSink);
 * ```
 */
export function createEncryptStream(
  key: Uint8Array,
  keyId: Uint8Array | string,
  opts?: EncryptOptions,
): TransformStream<Uint8Array, Uint8Array> {
  return encryptStream(key, keyId, opts, false);
}

/**
 * {@link createEncryptStream} for a reader that is done with each chunk once it asks for the next
 * one (reads with `reader.read()` and copies or sends each chunk before reading again, as the
 * backup's part cutter does; not `pipeTo`, whose destination may still hold a chunk). With an
 * engine that has `sealInto`, sealed chunks are written into a few recycled buffers instead of
 * one fresh buffer per chunk, which in browsers costs more than sealing it (bench/RESULTS.md).
 * With `lend` (an engine with `sealLent`: the worker pool), each sealed chunk is instead a view the
 * engine lent, which the reader hands back to it (the pool's `release`) once it no longer reads
 * it: nothing is copied out of the workers' buffers (the backup's Blob parts, lib/client/pipeline.ts).
 *
 * @example
 * ```ts
 * const reader = plain.pipeThrough(createRecyclingEncryptStream(key, keyId)).getReader();
 * for (let r = await reader.read(); !r.done; r = await reader.read()) part.set(r.value, at);
 * ```
 * @internal
 */
export function createRecyclingEncryptStream(
  key: Uint8Array,
  keyId: Uint8Array | string,
  opts?: EncryptOptions,
  lend?: boolean,
  input?: BufferPool,
): TransformStream<Uint8Array, Uint8Array> {
  return encryptStream(key, keyId, opts, true, lend, input);
}

function encryptStream(
  key: Uint8Array,
  keyId: Uint8Array | string,
  opts: EncryptOptions | undefined,
  recycle: boolean,
  lend?: boolean,
  input?: BufferPool,
): TransformStream<Uint8Array, Uint8Array> {
  const common = resolveCommon(opts);
  throwIfAborted(common.signal);
  const { header, cipher, aad, chunkSize } = setupEncrypt(key, keyId, opts, common);
  // A whole chunk inside a written piece is sealed from the piece itself, without a copy: as with
  // any TransformStream (the identity one passes the very same object on), a written chunk is
  // handed over and must not be modified by the writer afterwards. A piece that ends exactly on a
  // chunk boundary is held (not copied) until we learn whether more input follows it.
  let held: Uint8Array | undefined;
  /** `held` when it is a whole buffer of the pool (read into it by the source): released once sealed. */
  let heldOwned: Uint8Array | undefined;
  // Plaintext chunk buffers are recycled once their chunk is emitted (at most parallelism + 1
  // exist), and all of them are wiped when the stream ends, errors or aborts.
  if (input !== undefined && input.size !== chunkSize) throw new RangeError('the input pool must hold buffers of the chunk size');
  const pool = input ?? new BufferPool(chunkSize);
  const secrets = new StreamSecrets(cipher, pool);
  let buf = pool.take();
  let pos = 0;
  let index = 0;
  let done = 0;
  let unhook: () => void = () => undefined;
  let controllerRef: TransformStreamDefaultController<Uint8Array> | undefined;
  // Held strongly by the transformer below, weakly by the caller's signal (see linkAbort).
  let abortTarget: AbortTarget | undefined;
  const cleanup = (): void => {
    unhook();
    secrets.dispose();
    held = undefined;
    heldOwned = undefined;
  };
  // With an engine that seals in this thread, the transform is one chain of microtasks: give the
  // event loop a turn every ~10 ms of it, so a page stays responsive (issue 20).
  const pause = createYielder();
  const pipeline = new InOrderPipeline<SealedChunk, { owned: Uint8Array | undefined; length: number }>(
    inFlightLimit(common.limit, chunkSize),
    (sealed, meta) => {
      checkSealed(sealed, meta.length);
      if (meta.owned !== undefined) pool.release(meta.owned);
      // An engine that returns the parts apart (node:crypto) has them enqueued as they are: two
      // pieces instead of one copied array (stream consumers see bytes, not chunk boundaries).
      if (outputs !== undefined) outputs.enqueue(controllerRef!, sealed as Uint8Array, true);
      else if (isBytes(sealed)) controllerRef!.enqueue(sealed);
      else {
        controllerRef!.enqueue(sealed.ciphertext);
        controllerRef!.enqueue(sealed.tag);
      }
      done += meta.length;
      common.onProgress?.({ bytes: done, ...(common.total === undefined ? {} : { total: common.total }) });
    },
  );
  // A reader that gives chunks back (the backup's Blob parts) takes them as the worker pool lent them.
  const sealLent = lend ? (cipher as LendingCipher).sealLent?.bind(cipher) : undefined;
  if (lend && sealLent === undefined) {
    cipher.dispose();
    throw new TypeError('engine cannot lend');
  }
  // Recycled sealed-chunk buffers, for a reader that allows it and an engine that writes in place.
  const sealInto = recycle && !sealLent ? cipher.sealInto?.bind(cipher) : undefined;
  const outputs = sealInto === undefined ? undefined : new OutputRing(chunkSize + TAG_LENGTH);
  const seal = (plain: Uint8Array, owned: Uint8Array | undefined, final: boolean): Promise<void> | undefined => {
    const tail = chunkNonceTail(index++, final);
    if (sealLent) return pipeline.push(sealLent(tail, plain, aad), { owned, length: plain.length });
    if (sealInto !== undefined) {
      const out = outputs!.take(plain.length + TAG_LENGTH, controllerRef!);
      const r = sealInto(tail, plain, aad, out);
      return pipeline.push(r === undefined ? out : r.then(() => out), { owned, length: plain.length });
    }
    return pipeline.push(sealChunk(cipher, tail, plain, aad), { owned, length: plain.length });
  };

  const transformer: CancellableTransformer = {
    // A reader that cancels (or a writer that aborts) ends the stream: wipe and unhook at once.
    cancel: cleanup,
    start(controller) {
      controllerRef = controller;
      abortTarget = { controller, cleanup };
      unhook = linkAbort(common.signal, abortTarget, abortStream, secrets);
      if (outputs !== undefined) outputs.enqueue(controller, header, false);
      else controller.enqueue(header);
    },
    async transform(piece, controller) {
      try {
        checkPiece(piece);
        let off = 0;
        while (off < piece.length) {
          const y = pause();
          if (y !== undefined) await y;
          throwIfAborted(common.signal);
          // A full chunk followed by more input is not the last one.
          if (held !== undefined) {
            const h = held;
            const owned = heldOwned;
            held = undefined;
            heldOwned = undefined;
            const w = seal(h, owned, false);
            if (w !== undefined) await w;
          }
          if (pos === chunkSize) {
            const w = seal(buf, buf, false);
            if (w !== undefined) await w;
            buf = pool.take();
            pos = 0;
          }
          if (pos === 0 && piece.length - off >= chunkSize) {
            const view = piece.subarray(off, off + chunkSize);
            // A piece the source read into one of our buffers goes back to the pool once sealed.
            const owned = off === 0 && input !== undefined && pool.owns(piece) ? piece : undefined;
            off += chunkSize;
            if (off < piece.length) {
              const w = seal(view, owned, false);
              if (w !== undefined) await w;
            } else {
              held = view;
              heldOwned = owned;
            }
            continue;
          }
          const n = Math.min(chunkSize - pos, piece.length - off);
          buf.set(piece.subarray(off, off + n), pos);
          pos += n;
          off += n;
        }
      } catch (e) {
        cleanup();
        controller.error(e);
        throw e;
      }
    },
    async flush() {
      try {
        throwIfAborted(common.signal);
        // The last chunk: non-empty unless the whole plaintext is empty (docs/FORMAT.md §Final chunk).
        const w = held !== undefined ? seal(held, heldOwned, true) : seal(buf.subarray(0, pos), buf, true);
        if (w !== undefined) await w;
        await pipeline.drain();
      } finally {
        cleanup();
      }
    },
  };
  return new TransformStream<Uint8Array, Uint8Array>(transformer);
}

/**
 * A `TransformStream` that decrypts an archive back to plaintext. It checks the header and the
 * key commitment before any chunk, emits each chunk's plaintext only after that chunk's tag
 * verified, and closes only after the final chunk verified. If the input ends early, is
 * reordered, extended or modified, the stream errors with `BackupError('ARCHIVE_AUTH_FAILED')`
 * (plaintext already emitted came from authentic chunks, but the restore is incomplete: treat
 * anything short of a clean close as failure).
 *
 * @param key - The 32-byte backup key, or a lookup from the header's keyId to the key.
 * @param opts - Engine, signal, progress.
 * @example
 * ```ts
 * const response = await fetch(url);
 * await response.body!
 *   .pipeThrough(createDecryptStream((keyId) => keyForId(keyring, keyId)))
 *   .pipeTo(restoreSink);
 * ```
 */
export function createDecryptStream(key: ArchiveKeySource, opts?: DecryptOptions): TransformStream<Uint8Array, Uint8Array> {
  const source = checkKeySource(key);
  const common = resolveCommon(opts);
  throwIfAborted(common.signal);
  let head = new Uint8Array(HEADER_FIXED_LENGTH);
  let headPos = 0;
  let headTotal: number | undefined;
  let cipher: ChunkCipher | undefined;
  let aad: Uint8Array = new Uint8Array(0);
  let sealedSize = 0;
  let pool = new BufferPool(0);
  let buf: Uint8Array = new Uint8Array(0);
  let pos = 0;
  let index = 0;
  let done = 0;
  // Only the cipher is secret here (the pool holds ciphertext).
  const secrets = new StreamSecrets();
  let unhook: () => void = () => undefined;
  let controllerRef: TransformStreamDefaultController<Uint8Array> | undefined;
  // Held strongly by the transformer below, weakly by the caller's signal (see linkAbort).
  let abortTarget: AbortTarget | undefined;
  const cleanup = (): void => {
    unhook();
    secrets.dispose();
  };
  // As in the encrypt stream: a turn for the event loop every ~10 ms of in-thread work.
  const pause = createYielder();
  const pipeline = new InOrderPipeline<Uint8Array | undefined, Uint8Array>(common.limit, (plain, sealed) => {
    if (plain === undefined || plain.length !== sealed.length - TAG_LENGTH) throw archiveAuthFailed();
    // Sealed buffers are recycled once their chunk is out (at most parallelism + 1 exist).
    pool.release(sealed);
    controllerRef!.enqueue(plain);
    done += sealed.length;
    common.onProgress?.({ bytes: done, ...(common.total === undefined ? {} : { total: common.total }) });
  });
  const open = (sealed: Uint8Array, final: boolean): Promise<void> | undefined =>
    pipeline.push(cipher!.open(chunkNonceTail(index++, final), sealed, aad), sealed);

  const transformer: CancellableTransformer = {
    // A reader that cancels (or a writer that aborts) ends the stream: wipe and unhook at once.
    cancel: cleanup,
    start(controller) {
      controllerRef = controller;
      abortTarget = { controller, cleanup };
      unhook = linkAbort(common.signal, abortTarget, abortStream, secrets);
    },
    async transform(piece, controller) {
      try {
        checkPiece(piece);
        let off = 0;
        while (off < piece.length) {
          const y = pause();
          if (y !== undefined) await y;
          throwIfAborted(common.signal);
          if (cipher === undefined) {
            // Header: collect the fixed part, learn the total length, collect the rest.
            const n = Math.min((headTotal ?? HEADER_FIXED_LENGTH) - headPos, piece.length - off);
            head.set(piece.subarray(off, off + n), headPos);
            headPos += n;
            off += n;
            if (headTotal === undefined) {
              headTotal = checkHeaderStart(head.subarray(0, headPos));
              if (headTotal !== undefined) {
                const grown = new Uint8Array(headTotal);
                grown.set(head);
                head = grown;
              }
            }
            if (headTotal !== undefined && headPos === headTotal) {
              const header = parseHeader(head);
              const bk = await resolveKey(source, header);
              throwIfAborted(common.signal);
              ({ cipher, aad } = openHeader(bk, header, head, common.engine));
              secrets.cipher = cipher;
              sealedSize = header.chunkSize + TAG_LENGTH;
              pipeline.setLimit(inFlightLimit(common.limit, header.chunkSize));
              pool = new BufferPool(sealedSize);
              buf = pool.take();
              done = header.length;
            }
            continue;
          }
          if (pos === sealedSize) {
            // A full sealed chunk followed by more input is not the last one.
            const w = open(buf, false);
            if (w !== undefined) await w;
            buf = pool.take();
            pos = 0;
          }
          const n = Math.min(sealedSize - pos, piece.length - off);
          buf.set(piece.subarray(off, off + n), pos);
          pos += n;
          off += n;
        }
      } catch (e) {
        cleanup();
        controller.error(e);
        throw e;
      }
    },
    async flush() {
      try {
        throwIfAborted(common.signal);
        // Ended inside the header, or a final chunk too short to hold a tag, or an empty final
        // chunk after other chunks (docs/FORMAT.md §Final chunk): truncated or not ours.
        if (cipher === undefined) throw archiveAuthFailed();
        if (pos < TAG_LENGTH || (pos === TAG_LENGTH && index > 0)) throw archiveAuthFailed();
        const w = open(buf.subarray(0, pos), true);
        if (w !== undefined) await w;
        await pipeline.drain();
      } finally {
        cleanup();
      }
    },
  };
  return new TransformStream<Uint8Array, Uint8Array>(transformer);
}
