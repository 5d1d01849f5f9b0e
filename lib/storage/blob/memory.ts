/**
 * In-memory {@link BlobStore}: for tests, for Node tools, and as the backing store of the
 * reference blob server (lib/server/blob-store.ts). It enforces the same limits and answers with
 * the same error codes as the HTTP adapters, so one contract suite runs against all of them.
 *
 * @module
 */
import { checkingOptions, invalidOption } from '../../util/options.js';
import { BackupError } from '../../errors.js';
import { secureRandom, toHex, type RandomSource } from '../../util/bytes.js';
import {
  assertBlobKey,
  assertBlobPrefix,
  listCap,
  type BlobCallOptions,
  type BlobGetOptions,
  type BlobInfo,
  type BlobListEntry,
  type BlobListOptions,
  type BlobPutOptions,
  type BlobStore,
  type BlobStoreLimits,
  type CreateUploadOptions,
  type UploadRef,
  type UploadedPart,
} from './types.js';
import { checkCompletedParts, checkPartNumber, checkRange, checkUploadRef, resolveLimits } from './checks.js';
import { abytes } from '../../util/bytes.js';
import { throwIfAborted } from '../../errors.js';

/** Options of {@link createMemoryBlobStore}. */
export interface MemoryBlobStoreOptions {
  /** Limits; unspecified ones default to S3's (5 MiB minimum part, 10 000 parts) and a 5 GiB object. */
  readonly limits?: Partial<BlobStoreLimits>;
  /** Cap on all bytes held (objects plus pending parts); over it, writes fail `QUOTA_EXCEEDED` [1 GiB]. */
  readonly maxTotalBytes?: number;
  /** Cap on uploads in progress; over it, `createUpload` fails `QUOTA_EXCEEDED` [1000]. */
  readonly maxPendingUploads?: number;
  /**
   * An upload with no call for this long is abandoned: the store aborts it (drops its parts and
   * frees its bytes) the next time it needs room, before refusing a `createUpload` or a write
   * over `maxTotalBytes`. It plays the part of S3's lifecycle rule
   * `AbortIncompleteMultipartUpload`: a client whose `createUpload` answer was lost (and that
   * retried) or that vanished mid-backup leaves an upload no one will complete or abort
   * [24 hours; `Infinity` keeps them until aborted].
   */
  readonly abandonUploadsAfterMs?: number;
  /** Clock for {@link MemoryBlobStoreOptions.abandonUploadsAfterMs} [Date.now]. */
  readonly now?: () => number;
  /** Randomness for upload ids [secureRandom]. */
  readonly random?: RandomSource;
}

interface Pending {
  readonly key: string;
  readonly parts: Map<number, { bytes: Uint8Array; etag: string }>;
  /** When a call last named this upload (its creation, a part, a listing). */
  lastUsed: number;
}

interface Stored {
  /**
   * The blob's bytes in order. A completed upload keeps its parts as they are instead of joining
   * them into one buffer (a copy of the whole blob); reads copy out just the range asked for.
   */
  readonly segments: readonly Uint8Array[];
  readonly size: number;
  readonly etag: string;
}

/** Copy `[offset, offset + length)` (clipped to the blob) out of a stored blob's segments. */
function readRange(s: Stored, offset: number, length: number): Uint8Array {
  const end = Math.min(s.size, offset + length);
  const out = new Uint8Array(Math.max(0, end - offset));
  let pos = 0;
  for (const seg of s.segments) {
    const segEnd = pos + seg.length;
    if (segEnd > offset && pos < end) {
      const from = Math.max(offset, pos);
      out.set(seg.subarray(from - pos, Math.min(end, segEnd) - pos), from - offset);
    }
    if (segEnd >= end) break;
    pos = segEnd;
  }
  return out;
}

/** How many completed uploads are remembered so a repeated `completeUpload` answers the same. */
const COMPLETED_MEMORY = 1000;

/**
 * Create an in-memory blob store.
 *
 * @example
 * ```ts
 * const store = createMemoryBlobStore({ limits: { minPartSize: 1 } });
 * await store.put('manifests/latest', bytes, { ifNoneMatch: '*' });
 * ```
 */
