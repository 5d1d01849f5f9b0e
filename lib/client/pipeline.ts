/**
 * The upload pipeline (docs/CLIENT.md §Pipelining): cuts the archive's ciphertext stream into
 * parts aligned to whole chunks and uploads up to `concurrency` parts at once while encryption
 * continues, with backpressure: when every upload slot is busy the cutter stops reading, so the
 * encrypt stream (and the source behind it) stops too. Memory is bounded by about
 * `(concurrency + 1) × partSize` plus the encrypt stream's own queue. A backup therefore takes
 * about max(encrypt time, upload time), not their sum.
 *
 * Resume: parts the store already confirmed (`listParts`) are re-encrypted but not re-sent, after
 * checking that their ciphertext hash equals the one recorded when they were first sent.
 *
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { BackupError, isBackupError, throwIfAborted } from '../errors.js';
import type { BlobStore, CompletedPart, UploadRef, UploadedPart } from '../storage/blob/types.js';
import { BLOB_PARTS, type BlobParts, type BuildBlob } from '../storage/blob/body.js';
import type { CipherEngine } from '../archive/engine.js';
import { toHex } from '../util/bytes.js';

/** An abortable sleep. */
export type PipelineSleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** How the ciphertext is cut: part 1 is `firstPartSize` bytes, every later part `partSize`, the last one the rest. */
export interface PartPlan {
  readonly firstPartSize: number;
  readonly partSize: number;
  /** Archive header length (part 1 starts with it). */
  readonly headerLength: number;
  /** chunkSize + 16: every part after the header is a run of sealed chunks. */
  readonly sealedChunkSize: number;
}

/** An engine that lends its sealed chunks (the worker pool: lib/archive/engines/workers.ts). */
interface Lender {
  release(sealed: Uint8Array): void;
  /** Make a part's `Blob` off the page's thread (the pool's `blobOf`). */
  blobOf?: BuildBlob;
}

/**
 * {@link UploadPartsOptions.blobParts} for this store and engine: the store's Blob parts (where
 * bodies travel as `Blob`s: browsers), with the engine when it lends its sealed chunks (the worker
 * pool). `undefined` for a store without them: parts are then cut into part buffers.
 */
export function blobPartsFor(store: BlobStore, engine: CipherEngine | undefined): UploadPartsOptions['blobParts'] {
  const parts = (store as { [BLOB_PARTS]?: BlobParts })[BLOB_PARTS];
  const pool = engine as Partial<Lender> | undefined;
  return parts && (typeof pool?.release === 'function' ? { ...parts, lender: pool as Lender } : parts);
}

/** Thrown (internally) when a part that storage may already have seen would now differ. */
export class SourceChangedError extends Error {
  constructor(readonly partNumber: number) {
    super(`the source changed: part ${partNumber} no longer encrypts to the bytes already sent`);
    this.name = 'SourceChangedError';
  }
}

/** Options of {@link uploadParts}. */
export interface UploadPartsOptions {
  readonly store: BlobStore;
  readonly upload: UploadRef;
  /** The archive ciphertext, from the start (header included). */
  readonly ciphertext: ReadableStream<Uint8Array>;
  readonly plan: PartPlan;
  /** Parts the store confirmed before this run, by part number. */
  readonly confirmed: ReadonlyMap<number, UploadedPart>;
  /** Hex SHA-256 of every part ever started, by part number (from the session). */
  readonly started: Readonly<Record<string, string>>;
  /** Persist "part n with this hash is about to be sent"; awaited before the first byte goes out. */
  readonly onPartStart: (partNumber: number, hashHex: string) => Promise<void>;
  /** Awaited before every part attempt, after its hash was recorded: proves the lock is still held. */
  readonly beforeSend?: () => Promise<void>;
  /** Parts uploading at once (default 3). */
  readonly concurrency?: number;
  /** Extra attempts per part on a retryable failure (default 4), on top of the transport's. */
  readonly retries?: number;
  /** Sleep between part attempts. */
  readonly sleep: PipelineSleep;
  /** Jitter source in [0, 1). */
  readonly random?: () => number;
  readonly signal?: AbortSignal;
  /** Ciphertext bytes confirmed so far (skipped + uploaded). */
  readonly onProgress?: (confirmedBytes: number) => void;
  /**
   * Blob parts (browsers: the presigned adapters' {@link BLOB_PARTS}): each part's body is built
   * as its pieces come and made a `Blob` once for every attempt (`blobParts` in
   * lib/storage/blob/body.ts). Sealed chunks the worker pool lent (`lender`, with the `lend`
   * encrypt stream) are copied straight out of the workers' buffers and handed back, and the pool
   * makes the part's `Blob` in a worker (`blobOf`); without a pool, `Blob`s of about 1 MiB are
   * built on the page. Without Blob parts, parts are cut into recycled part buffers and sent with
   * `putPart`.
   */
  readonly blobParts?: BlobParts & { readonly lender?: Lender };
}

