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
import { yieldToEventLoop } from '../../util/yield.js';
import type { BlobCallOptions, UploadRef } from './types.js';

/**
 * @internal The key of a presigned adapter's Blob parts ({@link BlobParts}), present where request
 * bodies travel as `Blob`s (browsers). The backup then builds each part's body once as its sealed
 * chunks come (lib/client/pipeline.ts, {@link blobParts}): made in a worker with the worker pool,
 * as 1 MiB `Blob`s on the page otherwise. Stores without it get the part's bytes through
 * `putPart`, as always.
 */
export const BLOB_PARTS = Symbol('blobParts');

/**
 * @internal The key of a presigned adapter's ranged reads as requests anyone may make
 * ({@link RangeRequest}): the worker pool then reads and opens each restore window in a worker
 * (lib/client/restore.ts), off the page's thread. Present where the adapter reads answers with
 * `blob()` or streams in a browser (not in Node: there the adapter's own `fetch` may be an
 * in-process handler no worker can reach).
 */
export const RANGE_REQUEST = Symbol('rangeRequest');

/** @internal See {@link RANGE_REQUEST}: the GET of `range` of `key`, as the store's own read would send it. */
export type RangeRequest = (
  key: string,
  range: { readonly offset: number; readonly length: number },
  signal?: AbortSignal,
) => Promise<{ readonly url: string; readonly headers: Readonly<Record<string, string>>; readonly timeoutMs: number; readonly read: 'blob' | 'stream' }>;

/** @internal See {@link BLOB_PARTS}. */
export interface BlobParts {
  /** The part bodies of one upload, built one after the other: see {@link blobParts}. */
  parts(release: (lent: Uint8Array) => void, build?: BuildBlob): PartBodies;
  /** Send a part whose body {@link PartBodies.end} made. */
  readonly put: PutPartBlob;
}

/**
 * @internal `new Blob([bytes[0..length)])` made off the page's thread (the worker pool's
 * `blobOf`): `bytes`, a whole buffer, is transferred and comes back with the `Blob`.
 */
export type BuildBlob = (bytes: Uint8Array<ArrayBuffer>, length: number) => Promise<{ readonly blob: Blob; readonly buffer: Uint8Array<ArrayBuffer> }>;

/** @internal See {@link blobParts}. */
export interface PartBodies {
  /** Add the part's next piece; `lent`: a view to hand back with `release` once copied. */
  add(piece: Uint8Array, lent: boolean): void;
  /** The part's body (made in a worker with `build`), and the next part starts. */
  end(): Blob | Promise<Blob>;
}

/**
 * @internal A part's body built as its pieces come, in order.
 *
 * With `build` (the worker pool): every piece is copied into a part staging buffer (a lent piece
 * is handed back with `release` at once), and at the part's end the buffer goes to a worker,
 * which makes the part's one `Blob` (the body the raw upload measured fastest: one item, one
 * registration) and hands the buffer back for the next part. The page's thread only copies.
 *
 * Without it: a `Blob` of `Blob`s of about {@link BLOB_SLICE_BYTES} each (so no `Blob` built costs
 * a long main-thread task). A lent piece (adjacent ones of one buffer are taken as one view) is
 * copied only into its `Blob`, then handed back with `release`; any other piece is copied first
 * into one reused staging buffer (the encrypt stream reuses its buffers as soon as the next piece
 * is read), and stays nowhere else.
 */
export function blobParts(release: (lent: Uint8Array) => void, build?: BuildBlob): PartBodies {
  if (build !== undefined) return workerBlobParts(release, build);
  let slices: Blob[] = [];
  let run: Uint8Array<ArrayBuffer>[] = [];
  let owed: Uint8Array[] = [];
  let bytes = 0;
  let staging: Uint8Array<ArrayBuffer> | undefined;
  let staged = 0;
  const flush = (): void => {
    if (run.length === 0) return;
    slices.push(new Blob(run));
    for (const v of owed) release(v);
    run = [];
    owed = [];
    bytes = staged = 0;
  };
  return {
    add(piece, lent) {
      let view = piece as Uint8Array<ArrayBuffer>;
      if (lent) owed.push(piece);
      else if (piece.length > BLOB_SLICE_BYTES) view = piece.slice();
      else {
        if (staged + piece.length > BLOB_SLICE_BYTES) flush();
        staging ??= new Uint8Array(BLOB_SLICE_BYTES);
        staging.set(piece, staged);
        view = staging.subarray(staged, (staged += piece.length));
      }
      const last = run.at(-1);
      if (last !== undefined && last.buffer === view.buffer && last.byteOffset + last.length === view.byteOffset) {
        run[run.length - 1] = new Uint8Array(last.buffer, last.byteOffset, last.length + view.length);
      } else run.push(view);
      bytes += view.length;
      if (bytes >= BLOB_SLICE_BYTES) flush();
    },
    end() {
      flush();
      const body = new Blob(slices);
      slices = [];
      return body;
    },
  };
}

