/**
 * The `BlobStore` contract: where encrypted archives and sealed manifests live. A blob store only
 * ever sees ciphertext; it is not trusted for confidentiality or integrity (the archive format
 * authenticates every byte), only for availability. docs/STORAGE.md specifies the contract.
 *
 * Large archives go up as multipart uploads (S3's model: create, put parts, complete), so an upload
 * survives a reload: the caller persists the {@link UploadRef}, asks {@link BlobStore.listParts}
 * which parts the store confirmed, and sends only the rest. Small blobs (manifests, pointers) use
 * {@link BlobStore.put}, optionally conditional for compare-and-swap.
 *
 * Every method rejects with a `BackupError` for expected failures (`NOT_FOUND`, `UNAUTHORIZED`,
 * `QUOTA_EXCEEDED`, `PRECONDITION_FAILED`, `TIMEOUT`, `OFFLINE`, `ABORTED`, `BLOB_STORE_FAILED`,
 * `PROTOCOL`) and throws `TypeError`/`RangeError` for misuse (a bad key, a part number out of range).
 *
 * @module
 */

import { BackupError } from '../../errors.js';

/** Options every call accepts. */
export interface BlobCallOptions {
  /** Cancels the call; it then rejects with `BackupError('ABORTED')`. */
  readonly signal?: AbortSignal;
}

/** A byte range of a blob: `length` bytes starting at `offset` (both non-negative safe integers). */
export interface ByteRange {
  /** First byte. */
  readonly offset: number;
  /** Number of bytes. */
  readonly length: number;
}

/** Options of {@link BlobStore.get}. */
export interface BlobGetOptions extends BlobCallOptions {
  /**
   * Read only this range. The range must start inside the blob (`offset < size`); one that runs
   * past the end returns the bytes up to the end, as HTTP Range does (RFC 9110 §14.1.2). A range
   * starting at or past the end rejects with `BackupError('INVALID_ARGUMENT')`. A zero-length
   * range resolves to empty bytes without a request.
   */
  readonly range?: ByteRange;
}

/** Options of {@link BlobStore.put}. */
export interface BlobPutOptions extends BlobCallOptions {
  /**
   * Write only if the blob's current ETag is this one (compare-and-swap, RFC 9110 §13.1.1).
   * Otherwise rejects with `BackupError('PRECONDITION_FAILED')`.
   */
  readonly ifMatch?: string;
  /**
   * `'*'`: write only if no blob exists under the key (RFC 9110 §13.1.2).
   * Otherwise rejects with `BackupError('PRECONDITION_FAILED')`.
   */
  readonly ifNoneMatch?: '*';
}

/** Options of {@link BlobStore.list}. */
export interface BlobListOptions extends BlobCallOptions {
  /**
   * Most entries the caller will take: once more arrive, the call rejects with
   * `BackupError('PROTOCOL')` (`details.limit`) without reading further pages, so a store cannot
   * make the caller hold (or page through) an unbounded listing.
   */
  readonly maxEntries?: number;
}

/** Options of {@link BlobStore.createUpload}. */
export interface CreateUploadOptions extends BlobCallOptions {
  /** The final size, when known: a store may refuse at once an upload over its cap. */
  readonly contentLength?: number;
}

/** What a store says about one blob. */
export interface BlobInfo {
  /** Size in bytes. */
  readonly size: number;
  /** Opaque entity tag (quoted, as HTTP sends it); changes whenever the content changes. */
  readonly etag: string;
}

/** One entry of {@link BlobStore.list}. */
export interface BlobListEntry extends BlobInfo {
  /** The blob's key. */
  readonly key: string;
}

/**
 * A multipart upload in progress. Plain data (structured-clonable), so the caller can persist it
 * in IndexedDB and resume after a reload.
 */
export interface UploadRef {
  /** The key the blob will have once the upload completes. */
  readonly key: string;
  /** The store's id of this upload (S3's `UploadId`). */
  readonly uploadId: string;
  /**
   * Part limits the server announced for this upload, when it does (the reference blob server
   * does in its `createUpload` answer; S3 does not). The backup client plans its parts within
   * them before the first part is sent.
   */
  readonly serverLimits?: Pick<BlobStoreLimits, 'minPartSize' | 'maxPartSize' | 'maxParts'>;
}

/** A part the store has confirmed, from {@link BlobStore.listParts}. */
export interface UploadedPart {
  /** 1-based part number (1 … `limits.maxParts`). */
  readonly partNumber: number;
  /** The ETag the store returned for it. */
  readonly etag: string;
  /** Its size in bytes. */
  readonly size: number;
}

/** A part named in {@link BlobStore.completeUpload}. */
export interface CompletedPart {
  /** 1-based part number. */
  readonly partNumber: number;
  /** The ETag {@link BlobStore.putPart} or {@link BlobStore.listParts} returned for it. */
  readonly etag: string;
}

/**
 * The store's limits. A caller sizes parts from these: every part except the last must be at
 * least `minPartSize` (S3: 5 MiB) and at most `maxPartSize`; at most `maxParts` parts.
 */
export interface BlobStoreLimits {
  /** Largest blob, in bytes. */
  readonly maxObjectSize: number;
  /** Smallest part except the last one. */
  readonly minPartSize: number;
  /** Largest part. */
  readonly maxPartSize: number;
  /** Most parts per upload (S3: 10 000). */
  readonly maxParts: number;
}