/** What {@link uploadParts} returns. */
export interface UploadPartsResult {
  readonly parts: readonly CompletedPart[];
  /** Total ciphertext bytes. */
  readonly size: number;
}

/** Parts uploading at once unless the caller says otherwise. */
export const DEFAULT_PART_CONCURRENCY = 3;

/** Codes a part upload may be retried on: the part is idempotent (same number, same bytes). */
const RETRYABLE = new Set(['OFFLINE', 'TIMEOUT', 'BLOB_STORE_FAILED', 'PROTOCOL']);

/**
 * The fingerprint of a part's ciphertext that the resume check compares: SHA-256 over the part's
 * length, the archive header (part 1 only) and the 16-byte Poly1305 tag of every chunk in the part.
 *
 * Why the tags suffice: a resumed run uses the same key and the same nonces as the first run, so
 * each chunk's Poly1305 one-time key is the same too (RFC 8439 §2.6). Two different ciphertexts
 * of a chunk then get equal tags with probability about len/16 · 2^-106 (RFC 8439 §4, the
 * one-time-MAC bound), since the data changes independently of the secret key. And under one
 * keystream, equal ciphertexts mean equal plaintexts. Hashing 16 bytes per 64 KiB chunk instead of
 * the whole part keeps the check off the pipeline's critical path.
 */
function partDigest(part: Uint8Array, plan: PartPlan, first: boolean): string {
  const pieces: Uint8Array[] = [];
  let off = 0;
  if (first) {
    pieces.push(part.subarray(0, plan.headerLength));
    off = plan.headerLength;
  }
  while (off < part.length) {
    const end = Math.min(part.length, off + plan.sealedChunkSize);
    pieces.push(part.subarray(Math.max(off, end - 16), end));
    off = end;
  }
  return digestOf(part.length, pieces);
}

/** {@link partDigest} from its inputs: the part's length, then (part 1) the header and every chunk's tag. */
function digestOf(length: number, pieces: readonly Uint8Array[]): string {
  const h = sha256.create();
  const len = new Uint8Array(8);
  new DataView(len.buffer).setFloat64(0, length);
  h.update(len);
  for (const p of pieces) h.update(p);
  return toHex(h.digest());
}

/**
 * Upload the ciphertext stream as parts (see the module comment).
 *
 * @example
 * ```ts
 * const { parts } = await uploadParts({ store: blobStore, upload, ciphertext, plan, confirmed: new Map(), started: {},
 *   onPartStart: async () => {}, sleep });
 * await blobStore.completeUpload(upload, parts);
 * ```
 */
