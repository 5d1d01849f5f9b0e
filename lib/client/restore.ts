/**
 * Finding, listing, restoring and pruning backups (docs/CLIENT.md §Restore, §List and prune).
 *
 * A restore reads the latest pointer (or takes a backupId), opens the sealed manifest, then opens
 * the archive with ranged reads. The archive's header must carry the salt and keyId the manifest
 * names, so storage cannot substitute another (older, equally valid) archive under the name. The
 * plaintext stream releases each chunk only after its tag verified, and closes only after the final
 * chunk verified; any failure errors the stream with `ARCHIVE_AUTH_FAILED`.
 *
 * @module
 */
import { openArchive, readerCipher } from '../archive/random-access.js';
import type { ChunkCipher, CipherEngine } from '../archive/engine.js';
import { RANGE_REQUEST, type RangeRequest } from '../storage/blob/body.js';
import { TAG_LENGTH } from '../archive/format.js';
import { BackupError, archiveAuthFailed, isBackupError, throwIfAborted } from '../errors.js';
import type { BlobStore } from '../storage/blob/types.js';
import { equalBytes, fromHex, toHex, wipe } from '../util/bytes.js';
import { linkAbort, type Disposer } from '../util/abort.js';
import {
  BACKUP_ID_LENGTH,
  LATEST_NAME,
  MAX_MANIFEST_SIZE,
  archiveName,
  manifestName,
  openLatest,
  openManifest,
  type BackupKeyLookup,
  type BackupManifest,
  type LatestPointer,
} from './manifest.js';

/** @internal What restore and list need. */
export interface CatalogContext {
  readonly accountId: string;
  readonly blobs: BlobStore;
  readonly keyPrefix: string;
  readonly keyLookup: BackupKeyLookup;
  readonly signal?: AbortSignal;
  /** Deadline of each read of a manifest, the latest pointer or a listing, ms (default {@link DEFAULT_READ_TIMEOUT_MS}). */
  readonly readTimeoutMs?: number;
}

/** Default deadline of one read of a manifest, the latest pointer or a listing. */
export const DEFAULT_READ_TIMEOUT_MS = 30_000;

/**
 * Run one read from storage under a deadline (issue 14: a store must not hold the client forever).
 * The read gets a signal that aborts at the deadline or with the caller's; and the client stops
 * waiting at the deadline even if the store ignores the signal. `TIMEOUT` names what was read.
 */
export async function boundedRead<T>(ctx: Pick<CatalogContext, 'signal' | 'readTimeoutMs'>, what: string, read: (signal: AbortSignal) => Promise<T>): Promise<T> {
  throwIfAborted(ctx.signal);
  const ms = ctx.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const ac = new AbortController();
  const onAbort = () => ac.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e = new BackupError('TIMEOUT', `reading ${what} from the blob store took longer than ${ms} ms`, { limit: ms });
      ac.abort(e);
      reject(e);
    }, ms);
  });
  const stopped = new Promise<never>((_, reject) => {
    ac.signal.addEventListener('abort', () => reject(isBackupError(ac.signal.reason) ? ac.signal.reason : new BackupError('ABORTED', 'operation was aborted', { cause: ac.signal.reason })), { once: true });
  });
  deadline.catch(() => undefined);
  stopped.catch(() => undefined);
  try {
    return await Promise.race([read(ac.signal), deadline, stopped]);
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener('abort', onAbort);
  }
}

/** A worker pool that reads and opens restore windows itself (lib/archive/engines/workers.ts). */
interface WindowOpener {
  fetchOpen(
    cipher: ChunkCipher,
    aad: Uint8Array,
    req: Awaited<ReturnType<RangeRequest>>,
    first: number,
    count: number,
    chunkSize: number,
  ): Promise<Uint8Array | false | undefined>;
}

/** Progress of a restore: plaintext bytes released so far. */
export interface RestoreProgress {
  /** Plaintext bytes verified and delivered so far. */
  readonly bytes: number;
  /** Plaintext size of the whole backup, in bytes. */
  readonly total: number;
}

