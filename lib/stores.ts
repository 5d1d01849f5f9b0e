/**
 * `e2ee-backup/stores`: the blob-store adapters, where a backup client puts archives and
 * manifests (docs/STORAGE.md). An app picks the one its backend speaks and hands it to
 * `createBackupClient({ store })`: S3 (or any S3-compatible service) through URLs the app backend
 * presigns, plain HTTP PUT/GET with `Range` through presigned URLs, or memory for tests and demos.
 * Also the key checks every store applies. Each adapter is its own module, so a bundler keeps only
 * the one an app imports. The `BlobStore` contract itself (to write an adapter of your own) is in
 * the package entry's types.
 *
 * @example
 * ```ts
 * import { createS3BlobStore } from 'e2ee-backup/stores';
 *
 * // Your backend presigns each operation for the signed-in user (docs/GETTING-STARTED.md §2).
 * const store = createS3BlobStore({ fetch: (r) => fetch(r), presign: (op) => api.presign(op) });
 * ```
 *
 * @packageDocumentation
 */
export { createS3BlobStore } from './storage/blob/s3.js';
export type { S3BlobStoreOptions } from './storage/blob/s3.js';
export { createHttpBlobStore } from './storage/blob/http.js';
export type { HttpBlobStoreOptions } from './storage/blob/http.js';
export { createMemoryBlobStore } from './storage/blob/memory.js';
export type { MemoryBlobStoreOptions } from './storage/blob/memory.js';
export { assertBlobKey, isBlobKey, assertBlobPrefix } from './storage/blob/types.js';
export type {
  BlobStore,
  BlobStoreLimits,
  BlobCallOptions,
  BlobGetOptions,
  BlobPutOptions,
  CreateUploadOptions,
  BlobInfo,
  BlobListEntry,
  BlobListOptions,
  ByteRange,
  UploadRef,
  UploadedPart,
  CompletedPart,
} from './storage/blob/types.js';
export type { BlobOp, BlobOpName, PresignFn, PresignedRequest, PresignedBlobStoreOptions } from './storage/blob/presigned.js';
export type { BodyPath } from './storage/blob/body.js';
export type { FetchLike, RetryOptions, SleepFn, TransportOptions } from './transport/http.js';
export type { RandomSource } from './util/bytes.js';
export type { BackupErrorCode } from './errors.js';