export async function uploadParts(o: UploadPartsOptions): Promise<UploadPartsResult> {
  const concurrency = o.concurrency ?? DEFAULT_PART_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 16) {
    throw new RangeError('concurrency must be an integer in 1..16');
  }
  const retries = o.retries ?? 4;
  const random = o.random ?? Math.random;
  const internal = new AbortController();
  const onAbort = () => internal.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = internal.signal;

  const reader = o.ciphertext.getReader();
  const parts: CompletedPart[] = [];
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  let confirmedBytes = 0;
  let total = 0;

  const putWithRetries = async (partNumber: number, bytes: Uint8Array<ArrayBuffer> | Blob): Promise<string> => {
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal);
      // Not inside the try: losing the lock is not a transient failure to retry.
      await o.beforeSend?.();
      throwIfAborted(signal);
      try {
        const { etag } = await (bytes instanceof Uint8Array ? o.store.putPart(o.upload, partNumber, bytes, { signal }) : blobs!.put(o.upload, partNumber, bytes, { signal }));
        return etag;
      } catch (e) {
        if (signal.aborted) throw new BackupError('ABORTED', 'operation was aborted', { cause: o.signal?.reason });
        if (!isBackupError(e) || !RETRYABLE.has(e.code) || attempt >= retries) throw e;
        // Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"), capped at 8 s.
        const cap = Math.min(8000, 200 * 2 ** attempt);
        await o.sleep(Math.floor(random() * cap), signal);
      }
    }
  };

  // Upload slots: a counting semaphore of `concurrency` permits.
  let free = concurrency;
  const waiters: (() => void)[] = [];
  const acquireSlot = async (): Promise<void> => {
    if (free > 0) {
      free--;
      return;
    }
    await new Promise<void>((resolve) => waiters.push(resolve));
  };
  const releaseSlot = (): void => {
    const next = waiters.shift();
    if (next !== undefined) next();
    else free++;
  };

  // Part buffers are recycled once their upload settled (the store keeps no reference to a part's
  // bytes after putPart settles: see BlobStore.putPart), so a long backup allocates about
  // `concurrency + 2` of them instead of one per part, sparing the allocator and the GC.
  const spare: Uint8Array<ArrayBuffer>[] = [];
  const takeBuffer = (size: number): Uint8Array<ArrayBuffer> => {
    const i = spare.findIndex((b) => b.length === size);
    return i < 0 ? new Uint8Array(size) : spare.splice(i, 1)[0]!;
  };
  const recycle = (b: Uint8Array<ArrayBuffer> | Blob): void => {
    if (b instanceof Uint8Array && b.length === o.plan.partSize && spare.length <= concurrency) spare.push(b);
  };

  const dispatch = (partNumber: number, made: Uint8Array<ArrayBuffer> | Blob | Promise<Blob>, length: number, hash: string) => {
    // A body still being made in a worker: awaited by the task (not by the loop reading the next
    // part); a part skipped below never needs it, and its failure is the pool's, reported there.
    if (made instanceof Promise) made.catch(() => undefined);
    let bytes: Uint8Array<ArrayBuffer> | Blob | undefined = made instanceof Promise ? undefined : made;
    const task = (async () => {
      const prior = o.confirmed.get(partNumber);
      if (prior !== undefined && prior.size === length && o.started[String(partNumber)] === hash) {
        parts.push({ partNumber, etag: prior.etag });
      } else {
        if (o.started[String(partNumber)] !== hash) await o.onPartStart(partNumber, hash);
        bytes ??= await made;
        await acquireSlot();
        let etag: string;
        try {
          etag = await putWithRetries(partNumber, bytes);
        } finally {
          releaseSlot();
        }
        parts.push({ partNumber, etag });
      }
      confirmedBytes += length;
      o.onProgress?.(confirmedBytes);
    })().then(
      () => {
        inflight.delete(task);
        if (bytes !== undefined) recycle(bytes);
      },
      (e: unknown) => {
        inflight.delete(task);
        if (bytes !== undefined) recycle(bytes);
        if (failure === undefined) failure = e;
        internal.abort(e);
      },
    );
    inflight.add(task);
  };

  const blobs = o.blobParts;
  const lender = blobs?.lender;
  /** Blob parts: the body being built, the digest's inputs (header, tags), the chunk being read. */
  const body = blobs?.parts((v) => lender!.release(v), lender?.blobOf?.bind(lender));
  let digest: Uint8Array[] = [];
  let tail = new Uint8Array(0);
  let sealed = 0;

  try {
    let partNumber = 1;
    let want = o.plan.firstPartSize;
    let buf = blobs ? new Uint8Array(0) : takeBuffer(want);
    let fill = 0;
    for (;;) {
      if (failure !== undefined) break;
      throwIfAborted(signal);
      const r = await reader.read();
      if (r.done) break;
      let chunk = r.value;
      if (body) {
        // Each piece (the header, a sealed chunk, or its ciphertext and tag apart) lies in one part:
        // the plan's parts are whole chunks.
        if (fill + chunk.length > want) throw new Error('internal: a piece across two parts');
        const header = partNumber === 1 && fill === 0;
        // With a lending stream, every piece but the header is a chunk the pool lent (a piece that
        // is not makes the pool's release throw).
        body.add(chunk, lender !== undefined && !header);
        if (header) {
          if (chunk.length !== o.plan.headerLength) throw new Error('internal: no header first');
          digest.push(chunk.slice());
        } else {
          // The digest's tag of each chunk: its last 16 bytes, whichever piece they came in.
          tail = Uint8Array.of(...tail, ...chunk.subarray(-16)).slice(-16);
          sealed += chunk.length;
          if (sealed >= o.plan.sealedChunkSize) {
            digest.push(tail);
            sealed = 0;
          }
        }
        fill += chunk.length;
        if (fill === want) {
          await emit();
          if (failure !== undefined) break;
        }
        continue;
      }
      while (chunk.length > 0) {
        const n = Math.min(chunk.length, want - fill);
        buf.set(chunk.subarray(0, n), fill);
        fill += n;
        chunk = chunk.subarray(n);
        if (fill === want) {
          await emit();
          if (failure !== undefined) break;
        }
      }
    }
    if (failure === undefined && fill > 0) await emit();

    async function emit(): Promise<void> {
      let bytes: Uint8Array<ArrayBuffer> | Blob | Promise<Blob>;
      let hash: string;
      if (body) {
        if (sealed > 0) digest.push(tail); // the final, shorter chunk
        bytes = body.end();
        hash = digestOf(fill, digest);
        digest = [];
        sealed = 0;
      } else {
        bytes = fill === buf.length ? buf : buf.slice(0, fill);
        hash = partDigest(bytes, o.plan, partNumber === 1);
      }
      total += fill;
      const known = o.started[String(partNumber)];
      // A part storage may already have seen must re-encrypt to the very same bytes; otherwise we
      // would expose two plaintexts under one nonce. Stop before sending anything of it.
      if (known !== undefined && known !== hash) throw new SourceChangedError(partNumber);
      dispatch(partNumber, bytes, fill, hash);
      partNumber++;
      want = o.plan.partSize;
      if (!body) buf = takeBuffer(want);
      fill = 0;
      // Backpressure: at most `concurrency` parts uploading plus ONE cut and waiting for a slot, so
      // a slot that frees up finds the next part ready instead of waiting for it to be encrypted.
      while (inflight.size > concurrency && failure === undefined) await Promise.race(inflight);
    }

    while (inflight.size > 0) await Promise.race(inflight);
    if (failure !== undefined) throw failure;
    throwIfAborted(o.signal);
    // A part confirmed by the store beyond the end of this archive means the state is inconsistent.
    for (const n of o.confirmed.keys()) {
      if (n >= partNumber) throw new SourceChangedError(n);
    }
    parts.sort((a, b) => a.partNumber - b.partNumber);
    return { parts, size: total };
  } catch (e) {
    internal.abort(e);
    await Promise.allSettled([...inflight]);
    await reader.cancel(e).catch(() => undefined);
    if (failure !== undefined && !(e instanceof SourceChangedError)) throw failure;
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
}
