/**
 * Reading an HTTP body (a request on a server, an answer on a client) into memory with a hard
 * cap, counting what actually arrives: a `content-length` is only the peer's word, so a hostile
 * or broken peer can never make us buffer more than the cap plus one chunk.
 *
 * Both return `undefined` when the body is over the cap; each caller turns that into its own
 * typed error (or answer), as it may need to look at the status first.
 *
 * @module
 * @internal
 */
import { blobStream } from './blob.js';
import { concatChunks } from './bytes.js';

/**
 * The body of a request or response as a stream, in every engine. Firefox (153 ESR) has no
 * `Request.body` at all (`undefined`, not `null`): there the body is read through `blob()`, which
 * only references bytes the page already holds, and streamed from it (lib/util/blob.ts: `Blob.stream()`, or
 * `slice().arrayBuffer()` steps where that is missing), lazily, so a consumer that stops early reads
 * nothing more. Returns `null` for no body, as `Request.body` does.
 *
 * @example
 * ```ts
 * const bytes = await readStreamCapped(bodyStream(request), 16384);
 * ```
 */
export function bodyStream(msg: Request | Response): ReadableStream<Uint8Array> | null {
  const body = (msg as { readonly body?: ReadableStream<Uint8Array> | null }).body;
  if (body !== undefined) return body;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (reader === undefined) {
        const blob = await msg.blob();
        if (cancelled) return;
        reader = blobStream(blob).getReader();
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      cancelled = true;
      await reader?.cancel(reason);
    },
  });
}

/**
 * Read `body` in full, at most `cap` bytes. Returns `undefined` as soon as the running total
 * passes `cap`, after cancelling the stream (so the peer stops sending); exactly `cap` bytes are
 * accepted. A `null` body is empty. A stream that errors rejects with its error.
 *
 * @example
 * ```ts
 * const bytes = await readStreamCapped(res.body, MAX_MESSAGE_BYTES);
 * if (bytes === undefined) throw new BackupError('PROTOCOL', 'the answer is over its limit');
 * ```
 */
export async function readStreamCapped(body: ReadableStream<Uint8Array> | null, cap: number): Promise<Uint8Array | undefined> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > cap) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    parts.push(value);
  }
  return concatChunks(parts);
}

/**
 * Read the body of a request or response, at most `cap` bytes: refused early (body cancelled,
 * nothing read) when its numeric `content-length` is over the cap, then read with
 * {@link readStreamCapped}, which holds the body to the cap whatever its `content-length` says.
 * Returns `undefined` when over the cap.
 *
 * @example
 * ```ts
 * const bytes = await readBodyCapped(request, 16384);
 * if (bytes === undefined) throw new RangeError('request body is too large');
 * ```
 */
export async function readBodyCapped(msg: Request | Response, cap: number): Promise<Uint8Array | undefined> {
  const declared = Number(msg.headers.get('content-length') ?? '0');
  if (Number.isFinite(declared) && declared > cap) {
    await (msg as { readonly body?: ReadableStream<Uint8Array> | null }).body?.cancel().catch(() => undefined);
    return undefined;
  }
  return readStreamCapped(bodyStream(msg), cap);
}
