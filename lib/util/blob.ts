/**
 * Reading a `Blob` as a stream in every engine. `Blob.stream()` is in every browser this SDK
 * supports (README, Browser support), but not in every Blob an app may hand over: jsdom's Blob has
 * none, and older WebViews lack it. There the bytes are read by `slice().arrayBuffer()` in steps,
 * the same bytes in the same order, at most one step in memory at a time.
 *
 * @module
 * @internal
 */
import { BackupError } from '../errors.js';

/** Bytes read at a time where `Blob.stream()` is missing. */
const STEP = 1 << 20;

/**
 * True for a Blob (or File) this module can read: a size, `slice`, and `stream()` or
 * `arrayBuffer()`. Structural, so a Blob from another realm (an iframe, jsdom) fits too.
 */
export function isReadableBlob(v: unknown): v is Blob {
  if (typeof v !== 'object' || v === null) return false;
  const b = v as Partial<Blob>;
  return typeof b.size === 'number' && typeof b.slice === 'function' && (typeof b.stream === 'function' || typeof b.arrayBuffer === 'function');
}

/**
 * A fresh stream over `blob`: `blob.stream()` where the engine has it, else 1 MiB steps of
 * `slice().arrayBuffer()`. Throws `INVALID_ARGUMENT` (never a TypeError) for a Blob that has
 * neither, or whose slices cannot be read.
 *
 * @example
 * ```ts
 * await blobStream(file).pipeThrough(encryptStream).pipeTo(sink);
 * ```
 */
export function blobStream(blob: Blob): ReadableStream<Uint8Array> {
  if (typeof blob.stream === 'function') return blob.stream() as ReadableStream<Uint8Array>;
  if (!isReadableBlob(blob)) throw new BackupError('INVALID_ARGUMENT', 'this Blob has neither stream() nor arrayBuffer()');
  let offset = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (offset >= blob.size) {
          controller.close();
          return;
        }
        const end = Math.min(blob.size, offset + STEP);
        const part = blob.slice(offset, end);
        if (typeof part.arrayBuffer !== 'function') throw new BackupError('INVALID_ARGUMENT', 'a slice of this Blob cannot be read');
        const bytes = new Uint8Array(await part.arrayBuffer());
        offset = end;
        controller.enqueue(bytes);
      },
    },
    { highWaterMark: 0 },
  );
}
