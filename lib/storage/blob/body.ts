/**
 * How the presigned adapters hand request bodies to `fetch` and read response bodies: the fastest
 * path differs by platform, measured (docs/STORAGE.md §Transfer speed, bench/RESULTS.md):
 *
 * - Browsers (`'blob'`): a `Uint8Array` body costs Chromium a main-thread task of most of a second
 *   per 8 MiB and uploads at a few MB/s, while `new Blob([bytes])` costs a few ms and runs at
 *   network speed; `(await response.blob()).arrayBuffer()` reads faster than the body stream.
 * - Node (`'bytes'`): undici sends a `Uint8Array` as it is and streams answers well; an
 *   in-process fetch-style handler gets the bytes without a detour.
 *
 * @module
 * @internal
 */

/** The body path of a blob store adapter: `'auto'` picks `'bytes'` in Node and `'blob'` elsewhere. */
export type BodyPath = 'auto' | 'bytes' | 'blob';

/** @internal Resolve `'auto'` (and check the option). */
export function resolveBodyPath(path: BodyPath | undefined): 'bytes' | 'blob' {
  if (path === 'bytes' || path === 'blob') return path;
  if (path !== undefined && path !== 'auto') throw new TypeError("options.bodies must be 'auto', 'bytes' or 'blob'");
  const proc = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  if (typeof proc?.versions?.node === 'string') return 'bytes';
  return typeof Blob === 'function' ? 'blob' : 'bytes';
}

/** @internal The request body for `bytes` on `path`: a `Blob` (one copy, made once for every attempt) or the bytes. */
export function requestBody(bytes: Uint8Array, path: 'bytes' | 'blob'): Uint8Array | Blob {
  if (path === 'bytes') return bytes;
  // BlobPart wants an ArrayBuffer-backed view; a SharedArrayBuffer-backed one is copied first.
  const own = Object.prototype.toString.call(bytes.buffer) === '[object ArrayBuffer]' ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
  return new Blob([own as Uint8Array<ArrayBuffer>]);
}