/** A backup opened for reading. */
export interface OpenedBackup {
  /** The decrypted manifest. */
  readonly manifest: BackupManifest;
  /** Plaintext size in bytes. */
  readonly plaintextSize: number;
  /**
   * Random access: `length` plaintext bytes from `offset`, fetching and verifying only the chunks
   * needed (restore the newest messages first by reading the end).
   */
  read(offset: number, length: number, options?: { readonly signal?: AbortSignal }): Promise<Uint8Array>;
  /** Wipe the archive's chunk key; reads fail afterwards. */
  close(): void;
  /**
   * The whole plaintext as a stream. The archive is read in windows of whole chunks, one ranged
   * read each, with up to `readAhead` windows fetched and verified ahead of the consumer; windows
   * are released in order, each only after all its chunks verified. Each call makes a new stream;
   * cancelling it (or aborting `signal`) aborts the reads in flight.
   */
  stream(options?: RestoreStreamOptions): ReadableStream<Uint8Array>;
}

/** Default plaintext bytes per ranged read of {@link OpenedBackup.stream} (rounded down to whole chunks). */
export const DEFAULT_RESTORE_WINDOW = 4 * 1024 * 1024;
/** Largest `windowSize` {@link OpenedBackup.stream} accepts. */
export const MAX_RESTORE_WINDOW = 64 * 1024 * 1024;
/** Default number of windows {@link OpenedBackup.stream} keeps in flight. */
export const DEFAULT_RESTORE_READ_AHEAD = 3;
/** Largest `readAhead` {@link OpenedBackup.stream} accepts. */
export const MAX_RESTORE_READ_AHEAD = 8;

/**
 * Options of a backup's full-plaintext stream (`openStream`). Memory held by one stream is bounded by about
 * `2 × readAhead × windowSize` (ciphertext and plaintext of the windows in flight) plus the window
 * the consumer holds.
 *
 * @example
 * ```ts
 * restored.openStream({ windowSize: 8 << 20, readAhead: 2, onProgress: (p) => show(p.bytes / p.total) });
 * ```
 */
export interface RestoreStreamOptions {
  /** Cancels the reads in flight; the stream errors with `ABORTED`. */
  readonly signal?: AbortSignal;
  /** Called after each window is released, with the plaintext bytes released so far (monotonic). */
  readonly onProgress?: (p: RestoreProgress) => void;
  /**
   * Plaintext bytes per ranged read, rounded down to whole chunks (at least one chunk). Default
   * 4 MiB, at most 64 MiB.
   */
  readonly windowSize?: number;
  /**
   * Most windows read and verified at once, ahead of the consumer. Default
   * 3, at most 8; 1 reads one window
   * after another.
   */
  readonly readAhead?: number;
}

/**
 * A restore stream's windows in flight (verified plaintext not yet released), apart from the
 * stream so they can be wiped even when the stream is dropped unfinished (see `linkAbort`).
 */
class PendingWindows implements Disposer {
  readonly reads: Promise<Uint8Array>[] = [];

  /** Wipe every window that will never be released, when its read settles. */
  dispose(): void {
    for (const p of this.reads.splice(0)) p.then(wipe, () => undefined);
  }
}

/** The caller's abort stops a restore stream's reads (its reason is the one reported). */
function abortFrom(stop: AbortController, signal: AbortSignal): void {
  stop.abort(signal.reason);
}