export function createMemoryBlobStore(options: MemoryBlobStoreOptions = {}): BlobStore {
  const limits = checkingOptions(() => resolveLimits(options.limits));
  const maxTotalBytes = options.maxTotalBytes ?? 2 ** 30;
  const maxPending = options.maxPendingUploads ?? 1000;
  const abandonAfter = options.abandonUploadsAfterMs ?? 24 * 3600 * 1000;
  if (!(abandonAfter > 0)) throw invalidOption('abandonUploadsAfterMs', 'must be > 0 (ms)');
  const now = options.now ?? Date.now;
  const random = options.random ?? secureRandom;
  const objects = new Map<string, Stored>();
  const uploads = new Map<string, Pending>();
  // uploadId → (part list signature, result): makes completeUpload safe to repeat after a lost answer.
  const completed = new Map<string, { signature: string; info: BlobInfo }>();
  let totalBytes = 0;
  let version = 0;

  const nextEtag = (): string => `"${(++version).toString(16)}-${toHex(random(4))}"`;

  function drop(uploadId: string, p: Pending): void {
    for (const part of p.parts.values()) totalBytes -= part.bytes.length;
    uploads.delete(uploadId);
  }

  /** Abort every abandoned upload (see `abandonUploadsAfterMs`); true when one was. */
  function sweepAbandoned(): boolean {
    const cutoff = now() - abandonAfter;
    let swept = false;
    for (const [id, p] of uploads) {
      if (p.lastUsed <= cutoff) {
        drop(id, p);
        swept = true;
      }
    }
    return swept;
  }

  function reserve(n: number): void {
    if (totalBytes + n > maxTotalBytes && !(sweepAbandoned() && totalBytes + n <= maxTotalBytes)) {
      throw new BackupError('QUOTA_EXCEEDED', 'the blob store is full', { limit: maxTotalBytes });
    }
    totalBytes += n;
  }

  function pendingFor(upload: UploadRef): Pending {
    const p = uploads.get(upload.uploadId);
    if (p === undefined || p.key !== upload.key) throw new BackupError('NOT_FOUND', 'no such upload');
    p.lastUsed = now();
    return p;
  }

  function info(s: Stored): BlobInfo {
    return { size: s.size, etag: s.etag };
  }

  /** Store `bytes` under `key`; the caller has already accounted for the quota change. */
  function replace(key: string, segments: readonly Uint8Array[], etag: string): BlobInfo {
    const s = { segments, size: segments.reduce((n, b) => n + b.length, 0), etag };
    objects.set(key, s);
    return info(s);
  }

  return {
    limits,

    async createUpload(key: string, opts: CreateUploadOptions = {}): Promise<UploadRef> {
      assertBlobKey(key);
      throwIfAborted(opts.signal);
      if (opts.contentLength !== undefined) {
        if (!Number.isSafeInteger(opts.contentLength) || opts.contentLength < 0) {
          throw new RangeError('options.contentLength must be a non-negative safe integer');
        }
        if (opts.contentLength > limits.maxObjectSize) {
          throw new BackupError('QUOTA_EXCEEDED', 'the blob is over the store\'s size limit', { limit: limits.maxObjectSize });
        }
      }
      if (uploads.size >= maxPending && !(sweepAbandoned() && uploads.size < maxPending)) {
        throw new BackupError('QUOTA_EXCEEDED', 'too many uploads in progress', { limit: maxPending });
      }
      const uploadId = toHex(random(16));
      uploads.set(uploadId, { key, parts: new Map(), lastUsed: now() });
      return { key, uploadId };
    },

    async putPart(upload, partNumber, bytes, opts: BlobCallOptions = {}) {
      checkUploadRef(upload);
      checkPartNumber(partNumber, limits);
      abytes(bytes, 'bytes');
      throwIfAborted(opts.signal);
      const p = pendingFor(upload);
      if (bytes.length > limits.maxPartSize) {
        throw new BackupError('QUOTA_EXCEEDED', 'the part is over the store\'s part size limit', { limit: limits.maxPartSize });
      }
      const old = p.parts.get(partNumber);
      let sum = bytes.length;
      for (const [n, part] of p.parts) if (n !== partNumber) sum += part.bytes.length;
      if (sum > limits.maxObjectSize) {
        throw new BackupError('QUOTA_EXCEEDED', 'the upload is over the store\'s size limit', { limit: limits.maxObjectSize });
      }
      reserve(bytes.length - (old?.bytes.length ?? 0));
      const etag = nextEtag();
      // Copy: the caller may wipe or reuse its buffer.
      p.parts.set(partNumber, { bytes: bytes.slice(), etag });
      return { etag };
    },

    async listParts(upload, opts: BlobCallOptions = {}): Promise<UploadedPart[]> {
      checkUploadRef(upload);
      throwIfAborted(opts.signal);
      const p = pendingFor(upload);
      return [...p.parts.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([partNumber, part]) => ({ partNumber, etag: part.etag, size: part.bytes.length }));
    },

    async completeUpload(upload, parts, opts: BlobCallOptions = {}) {
      checkUploadRef(upload);
      checkCompletedParts(parts, limits);
      throwIfAborted(opts.signal);
      const signature = JSON.stringify(parts.map((x) => [x.partNumber, x.etag]));
      const done = completed.get(upload.uploadId);
      if (done !== undefined) {
        if (done.signature === signature) return done.info;
        throw new BackupError('NOT_FOUND', 'no such upload');
      }
      const p = pendingFor(upload);
      const chosen: Uint8Array[] = [];
      let size = 0;
      for (let i = 0; i < parts.length; i++) {
        const want = parts[i]!;
        const have = p.parts.get(want.partNumber);
        if (have === undefined || have.etag !== want.etag) {
          throw new BackupError('INVALID_ARGUMENT', `part ${want.partNumber} is missing or its etag does not match`);
        }
        if (i < parts.length - 1 && have.bytes.length < limits.minPartSize) {
          throw new BackupError('INVALID_ARGUMENT', `part ${want.partNumber} is under the minimum part size`, { limit: limits.minPartSize });
        }
        chosen.push(have.bytes);
        size += have.bytes.length;
      }
      // Parts not named are dropped (S3 does the same); their bytes leave the quota with the upload.
      for (const part of p.parts.values()) totalBytes -= part.bytes.length;
      totalBytes += size - (objects.get(upload.key)?.size ?? 0);
      uploads.delete(upload.uploadId);
      const result = replace(upload.key, chosen, `"${(++version).toString(16)}-${toHex(random(4))}-${parts.length}"`);
      completed.set(upload.uploadId, { signature, info: result });
      if (completed.size > COMPLETED_MEMORY) completed.delete(completed.keys().next().value!);
      return result;
    },

    async abortUpload(upload, opts: BlobCallOptions = {}) {
      checkUploadRef(upload);
      throwIfAborted(opts.signal);
      const p = uploads.get(upload.uploadId);
      if (p === undefined || p.key !== upload.key) return;
      drop(upload.uploadId, p);
    },

    async put(key, bytes, opts: BlobPutOptions = {}) {
      assertBlobKey(key);
      abytes(bytes, 'bytes');
      checkPutOptions(opts);
      throwIfAborted(opts.signal);
      if (bytes.length > limits.maxObjectSize) {
        throw new BackupError('QUOTA_EXCEEDED', 'the blob is over the store\'s size limit', { limit: limits.maxObjectSize });
      }
      const cur = objects.get(key);
      if (opts.ifNoneMatch === '*' && cur !== undefined) {
        throw new BackupError('PRECONDITION_FAILED', 'a blob already exists under this key');
      }
      if (opts.ifMatch !== undefined && (cur === undefined || cur.etag !== opts.ifMatch)) {
        throw new BackupError('PRECONDITION_FAILED', 'the blob changed since it was read');
      }
      reserve(bytes.length - (cur?.size ?? 0));
      return replace(key, [bytes.slice()], nextEtag());
    },

    async get(key, opts: BlobGetOptions = {}) {
      assertBlobKey(key);
      const range = opts.range;
      if (range !== undefined) checkRange(range);
      throwIfAborted(opts.signal);
      if (range !== undefined && range.length === 0) return new Uint8Array(0);
      const s = objects.get(key);
      if (s === undefined) throw new BackupError('NOT_FOUND', 'no such blob');
      if (range === undefined) return readRange(s, 0, s.size);
      if (range.offset >= s.size) {
        throw new BackupError('INVALID_ARGUMENT', 'the range starts at or past the end of the blob', { status: 416 });
      }
      return readRange(s, range.offset, range.length);
    },

    async head(key, opts: BlobCallOptions = {}) {
      assertBlobKey(key);
      throwIfAborted(opts.signal);
      const s = objects.get(key);
      return s === undefined ? undefined : info(s);
    },

    async delete(key, opts: BlobCallOptions = {}) {
      assertBlobKey(key);
      throwIfAborted(opts.signal);
      const s = objects.get(key);
      if (s === undefined) return;
      totalBytes -= s.size;
      objects.delete(key);
    },

    async list(prefix, opts: BlobListOptions = {}): Promise<BlobListEntry[]> {
      assertBlobPrefix(prefix);
      const cap = listCap(opts);
      throwIfAborted(opts.signal);
      const out: BlobListEntry[] = [];
      for (const [key, s] of objects) if (key.startsWith(prefix)) out.push({ key, ...info(s) });
      cap(out.length);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
  };
}

function checkPutOptions(opts: BlobPutOptions): void {
  if (opts.ifMatch !== undefined && typeof opts.ifMatch !== 'string') throw new TypeError('options.ifMatch must be a string');
  if (opts.ifNoneMatch !== undefined && opts.ifNoneMatch !== '*') throw new TypeError("options.ifNoneMatch must be '*'");
}
