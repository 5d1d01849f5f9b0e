/**
 * Random access into a stored archive (docs/FORMAT.md §Random access): fetch and decrypt only the
 * chunks a byte range needs, so a client can restore the newest messages first with ranged GETs.
 *
 * @module
 */
import { BackupError, archiveAuthFailed, throwIfAborted } from '../errors.js';
import { isBytes, safeInt, wipe } from '../util/bytes.js';
import { createYielder } from '../util/yield.js';
import { chunkNonceTail, type ChunkCipher } from './engine.js';
import { HEADER_FIXED_LENGTH, TAG_LENGTH, bodyLayout, checkHeaderStart, parseHeader, type ArchiveHeader } from './format.js';
import {
  InOrderPipeline,
  checkKeySource,
  openHeader,
  resolveCommon,
  resolveKey,
  type ArchiveKeySource,
  type ArchiveOptions,
  type ArchiveProgress,
} from './options.js';

/**
 * Where {@link openArchive} reads the archive from.
 *
 * @example
 * ```ts
 * const source: OpenArchiveOptions = {
 *   size: blob.size,
 *   readAt: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
 *   key: bk,
 * };
 * ```
 */
export interface OpenArchiveOptions extends Omit<ArchiveOptions, 'onProgress'> {
  /** The archive's total size in bytes (from the blob store's metadata, say). */
  readonly size: number;
  /**
   * Read exactly `length` bytes at `offset` (an HTTP Range request, `Blob.slice`, a file read).
   * The signal is the operation's own, for cancelling the request.
   */
  readonly readAt: (offset: number, length: number, signal?: AbortSignal) => Promise<Uint8Array>;
  /** The 32-byte backup key, or a lookup from keyId to key. */
  readonly key: ArchiveKeySource;
  /** How many chunk reads to keep in flight in one `read` (default 4, at least the engine's parallelism). */
  readonly concurrency?: number;
}

/**
 * Options of {@link ArchiveReader.read}.
 *
 * @example
 * ```ts
 * await reader.read(0, 1024, { signal: AbortSignal.timeout(5000) });
 * ```
 */
export interface ReadOptions {
  /** Cancels this read (`BackupError('ABORTED')`). */
  readonly signal?: AbortSignal;
  /** Called after each chunk of the range is decrypted; `total` is the requested length. */
  readonly onProgress?: (progress: ArchiveProgress) => void;
}

/**
 * An opened archive: its authenticated header and plaintext size, and ranged reads.
 *
 * @example
 * ```ts
 * const reader = await openArchive({ size, readAt, key: bk });
 * const newest = await reader.read(reader.plaintextSize - 65536, 65536);
 * reader.close();
 * ```
 */
export interface ArchiveReader {
  /** The header, authenticated by the key commitment. */
  readonly header: ArchiveHeader;
  /** Plaintext size, authenticated: the final chunk has been verified at open time. */
  readonly plaintextSize: number;
  /**
   * Decrypt `length` plaintext bytes at `offset`, reading only the chunks that hold them. Each
   * chunk's tag is checked before its bytes are used; any failure is `ARCHIVE_AUTH_FAILED`.
   */
  read(offset: number, length: number, opts?: ReadOptions): Promise<Uint8Array>;
  /** Wipe the chunk key and the cached final chunk. Reads fail afterwards. */
  close(): void;
}

function checkRead(value: unknown, length: number): Uint8Array {
  if (!isBytes(value)) throw new TypeError('readAt must resolve to a Uint8Array');
  // A short or long read means the stored bytes are not the archive of the size we were told.
  if (value.length !== length) throw archiveAuthFailed();
  return value;
}

/**
 * @internal An open reader's chunk cipher and AAD, for a caller that opens whole chunks another way
 * (the restore's windows read and opened in the worker pool, lib/client/restore.ts). Disposed
 * with the reader.
 */
export const readerCipher = new WeakMap<ArchiveReader, { readonly cipher: ChunkCipher; readonly aad: Uint8Array }>();

/**
 * Open a stored archive for random access. Reads and checks the header and key commitment, then
 * reads and verifies the final chunk, so truncation or extension is detected here and
 * `plaintextSize` can be trusted.
 *
 * @param opts - Size, reader, key, and optionally engine, signal and concurrency.
 * @returns A reader for byte ranges of the plaintext.
 * @example
 * ```ts
 * const reader = await openArchive({
 *   size: Number(res.headers.get('content-length')),
 *   readAt: (offset, length) => rangedGet(url, offset, length),
 *   key: (keyId) => keyForId(keyring, keyId),
 * });
 * const tail = await reader.read(Math.max(0, reader.plaintextSize - (1 << 20)), 1 << 20); // the last MiB
 * ```
 */