function checkStreamOption(value: number | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer between 1 and ${max}`);
  }
  return value;
}

function parseBackupId(id: string | Uint8Array): Uint8Array {
  if (typeof id === 'string') {
    if (!/^[0-9a-f]{32}$/.test(id)) throw new RangeError('backupId must be 32 lowercase hex digits');
    return fromHex(id);
  }
  if (id.length !== BACKUP_ID_LENGTH) throw new RangeError(`backupId must be ${BACKUP_ID_LENGTH} bytes`);
  return Uint8Array.from(id);
}

/**
 * A manifest, pointer or marker: one ranged GET of at most MAX_MANIFEST_SIZE + 1 bytes, under a
 * deadline. The range is what bounds memory: the adapters cap a response at the range's length
 * while it streams (a HEAD first would not: the GET may then send something else), so a store
 * that answers with 256 MiB is cut off after MAX_MANIFEST_SIZE + 1 bytes. One byte more than the
 * largest legal envelope tells "too large" from "exactly the cap". `limit` is the largest legal
 * object of the kind read (lib/incremental passes its snapshot, index and trash caps).
 */
export async function getSmall(
  ctx: Pick<CatalogContext, 'blobs' | 'keyPrefix' | 'signal' | 'readTimeoutMs'> & Partial<CatalogContext>,
  key: string,
  limit: number = MAX_MANIFEST_SIZE,
): Promise<Uint8Array> {
  const bytes = await boundedRead(ctx, key.slice(ctx.keyPrefix.length), async (signal) => {
    try {
      return await ctx.blobs.get(key, { range: { offset: 0, length: limit + 1 }, signal });
    } catch (e) {
      // An empty object: a range that starts at its end. No envelope is empty.
      if (isBackupError(e, 'INVALID_ARGUMENT')) throw new BackupError('PROTOCOL', 'malformed backup manifest: empty', { cause: e });
      if (isBackupError(e, 'NOT_FOUND')) throw new BackupError('NOT_FOUND', 'no such backup', { cause: e });
      throw e;
    }
  });
  if (bytes.length > limit) {
    throw new BackupError('PROTOCOL', 'malformed backup manifest: over the size limit', { limit });
  }
  return bytes;
}

/** @internal The latest pointer, read bounded (size and time) and opened; NOT_FOUND when there is none. */
export async function loadLatest(ctx: CatalogContext): Promise<LatestPointer> {
  return openLatest(await getSmall(ctx, ctx.keyPrefix + LATEST_NAME), ctx);
}

/** @internal The manifest of `backupId`, or of the latest backup. */
export async function loadManifest(ctx: CatalogContext, backupId?: string | Uint8Array): Promise<BackupManifest> {
  let id: Uint8Array;
  if (backupId === undefined) {
    id = (await loadLatest(ctx)).backupId;
  } else {
    id = parseBackupId(backupId);
  }
  return openManifest(await getSmall(ctx, ctx.keyPrefix + manifestName(id)), id, ctx);
}

/** @internal Open a backup for reading. */
export async function openBackup(
  ctx: CatalogContext & { readonly engine?: CipherEngine },
  backupId?: string | Uint8Array,
): Promise<OpenedBackup> {
  const manifest = await loadManifest(ctx, backupId);
  const key = ctx.keyPrefix + archiveName(manifest.backupId);
  const info = await ctx.blobs.head(key, { signal: ctx.signal });
  if (info === undefined) throw new BackupError('NOT_FOUND', 'the archive of this backup is missing from storage');
  // A size other than the manifest's means truncation or extension: the same failure as any other.
  if (info.size !== manifest.archiveSize) throw archiveAuthFailed();
  // Ciphertext windows fetched by stream(), each with one ranged read; the archive's per-chunk
  // reads inside a window are served from it instead of the network.
  const windows = new Set<{ readonly start: number; readonly bytes: Uint8Array }>();
  const readAt = (offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> => {
    for (const w of windows) {
      if (offset >= w.start && offset + length <= w.start + w.bytes.length) {
        // A view, not a copy: a ChunkCipher neither keeps nor detaches its input (engine.ts).
        return Promise.resolve(w.bytes.subarray(offset - w.start, offset - w.start + length));
      }
    }
    return ctx.blobs.get(key, { range: { offset, length }, signal: signal ?? ctx.signal });
  };
  const archive = await openArchive({
    size: manifest.archiveSize,
    readAt,
    key: (keyId: Uint8Array) => ctx.keyLookup(keyId),
    ...(ctx.engine === undefined ? {} : { engine: ctx.engine }),
    ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
  });
  // The header authenticated under our key; now bind it to the manifest (no substitution of
  // another valid archive of ours under this name).
  if (!equalBytes(archive.header.salt, manifest.archiveSalt) || !equalBytes(archive.header.keyId, manifest.keyId)) {
    throw archiveAuthFailed();
  }
  if (archive.plaintextSize !== manifest.plaintextSize || archive.header.chunkSize !== manifest.chunkSize) {
    throw archiveAuthFailed();
  }
  const total = manifest.plaintextSize;
  const chunkSize = manifest.chunkSize;
  const sealedSize = chunkSize + TAG_LENGTH;
  const headerLength = archive.header.length;
  // The final chunk was read and verified by openArchive and is served from its cache.
  const lastChunk = total === 0 ? 0 : Math.floor((total - 1) / chunkSize);
  // Windows read and opened in the worker pool, where the store gives its ranged GETs as requests
  // and the engine is a pool (browsers): Chromium then fills each response on a worker's thread,
  // not in a task of the page's (40-60 ms per 4 MiB window), and the page gets plaintext by
  // transfer, with no copy in or out of the workers' buffers. Anything but a window or a failed
  // tag (a status, a network failure, another length) reads the window the ordinary way below,
  // whose checks and typed errors then apply.
  const rangeRequest = (ctx.blobs as { [RANGE_REQUEST]?: RangeRequest })[RANGE_REQUEST];
  const pool = ctx.engine as Partial<WindowOpener> | undefined;
  const opened = readerCipher.get(archive);

  /** Fetch plaintext [offset, offset + length) (whole chunks) with one ranged read, verified. */
  const readWindow = async (offset: number, length: number, signal: AbortSignal): Promise<Uint8Array> => {
    const first = offset / chunkSize;
    // The final chunk is not fetched again (it is cached).
    const lastFetched = Math.min(Math.floor((offset + length - 1) / chunkSize), lastChunk - 1);
    let window: { readonly start: number; readonly bytes: Uint8Array } | undefined;
    if (lastFetched >= first) {
      const start = headerLength + first * sealedSize;
      const n = (lastFetched - first + 1) * sealedSize;
      // (Not the window that ends with the final chunk: that one is read the ordinary way.)
      if (rangeRequest && pool?.fetchOpen && opened && (lastFetched + 1) * chunkSize === offset + length) {
        const req = await rangeRequest(key, { offset: start, length: n }, signal);
        // An abort is seen when the worker answers (the window's read is not cut short).
        const plain = await pool.fetchOpen(opened.cipher, opened.aad, req, first, lastFetched - first + 1, chunkSize);
        if (plain === false) throw archiveAuthFailed();
        if (plain !== undefined) return plain;
      }
      const bytes = await ctx.blobs.get(key, { range: { offset: start, length: n }, signal });
      // A short or long body: storage does not hold the archive the manifest describes.
      if (bytes.length !== n) throw archiveAuthFailed();
      window = { start, bytes };
      windows.add(window);
    }
    try {
      return await archive.read(offset, length, { signal });
    } finally {
      if (window !== undefined) windows.delete(window);
    }
  };

  return {
    manifest,
    plaintextSize: total,
    read: (offset, length, options) => archive.read(offset, length, options),
    close: () => archive.close(),
    stream(options = {}) {
      const windowSize = checkStreamOption(options.windowSize, 'windowSize', DEFAULT_RESTORE_WINDOW, MAX_RESTORE_WINDOW);
      const readAhead = checkStreamOption(options.readAhead, 'readAhead', DEFAULT_RESTORE_READ_AHEAD, MAX_RESTORE_READ_AHEAD);
      const step = Math.max(1, Math.floor(windowSize / chunkSize)) * chunkSize;
      // Without a signal of its own, the stream follows the one the backup was opened with.
      const user = options.signal ?? ctx.signal;
      // Aborted when the consumer cancels, the stream fails or the caller's signal aborts: stops
      // every read in flight.
      // The caller's signal holds `stop` only weakly, so a stream dropped without end or cancel
      // is collected, and its unreleased windows wiped then (linkAbort).
      const stop = new AbortController();
      let unlink: (() => void) | undefined;
      const pending = new PendingWindows();
      const inFlight = pending.reads;
      let next = 0; // plaintext offset of the next window to start
      let released = 0;
      let finished = false;

      const finish = (): void => {
        finished = true;
        unlink?.();
        if (!stop.signal.aborted) stop.abort();
        pending.dispose();
      };
      const refill = (): void => {
        while (!finished && !stop.signal.aborted && inFlight.length < readAhead && next < total) {
          const n = Math.min(step, total - next);
          const p = readWindow(next, n, stop.signal);
          // Handled in its turn; do not report a later window's failure as unhandled meanwhile.
          p.catch(() => undefined);
          inFlight.push(p);
          next += n;
        }
      };

      return new ReadableStream<Uint8Array>(
        {
          async pull(c) {
            try {
              throwIfAborted(user);
              unlink ??= linkAbort(user, stop, abortFrom, pending);
              refill();
              const head = inFlight.shift();
              if (head === undefined) {
                // openArchive verified the final chunk already, so an empty plaintext is complete.
                finish();
                c.close();
                return;
              }
              let bytes: Uint8Array;
              try {
                bytes = await head;
              } catch (e) {
                // An abort of ours surfaces as the caller's abort.
                throwIfAborted(user);
                throw e;
              }
              released += bytes.length;
              c.enqueue(bytes);
              options.onProgress?.({ bytes: released, total });
              if (released >= total) {
                finish();
                c.close();
              } else {
                refill();
              }
            } catch (e) {
              finish();
              throw e;
            }
          },
          cancel() {
            finish();
          },
        },
        { highWaterMark: 0 },
      );
    },
  };
}

/** A backup as listed. */
export interface BackupSummary {
  /** Hex backup id. */
  readonly backupId: string;
  /** When the backup was made, milliseconds since the Unix epoch (the backing-up device's clock). */
  readonly createdAt: number;
  /** Size of the plaintext in bytes. */
  readonly plaintextSize: number;
  /** Size of the archive object in bytes (ciphertext, header included). */
  readonly archiveSize: number;
  /** The app metadata given to `backup`, decrypted from the manifest. */
  readonly metadata: BackupManifest['metadata'];
  /** True for the backup the latest pointer names. */
  readonly latest: boolean;
}

/** Most manifests listed (bounds the work a hostile store can cause). */
export const MAX_LISTED_BACKUPS = 1000;

/** @internal Every backup whose manifest opens, newest first. Unreadable manifests are skipped. */
export async function listBackups(ctx: CatalogContext): Promise<BackupSummary[]> {
  // Bounded: a store listing more manifests than the client will open is refused, not paged through.
  const entries = await boundedRead(ctx, 'the list of manifests', (signal) =>
    ctx.blobs.list(ctx.keyPrefix + 'manifests/', { signal, maxEntries: MAX_LISTED_BACKUPS }),
  );
  let latestId: string | undefined;
  try {
    latestId = toHex(openLatest(await getSmall(ctx, ctx.keyPrefix + LATEST_NAME), ctx).backupId);
  } catch (e) {
    if (!isBackupError(e)) throw e;
  }
  const out: BackupSummary[] = [];
  for (const entry of entries) {
    const hex = entry.key.slice((ctx.keyPrefix + 'manifests/').length);
    if (!/^[0-9a-f]{32}$/.test(hex)) continue;
    try {
      const m = await loadManifest(ctx, hex);
      out.push({
        backupId: hex,
        createdAt: m.createdAt,
        plaintextSize: m.plaintextSize,
        archiveSize: m.archiveSize,
        metadata: m.metadata,
        latest: hex === latestId,
      });
    } catch (e) {
      // A manifest that does not open (another key, corruption) is not ours to list; a network
      // failure, however, must not silently shorten the list.
      if (!isBackupError(e) || !['ARCHIVE_AUTH_FAILED', 'ARCHIVE_KEY_UNKNOWN', 'PROTOCOL', 'ARCHIVE_NOT_RECOGNIZED', 'ARCHIVE_UNSUPPORTED_VERSION', 'NOT_FOUND'].includes(e.code)) {
        throw e;
      }
    }
  }
  out.sort((a, b) => b.createdAt - a.createdAt || (a.backupId < b.backupId ? 1 : -1));
  return out;
}

/** @internal Delete all but the newest `keep` backups (never the latest). Returns the deleted ids. */
export async function pruneBackups(ctx: CatalogContext, keep: number): Promise<string[]> {
  if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError('keep must be a positive integer');
  const all = await listBackups(ctx);
  const doomed = all.slice(keep).filter((b) => !b.latest);
  for (const b of doomed) {
    throwIfAborted(ctx.signal);
    const id = fromHex(b.backupId);
    // Manifest first: a listing never shows a backup whose archive is already gone.
    await ctx.blobs.delete(ctx.keyPrefix + manifestName(id), { signal: ctx.signal });
    await ctx.blobs.delete(ctx.keyPrefix + archiveName(id), { signal: ctx.signal });
  }
  return doomed.map((b) => b.backupId);
}
