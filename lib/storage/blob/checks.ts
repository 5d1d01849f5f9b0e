/**
 * Argument checks shared by the blob-store adapters, so every adapter refuses the same misuse
 * with the same `TypeError`/`RangeError`.
 *
 * @module
 * @internal
 */
import { BackupError, isBackupError } from '../../errors.js';
import { assertBlobKey, type BlobStoreLimits, type ByteRange, type CompletedPart, type UploadRef } from './types.js';

/**
 * Whether `e` says the store does not implement listing an upload's parts at all: 405 (Method
 * Not Allowed, RFC 9110 §15.5.6) or 501 (Not Implemented, §15.6.2) to ListParts, as s3rver and
 * some S3-compatible stores answer. A resumed backup then cannot prove what the store holds
 * under the old salt, and starts over under a fresh one (lib/client/backup.ts).
 */
export function isListPartsUnsupported(e: unknown): boolean {
  return isBackupError(e, 'BLOB_STORE_FAILED') && (e.details.status === 405 || e.details.status === 501);
}

/** Run a listParts call; a 405 or 501 answer becomes a `BLOB_STORE_FAILED` that says so. */
export async function listingParts<T>(peer: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (!isListPartsUnsupported(e)) throw e;
    const status = (e as BackupError).details.status;
    throw new BackupError(
      'BLOB_STORE_FAILED',
      `the ${peer} does not implement ListParts (it answered ${status}): an interrupted upload cannot be resumed there, only started over`,
      { status, cause: e },
    );
  }
}

/** S3's documented limits (Amazon S3 User Guide, "Amazon S3 multipart upload limits"). */
export const S3_LIMITS: BlobStoreLimits = Object.freeze({
  maxObjectSize: 5 * 2 ** 40,
  minPartSize: 5 * 2 ** 20,
  maxPartSize: 5 * 2 ** 30,
  maxParts: 10_000,
});

/** Fill in defaults (S3's part rules, a 5 GiB object) and check the given limits. */
export function resolveLimits(l: Partial<BlobStoreLimits> | undefined): BlobStoreLimits {
  const out = {
    maxObjectSize: l?.maxObjectSize ?? 5 * 2 ** 30,
    minPartSize: l?.minPartSize ?? S3_LIMITS.minPartSize,
    maxPartSize: l?.maxPartSize ?? S3_LIMITS.maxPartSize,
    maxParts: l?.maxParts ?? S3_LIMITS.maxParts,
  };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`limits.${k} must be a non-negative safe integer`);
  }
  if (out.maxParts < 1 || out.maxParts > S3_LIMITS.maxParts) throw new RangeError('limits.maxParts must be 1-10000');
  if (out.maxPartSize < 1 || out.minPartSize > out.maxPartSize) throw new RangeError('limits.minPartSize must not exceed limits.maxPartSize');
  return Object.freeze(out);
}

/** Check an {@link UploadRef} handed back by the caller (possibly from IndexedDB). */
export function checkUploadRef(upload: unknown, name = 'upload'): asserts upload is UploadRef {
  if (typeof upload !== 'object' || upload === null) throw new TypeError(`${name} must be an UploadRef`);
  const u = upload as { key?: unknown; uploadId?: unknown };
  assertBlobKey(u.key, `${name}.key`);
  if (typeof u.uploadId !== 'string') throw new TypeError(`${name}.uploadId must be a string`);
  if (!/^[\x21-\x7e]{1,1024}$/.test(u.uploadId)) throw new RangeError(`${name}.uploadId must be 1-1024 printable ASCII chars`);
}

/** Part numbers are 1-based, at most `limits.maxParts` (S3: 1 … 10 000). */
export function checkPartNumber(n: unknown, limits: BlobStoreLimits, name = 'partNumber'): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`${name} must be an integer`);
  if (n < 1 || n > limits.maxParts) throw new RangeError(`${name} must be 1-${limits.maxParts}`);
}

/** A part list for completion: non-empty, ascending, no duplicates, each with an etag. */
export function checkCompletedParts(parts: unknown, limits: BlobStoreLimits): asserts parts is readonly CompletedPart[] {
  if (!Array.isArray(parts)) throw new TypeError('parts must be an array');
  if (parts.length === 0) throw new RangeError('parts must not be empty');
  if (parts.length > limits.maxParts) throw new RangeError(`parts must have at most ${limits.maxParts} entries`);
  let prev = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as { partNumber?: unknown; etag?: unknown } | null;
    if (typeof p !== 'object' || p === null) throw new TypeError(`parts[${i}] must be an object`);
    checkPartNumber(p.partNumber, limits, `parts[${i}].partNumber`);
    if (p.partNumber <= prev) throw new RangeError('parts must be in ascending part number without duplicates');
    prev = p.partNumber;
    if (typeof p.etag !== 'string' || p.etag.length === 0 || p.etag.length > 1024) {
      throw new TypeError(`parts[${i}].etag must be a non-empty string`);
    }
  }
}

/** A byte range: two non-negative safe integers. */
export function checkRange(r: unknown, name = 'options.range'): asserts r is ByteRange {
  if (typeof r !== 'object' || r === null) throw new TypeError(`${name} must be { offset, length }`);
  const { offset, length } = r as { offset?: unknown; length?: unknown };
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`${name}.offset must be a non-negative safe integer`);
  }
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`${name}.length must be a non-negative safe integer`);
  }
  if (!Number.isSafeInteger(offset + length)) throw new RangeError(`${name} ends past 2^53 - 1`);
}
