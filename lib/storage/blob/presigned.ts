/**
 * The app-backend callback both HTTP adapters get their URLs from. The SDK never holds storage
 * credentials: for each request it describes the operation ({@link BlobOp}) and the app's backend,
 * after authenticating the user, answers with a short-lived URL (an S3 presigned URL, or one for
 * the reference server from `createBlobPresigner`). docs/STORAGE.md §Presigned HTTP gives the
 * method and body of every operation.
 *
 * @module
 */
import type { FetchLike, TransportOptions } from '../../transport/http.js';
import type { BlobStoreLimits } from './types.js';

/**
 * One operation the SDK needs a URL for. The adapter fixes the HTTP method per `op`
 * (docs/STORAGE.md): put/putPart PUT, get/list/listParts GET, head HEAD, delete/abortUpload DELETE,
 * createUpload/completeUpload POST.
 */
export type BlobOp =
  | { readonly op: 'put'; readonly key: string; readonly contentLength: number }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'head'; readonly key: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'list'; readonly prefix: string; readonly continuationToken?: string }
  | { readonly op: 'createUpload'; readonly key: string; readonly contentLength?: number }
  | { readonly op: 'putPart'; readonly key: string; readonly uploadId: string; readonly partNumber: number; readonly contentLength: number }
  | { readonly op: 'listParts'; readonly key: string; readonly uploadId: string; readonly partNumberMarker?: number }
  | { readonly op: 'completeUpload'; readonly key: string; readonly uploadId: string }
  | { readonly op: 'abortUpload'; readonly key: string; readonly uploadId: string };

/** The name of a {@link BlobOp}. */
export type BlobOpName = BlobOp['op'];

/** A URL to call, with any headers the backend wants sent (signed headers, a bearer token). */
export interface PresignedRequest {
  /** Absolute http(s) URL. */
  readonly url: string;
  /** Headers to send with it. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The app's callback: a URL for one operation. Called once per logical call (the transport's
 * retries reuse the URL), so a URL should live at least as long as the transport's retry budget.
 */
export type PresignFn = (op: BlobOp, signal?: AbortSignal) => Promise<string | PresignedRequest>;

/** Options shared by {@link createHttpBlobStore} and {@link createS3BlobStore}. */
export interface PresignedBlobStoreOptions extends Omit<TransportOptions, 'fetch' | 'failureCode' | 'peerName'> {
  /** The app backend's URL callback. */
  readonly presign: PresignFn;
  /** The fetch to use (`globalThis.fetch.bind(globalThis)` in a browser). */
  readonly fetch: FetchLike;
  /** What the storage accepts; defaults are S3's part rules and a 5 GiB object. */
  readonly limits?: Partial<BlobStoreLimits>;
  /**
   * Slowest transfer rate tolerated, in bytes per second: a request carrying or fetching `n` bytes
   * gets `timeoutMs + n / minBytesPerSecond` seconds, so big parts on slow links are not cut off
   * while a stalled connection still is [65 536].
   */
  readonly minBytesPerSecond?: number;
}

/** @internal Resolve the callback's answer, checking its shape. */
export async function resolvePresigned(presign: PresignFn, op: BlobOp, signal: AbortSignal | undefined): Promise<PresignedRequest> {
  const r = await presign(op, signal);
  const out: PresignedRequest = typeof r === 'string' ? { url: r } : r;
  if (typeof out !== 'object' || out === null || typeof out.url !== 'string') {
    throw new TypeError('presign must resolve to a URL string or { url, headers }');
  }
  if (!/^https?:\/\//i.test(out.url)) throw new TypeError('presign must resolve to an absolute http(s) URL');
  if (out.headers !== undefined && (typeof out.headers !== 'object' || out.headers === null)) {
    throw new TypeError('presign headers must be a record of strings');
  }
  return out;
}