/**
 * Object storage for encrypted backups: multipart, resumable uploads, ranged reads, small
 * conditional writes, delete and list. Implementations, in `e2ee-backup/stores`:
 * `createMemoryBlobStore`, `createHttpBlobStore` (presigned-URL HTTP), `createS3BlobStore` (S3
 * multipart through presigned URLs).
 *
 * Keys are 1 to 1024 characters of `A–Z a–z 0–9 . _ - ~ /`, with no empty, `.` or `..` segment
 * (see {@link assertBlobKey}); the SDK chooses them, so the narrow alphabet costs nothing and keeps
 * every key safe in a URL path.
 *
 * @example
 * ```ts
 * const store = createMemoryBlobStore();
 * const up = await store.createUpload('backups/a1/archive');
 * const { etag } = await store.putPart(up, 1, bytes);
 * await store.completeUpload(up, [{ partNumber: 1, etag }]);
 * const head = await store.get('backups/a1/archive', { range: { offset: 0, length: 64 } });
 * ```
 */
export interface BlobStore {
  /** The limits the caller must respect when sizing parts. */
  readonly limits: BlobStoreLimits;
  /** Start a multipart upload of `key`. Not retried automatically (each call makes a new upload). */
  createUpload(key: string, options?: CreateUploadOptions): Promise<UploadRef>;
  /**
   * Store part `partNumber` (1-based). Putting the same part number again replaces it, so a retry
   * is safe. Resolves with the part's ETag, needed by {@link BlobStore.completeUpload}.
   *
   * The store must not keep or read `bytes` once the returned promise settles (copy them if they
   * must outlive the call): the backup pipeline reuses a part's buffer for a later part. The
   * adapters here comply: `fetch` copies a request body when the `Request` is built, and the
   * memory store copies what it keeps.
   */
  putPart(upload: UploadRef, partNumber: number, bytes: Uint8Array, options?: BlobCallOptions): Promise<{
    /** The part's ETag, to pass to {@link BlobStore.completeUpload}. */
    readonly etag: string;
  }>;
  /** The parts the store has confirmed, in ascending part number. `NOT_FOUND` if the upload is gone. */
  listParts(upload: UploadRef, options?: BlobCallOptions): Promise<UploadedPart[]>;
  /**
   * Assemble the named parts (ascending, no gaps needed, no duplicates) into the blob. The blob
   * appears atomically: readers see the old one or the whole new one, never a part.
   */
  completeUpload(upload: UploadRef, parts: readonly CompletedPart[], options?: BlobCallOptions): Promise<BlobInfo>;
  /** Drop an upload and its parts. Resolves also when the upload is already gone. */
  abortUpload(upload: UploadRef, options?: BlobCallOptions): Promise<void>;
  /** Store a small blob in one request (manifests, pointers), optionally conditional. */
  put(key: string, bytes: Uint8Array, options?: BlobPutOptions): Promise<BlobInfo>;
  /** Read a blob, or a range of it. `NOT_FOUND` if absent. */
  get(key: string, options?: BlobGetOptions): Promise<Uint8Array>;
  /** Size and ETag of a blob, or `undefined` if absent. */
  head(key: string, options?: BlobCallOptions): Promise<BlobInfo | undefined>;
  /** Delete a blob. Resolves also when it is already absent (idempotent). */
  delete(key: string, options?: BlobCallOptions): Promise<void>;
  /** Every blob whose key starts with `prefix`, in ascending key order (UTF-16 code units). */
  list(prefix: string, options?: BlobListOptions): Promise<BlobListEntry[]>;
}

const KEY_RE = /^[A-Za-z0-9._~\-/]{1,1024}$/;

/**
 * Check a blob key (TypeError for a non-string, RangeError for a bad shape). Every adapter calls
 * it at the public edge; the reference server applies the same rule to what it receives.
 *
 * @example
 * ```ts
 * assertBlobKey('backups/acct-1/archive-7'); // ok
 * assertBlobKey('../etc/passwd');            // RangeError
 * ```
 */
export function assertBlobKey(key: unknown, name = 'key'): asserts key is string {
  if (typeof key !== 'string') throw new TypeError(`${name} must be a string`);
  if (!isBlobKey(key)) {
    throw new RangeError(`${name} must be 1-1024 chars of [A-Za-z0-9._~-/] without empty, "." or ".." segments`);
  }
}

/**
 * True if `key` is a well-formed blob key (see {@link assertBlobKey}).
 *
 * @example
 * ```ts
 * isBlobKey('a/b'); // true
 * isBlobKey('a//b'); // false
 * ```
 */
export function isBlobKey(key: string): boolean {
  if (!KEY_RE.test(key)) return false;
  for (const seg of key.split('/')) if (seg === '' || seg === '.' || seg === '..') return false;
  return true;
}

/**
 * Check a key prefix for {@link BlobStore.list}: empty, or the same alphabet as a key (a prefix
 * may end in `/` or in the middle of a segment).
 *
 * @example
 * ```ts
 * assertBlobPrefix('backups/'); // ok
 * ```
 */
export function assertBlobPrefix(prefix: unknown, name = 'prefix'): asserts prefix is string {
  if (typeof prefix !== 'string') throw new TypeError(`${name} must be a string`);
  if (prefix !== '' && !/^[A-Za-z0-9._~\-/]{1,1024}$/.test(prefix)) {
    throw new RangeError(`${name} must be at most 1024 chars of [A-Za-z0-9._~-/]`);
  }
}

/**
 * @internal Check `options.maxEntries` of {@link BlobStore.list} and return a function that throws
 * `PROTOCOL` once `count` is over it. Every adapter calls it after each page.
 */
export function listCap(options: BlobListOptions | undefined): (count: number) => void {
  const max = options?.maxEntries;
  if (max === undefined) return () => undefined;
  if (!Number.isSafeInteger(max) || max < 0) throw new RangeError('options.maxEntries must be a non-negative safe integer');
  return (count) => {
    if (count > max) throw new BackupError('PROTOCOL', `the blob store listed more than ${max} entries`, { limit: max });
  };
}
