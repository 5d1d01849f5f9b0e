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
import type { BodyPath } from './body.js';
import type { BlobStoreLimits } from './types.js';

/**
 * One operation the SDK needs a URL for. The adapter fixes the HTTP method per `op`
 * (docs/STORAGE.md): put/putPart PUT, get/list/listParts GET, head HEAD, delete/abortUpload DELETE,
 * createUpload/completeUpload POST.
 */
export type BlobOp =
  | {
      /** Write a whole object (PUT). */
      readonly op: 'put';
      /** The object key. */
      readonly key: string;
      /** Exact body size, in bytes. */
      readonly contentLength: number;
    }
  | {
      /** Read an object or a byte range of it (GET). */
      readonly op: 'get';
      /** The object key. */
      readonly key: string;
    }
  | {
      /** Read an object's size and ETag (HEAD). */
      readonly op: 'head';
      /** The object key. */
      readonly key: string;
    }
  | {
      /** Delete an object (DELETE). */
      readonly op: 'delete';
      /** The object key. */
      readonly key: string;
    }
  | {
      /** List the objects under a prefix, one page per call (GET). */
      readonly op: 'list';
      /** Only keys starting with this prefix. */
      readonly prefix: string;
      /** The previous page's `nextContinuationToken`; absent for the first page. */
      readonly continuationToken?: string;
    }
  | {
      /** Start a multipart upload (POST). */
      readonly op: 'createUpload';
      /** The key the completed object will have. */
      readonly key: string;
      /** Total object size in bytes, when known in advance. */
      readonly contentLength?: number;
    }
  | {
      /** Upload one part of a multipart upload (PUT). */
      readonly op: 'putPart';
      /** The upload's object key. */
      readonly key: string;
      /** The id `createUpload` returned. */
      readonly uploadId: string;
      /** Part number, from 1. */
      readonly partNumber: number;
      /** Exact part size, in bytes. */
      readonly contentLength: number;
    }
  | {
      /** List the parts already uploaded, one page per call (GET). */
      readonly op: 'listParts';
      /** The upload's object key. */
      readonly key: string;
      /** The id `createUpload` returned. */
      readonly uploadId: string;
      /** List parts after this part number; absent for the first page. */
      readonly partNumberMarker?: number;
    }
  | {
      /** Assemble the uploaded parts into the object (POST). */
      readonly op: 'completeUpload';
      /** The upload's object key. */
      readonly key: string;
      /** The id `createUpload` returned. */
      readonly uploadId: string;
    }
  | {
      /** Abandon a multipart upload and free its parts (DELETE). */
      readonly op: 'abortUpload';
      /** The upload's object key. */
      readonly key: string;
      /** The id `createUpload` returned. */
      readonly uploadId: string;
    };

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
  /**
   * How bodies go to `fetch` and come back ['auto']: `'blob'` wraps request bodies in a `Blob` and
   * reads answers with `response.blob()`; `'bytes'` passes `Uint8Array`s and reads the body stream.
   * `'auto'`, measured per engine (docs/STORAGE.md §Transfer speed): `Blob` uploads in browsers
   * (Chromium uploads a `Uint8Array` at a few MB/s, stalling the page), `blob()` reads in Chromium
   * only (Firefox and WebKit read the stream faster), bytes and streams in Node.
   */
  readonly bodies?: BodyPath;
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
