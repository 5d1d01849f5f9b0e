// Reading a byte stream to its end in a test.
import { concatChunks } from '../../lib/util/bytes.js';

/** Every byte of the stream, in one array. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    parts.push(r.value);
  }
  return concatChunks(parts);
}

/** Reads until the stream ends or fails: the chunks released before that, and the error (undefined when it ended). */
export async function readUntilError(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<{ chunks: Uint8Array[]; error: unknown }> {
  const chunks: Uint8Array[] = [];
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      chunks.push(r.value);
    }
  } catch (e) {
    return { chunks, error: e };
  }
  return { chunks, error: undefined };
}