export async function openArchive(opts: OpenArchiveOptions): Promise<ArchiveReader> {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object');
  const { size, readAt } = opts;
  safeInt(size, 'opts.size');
  if (typeof readAt !== 'function') throw new TypeError('opts.readAt must be a function');
  const source = checkKeySource(opts.key);
  const common = resolveCommon(opts);
  // Concurrent range reads: the engine's parallelism (a worker pool asks for many chunks so
  // it can batch them), within 4..16 requests.
  const concurrency = opts.concurrency ?? Math.max(4, Math.min(common.limit, 16));
  safeInt(concurrency, 'opts.concurrency', 1);
  const signal = common.signal;
  throwIfAborted(signal);

  // Header: the fixed part first (its metadata length says how much more to read).
  const first = checkRead(await readAt(0, Math.min(size, HEADER_FIXED_LENGTH), signal), Math.min(size, HEADER_FIXED_LENGTH));
  const total = checkHeaderStart(first);
  if (total === undefined || size < total) throw archiveAuthFailed();
  const headBytes = new Uint8Array(total);
  headBytes.set(first);
  headBytes.set(checkRead(await readAt(HEADER_FIXED_LENGTH, total - HEADER_FIXED_LENGTH, signal), total - HEADER_FIXED_LENGTH), HEADER_FIXED_LENGTH);
  const header = parseHeader(headBytes);
  const bk = await resolveKey(source, header);
  throwIfAborted(signal);
  const layout = bodyLayout(size, header.chunkSize, header.length);
  if (layout === undefined) throw archiveAuthFailed();
  const opened: { cipher: ChunkCipher; aad: Uint8Array } = openHeader(bk, header, headBytes, common.engine);
  const { cipher, aad } = opened;
  const chunkSize = header.chunkSize;
  const sealedSize = chunkSize + TAG_LENGTH;
  const last = layout.count - 1;
  let closed = false;

  const readChunk = async (i: number, sig: AbortSignal | undefined): Promise<Uint8Array> => {
    const length = i === last ? layout.finalSealed : sealedSize;
    const sealed = checkRead(await readAt(header.length + i * sealedSize, length, sig), length);
    if (closed) throw new BackupError('INVALID_ARGUMENT', 'the archive reader was closed');
    const plain = await cipher.open(chunkNonceTail(i, i === last), sealed, aad);
    if (plain === undefined || plain.length !== length - TAG_LENGTH) throw archiveAuthFailed();
    return plain;
  };

  /**
   * Chunk i (not the last), opened straight into `into` (its whole plaintext) when the engine can
   * write where it is told: no buffer per chunk, no copy, nothing to wipe.
   */
  const openInto = cipher.openInto?.bind(cipher);
  const readChunkInto = async (i: number, sig: AbortSignal | undefined, into: Uint8Array): Promise<undefined> => {
    const sealed = checkRead(await readAt(header.length + i * sealedSize, sealedSize, sig), sealedSize);
    if (closed) throw new BackupError('INVALID_ARGUMENT', 'the archive reader was closed');
    if (!(await openInto!(chunkNonceTail(i, false), sealed, aad, into))) throw archiveAuthFailed();
    return undefined;
  };

  // With an engine that opens in this thread, a read of many chunks is one chain of microtasks:
  // give the event loop a turn every ~10 ms of it (shared by concurrent reads, so all of them
  // pause together), so a page stays responsive during a restore (issue 20).
  const pause = createYielder();

  let finalPlain: Uint8Array;
  try {
    finalPlain = await readChunk(last, signal);
  } catch (e) {
    cipher.dispose();
    throw e;
  }

  const reader: ArchiveReader = {
    header,
    plaintextSize: layout.plaintext,
    async read(offset: number, length: number, ropts: ReadOptions = {}): Promise<Uint8Array> {
      if (closed) throw new BackupError('INVALID_ARGUMENT', 'the archive reader was closed');
      safeInt(offset, 'offset');
      safeInt(length, 'length');
      if (offset + length > layout.plaintext) throw new RangeError('offset + length is beyond the plaintext size');
      const sig = ropts.signal ?? signal;
      throwIfAborted(sig);
      const out = new Uint8Array(length);
      if (length === 0) return out;
      const firstChunk = Math.floor(offset / chunkSize);
      const lastChunk = Math.floor((offset + length - 1) / chunkSize);
      let done = 0;
      // A result is a chunk's plaintext to copy in, or `undefined` when it was opened in place.
      const pipeline = new InOrderPipeline<Uint8Array | undefined, number>(concurrency, (plain, i) => {
        const chunkStart = i * chunkSize;
        const from = Math.max(offset, chunkStart);
        if (plain === undefined) {
          done += chunkSize;
        } else {
          // Copy the part of chunk i that overlaps [offset, offset + length).
          const to = Math.min(offset + length, chunkStart + plain.length);
          out.set(plain.subarray(from - chunkStart, to - chunkStart), from - offset);
          if (i !== last) wipe(plain);
          done += to - from;
        }
        ropts.onProgress?.({ bytes: done, total: length });
      });
      let ok = false;
      try {
        for (let i = firstChunk; i <= lastChunk; i++) {
          const y = pause();
          if (y !== undefined) {
            await y;
            if (closed) throw new BackupError('INVALID_ARGUMENT', 'the archive reader was closed');
          }
          throwIfAborted(sig);
          const start = i * chunkSize;
          // A whole chunk inside the range, not the (cached) last one: opened in place.
          const whole = openInto !== undefined && i !== last && start >= offset && start + chunkSize <= offset + length;
          const result = i === last ? finalPlain : whole ? readChunkInto(i, sig, out.subarray(start - offset, start - offset + chunkSize)) : readChunk(i, sig);
          const w = pipeline.push(result, i);
          if (w !== undefined) await w;
        }
        await pipeline.drain();
        ok = true;
        return out;
      } finally {
        if (!ok) wipe(out);
      }
    },
    close(): void {
      closed = true;
      cipher.dispose();
      wipe(finalPlain);
    },
  };
  readerCipher.set(reader, opened);
  return reader;
}
