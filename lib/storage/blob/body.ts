/**
 * How the presigned adapters hand request bodies to `fetch` and read response bodies: the fastest
 * path differs by platform, measured (docs/STORAGE.md §Transfer speed, bench/RESULTS.md):
 *
 * - Browsers: a `Uint8Array` body costs Chromium a main-thread task of most of a second per 8 MiB
 *   and uploads at a few MB/s, while `new Blob([bytes])` costs a few ms and runs at network speed
 *   (Firefox and WebKit upload both alike); `(await response.blob()).arrayBuffer()` reads faster
 *   than the body stream in Chromium, slower in Firefox and WebKit.
 * - Node (`'bytes'`): undici sends a `Uint8Array` as it is and streams answers well; an
 *   in-process fetch-style handler gets the bytes without a detour.
 *
 * @module
 * @internal
 */

/** The body path of a blob store adapter: `'auto'` picks per platform (measured per engine: docs/STORAGE.md §Transfer speed). */
export type BodyPath = 'auto' | 'bytes' | 'blob';

/** @internal How one adapter sends request bodies and reads answers. */
export interface ResolvedBodyPath {
  /** Request bodies as given (`'bytes'`) or wrapped in a `Blob`. */
  readonly upload: 'bytes' | 'blob';
  /** Answers read piece by piece from the body stream, or with `blob()`. */
  readonly read: 'stream' | 'blob';
}

/**
 * @internal Resolve `'auto'` (and check the option). Measured per engine (bench/RESULTS.md,
 * `npm run bench:browser`): Chromium uploads a `Uint8Array` body at a few MB/s and a `Blob` at
 * network speed, and reads fastest with `blob()`; Firefox and WebKit upload both alike and read
 * the body stream faster than `blob()`; Node does best with bytes and streams. So `'auto'` is
 * `Blob` uploads in every browser, `blob()` reads in Chromium only (told apart by
 * `navigator.userAgentData`, which only Chromium-based browsers have), bytes and streams in Node.
 */
export function resolveBodyPath(path: BodyPath | undefined): ResolvedBodyPath {
  if (path === 'bytes') return { upload: 'bytes', read: 'stream' };
  if (path === 'blob') return { upload: 'blob', read: 'blob' };
  if (path !== undefined && path !== 'auto') throw new TypeError("options.bodies must be 'auto', 'bytes' or 'blob'");
  const g = globalThis as { process?: { versions?: { node?: unknown } }; navigator?: { userAgentData?: unknown } };
  if (typeof g.process?.versions?.node === 'string' || typeof Blob !== 'function') return { upload: 'bytes', read: 'stream' };
  return { upload: 'blob', read: g.navigator?.userAgentData !== undefined ? 'blob' : 'stream' };
}

/** @internal The request body for `bytes`: a `Blob` (one copy, made once for every attempt) or the bytes. */
export function requestBody(bytes: Uint8Array, path: ResolvedBodyPath): Uint8Array | Blob {
  if (path.upload === 'bytes') return bytes;
  // BlobPart wants an ArrayBuffer-backed view; a SharedArrayBuffer-backed one is copied first.
  const own = Object.prototype.toString.call(bytes.buffer) === '[object ArrayBuffer]' ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
  return new Blob([own as Uint8Array<ArrayBuffer>]);
}