/** {@link blobParts} with `build`: parts staged in reused buffers, each made a `Blob` in a worker. */
function workerBlobParts(release: (lent: Uint8Array) => void, build: BuildBlob): PartBodies {
  const spare: Uint8Array<ArrayBuffer>[] = [];
  let part: Uint8Array<ArrayBuffer> | undefined;
  let fill = 0;
  return {
    add(piece, lent) {
      part ??= spare.pop() ?? new Uint8Array(Math.max(PART_STAGING_BYTES, piece.length));
      if (fill + piece.length > part.length) {
        // A part larger than the buffer (parts are 8 MiB by default): a larger one, kept from now on.
        const bigger = new Uint8Array(Math.max(2 * part.length, fill + piece.length));
        bigger.set(part.subarray(0, fill));
        part = bigger;
      }
      part.set(piece, fill);
      fill += piece.length;
      if (lent) release(piece);
    },
    end() {
      const bytes = part ?? new Uint8Array(0);
      const length = fill;
      part = undefined;
      fill = 0;
      return build(bytes, length).then(({ blob, buffer }) => {
        // Reused: a fresh 8 MiB buffer per part cost Chromium's page thread about 8 ms per MiB in
        // page faults here (bench/RESULTS.md), more than everything else the page does per part.
        if (spare.length < SPARE_STAGING) spare.push(buffer);
        return blob;
      });
    },
  };
}

/** Part staging buffers kept for reuse by {@link workerBlobParts}: one filling, two with the worker. */
const SPARE_STAGING = 3;

/** Size of a part staging buffer (the default part size: lib/client/backup.ts). */
const PART_STAGING_BYTES = 8 * 1024 * 1024;

/** @internal A presigned adapter's {@link BlobParts.put}. */
export type PutPartBlob = (upload: UploadRef, partNumber: number, body: Blob, options?: BlobCallOptions) => Promise<{ readonly etag: string }>;

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

/**
 * @internal Bytes a `Blob` is built from per task: `new Blob([bytes])` copies them on the
 * calling thread (Chromium also hands them to its blob registry), about 1.5 ms per MiB on the
 * 2-core development VM, so an 8 MiB part in one piece was the longest main-thread task of a
 * worker-engine backup (65 ms wall on a quiet machine, 40-60 ms CPU under load: bench/RESULTS.md).
 */
export const BLOB_SLICE_BYTES = 1024 * 1024;

/**
 * @internal The request body for `bytes`: a `Blob` (one copy, made once for every attempt) or the
 * bytes. A large `Blob` is built slice by slice ({@link BLOB_SLICE_BYTES}), giving the event loop
 * a turn between slices, and the part's body is the `Blob` of those `Blob`s (no second copy):
 * the same bytes, without one long main-thread task per part. `Blob` snapshots its parts when
 * constructed; the caller keeps `bytes` unchanged until the upload settles anyway.
 */
export async function requestBody(bytes: Uint8Array, path: ResolvedBodyPath): Promise<Uint8Array | Blob> {
  if (path.upload === 'bytes') return bytes;
  // BlobPart wants an ArrayBuffer-backed view; a SharedArrayBuffer-backed one is copied first.
  const own = (Object.prototype.toString.call(bytes.buffer) === '[object ArrayBuffer]' ? bytes : bytes.slice()) as Uint8Array<ArrayBuffer>;
  if (own.length <= BLOB_SLICE_BYTES) return new Blob([own]);
  const slices: Blob[] = [];
  for (let off = 0; off < own.length; off += BLOB_SLICE_BYTES) {
    if (off > 0) await yieldToEventLoop();
    slices.push(new Blob([own.subarray(off, off + BLOB_SLICE_BYTES)]));
  }
  return new Blob(slices);
}
