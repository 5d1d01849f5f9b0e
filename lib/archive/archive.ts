/**
 * One-shot encryption and decryption of a whole archive held in a `Uint8Array` or a `Blob`.
 * `Uint8Array` in gives `Uint8Array` out; `Blob` in gives `Blob` out, streamed through
 * {@link createEncryptStream} / {@link createDecryptStream} so a large file is never copied into
 * one JS buffer (a browser may page Blob parts to disk).
 *
 * @module
 */
import { archiveAuthFailed, throwIfAborted } from '../errors.js';
import { blobStream, isReadableBlob } from '../util/blob.js';
import { isBytes, wipe } from '../util/bytes.js';
import { chunkNonceTail } from './engine.js';
import { TAG_LENGTH, bodyLayout, chunkCount, parseHeader } from './format.js';
import {
  InOrderPipeline,
  checkKeySource,
  checkSealed,
  inFlightLimit,
  openHeader,
  resolveCommon,
  resolveKey,
  sealChunk,
  setupEncrypt,
  type ArchiveKeySource,
  type SealedChunk,
  type DecryptOptions,
  type EncryptOptions,
} from './options.js';
import { createDecryptStream, createEncryptStream } from './stream.js';

/** A Blob with or without `stream()` (lib/util/blob.ts reads either). */
const isBlob = isReadableBlob;

/** Blob parts must be ArrayBuffer-backed; engines normally return such views, otherwise copy. */
function blobPart(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return Object.prototype.toString.call(b.buffer) === '[object ArrayBuffer]'
    ? (b as Uint8Array<ArrayBuffer>)
    : Uint8Array.from(b);
}

async function streamToBlob(readable: ReadableStream<Uint8Array>, type: string): Promise<Blob> {
  const parts: Uint8Array<ArrayBuffer>[] = [];
  const reader = readable.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(blobPart(value));
    }
  } catch (e) {
    // Plaintext from chunks that verified before the failure is dropped and wiped.
    wipe(...parts);
    throw e;
  }
  return new Blob(parts, { type });
}

/**
 * Encrypt a whole plaintext into an archive (docs/FORMAT.md).
 *
 * @param key - The 32-byte backup key.
 * @param keyId - Its id: {@link KEY_ID_LENGTH} bytes, or as many bytes in hex.
 * @param plaintext - The bytes to encrypt.
 * @param opts - Chunk size, metadata, engine, signal, progress.
 * @returns The archive bytes, exactly {@link ciphertextSize} long.
 * @example
 * ```ts
 * const archive = await encryptArchive(bk, keyId, new TextEncoder().encode('hello'));
 * ```
 */
export function encryptArchive(key: Uint8Array, keyId: Uint8Array | string, plaintext: Uint8Array, opts?: EncryptOptions): Promise<Uint8Array>;
/**
 * Encrypt a `Blob` (a `File`, say) into an archive `Blob`, streaming.
 *
 * @param key - The 32-byte backup key.
 * @param keyId - Its id: {@link KEY_ID_LENGTH} bytes, or as many bytes in hex.
 * @param plaintext - The file to encrypt.
 * @param opts - Chunk size, metadata, engine, signal, progress.
 * @returns The archive as a Blob of type `application/octet-stream`.
 * @example
 * ```ts
 * const archiveBlob = await encryptArchive(bk, keyId, file, { onProgress });
 * ```
 */
export function encryptArchive(key: Uint8Array, keyId: Uint8Array | string, plaintext: Blob, opts?: EncryptOptions): Promise<Blob>;
export async function encryptArchive(
  key: Uint8Array,
  keyId: Uint8Array | string,
  plaintext: Uint8Array | Blob,
  opts?: EncryptOptions,
): Promise<Uint8Array | Blob> {
  if (isBlob(plaintext)) {
    const stream = createEncryptStream(key, keyId, { ...opts, totalBytes: plaintext.size });
    return streamToBlob(blobStream(plaintext).pipeThrough(stream), 'application/octet-stream');
  }
  if (!isBytes(plaintext)) throw new TypeError('plaintext must be a Uint8Array or a Blob');
  const common = resolveCommon(opts);
  throwIfAborted(common.signal);
  const { header, cipher, aad, chunkSize } = setupEncrypt(key, keyId, opts, common);
  try {
    const n = plaintext.length;
    const count = chunkCount(n, chunkSize);
    const out = new Uint8Array(header.length + n + TAG_LENGTH * count);
    out.set(header);
    let done = 0;
    // An engine that writes where it is told seals each chunk straight into `out` (no buffer per chunk).
    const sealInto = cipher.sealInto?.bind(cipher);
    const pipeline = new InOrderPipeline<SealedChunk | undefined, { at: number; length: number }>(inFlightLimit(common.limit, chunkSize), (sealed, m) => {
      // `undefined`: sealed in place already.
      if (sealed !== undefined) {
        checkSealed(sealed, m.length);
        if (isBytes(sealed)) out.set(sealed, m.at);
        else {
          out.set(sealed.ciphertext, m.at);
          out.set(sealed.tag, m.at + m.length);
        }
      }
      done += m.length;
      common.onProgress?.({ bytes: done, total: n });
    });
    for (let i = 0; i < count; i++) {
      throwIfAborted(common.signal);
      const start = i * chunkSize;
      const chunk = plaintext.subarray(start, Math.min(n, start + chunkSize));
      const at = header.length + start + TAG_LENGTH * i;
      const tail = chunkNonceTail(i, i === count - 1);
      let sealed: SealedChunk | undefined | PromiseLike<SealedChunk | undefined>;
      if (sealInto !== undefined) {
        const r = sealInto(tail, chunk, aad, out.subarray(at, at + chunk.length + TAG_LENGTH));
        sealed = r === undefined ? undefined : r.then((): SealedChunk | undefined => undefined);
      } else sealed = sealChunk(cipher, tail, chunk, aad);
      await pipeline.push(sealed, { at, length: chunk.length });
    }
    await pipeline.drain();
    return out;
  } finally {
    cipher.dispose();
  }
}

/**
 * Decrypt a whole archive. Checks the header and the key commitment first, then every chunk;
 * returns only after the final chunk verified, and never returns partial plaintext.
 *
 * Errors (`BackupError`): `ARCHIVE_AUTH_FAILED` for a wrong key or any modification,
 * truncation, reordering or extension; `ARCHIVE_KEY_UNKNOWN` when the lookup has no key for the
 * keyId; `ARCHIVE_NOT_RECOGNIZED`, `ARCHIVE_UNSUPPORTED_VERSION`, `ARCHIVE_UNSUPPORTED_SUITE`,
 * `ARCHIVE_LIMIT_EXCEEDED` from the header; `ABORTED`.
 *
 * @param key - The 32-byte backup key, or a lookup from keyId to key.
 * @param archive - The archive bytes.
 * @param opts - Engine, signal, progress.
 * @returns The plaintext.
 * @example
 * ```ts
 * const plaintext = await decryptArchive((keyId) => keyForId(keyring, keyId), archive);
 * ```
 */
export function decryptArchive(key: ArchiveKeySource, archive: Uint8Array, opts?: DecryptOptions): Promise<Uint8Array>;
/**
 * Decrypt an archive `Blob` into a plaintext `Blob`, streaming.
 *
 * @param key - The 32-byte backup key, or a lookup from keyId to key.
 * @param archive - The archive as a Blob (a download, say).
 * @param opts - Engine, signal, progress.
 * @returns The plaintext as a Blob, once the final chunk verified.
 * @example
 * ```ts
 * const plain = await decryptArchive(bk, await response.blob());
 * ```
 */
export function decryptArchive(key: ArchiveKeySource, archive: Blob, opts?: DecryptOptions): Promise<Blob>;
export async function decryptArchive(
  key: ArchiveKeySource,
  archive: Uint8Array | Blob,
  opts?: DecryptOptions,
): Promise<Uint8Array | Blob> {
  if (isBlob(archive)) {
    const stream = createDecryptStream(key, { ...opts, totalBytes: archive.size });
    return streamToBlob(blobStream(archive).pipeThrough(stream), '');
  }
  if (!isBytes(archive)) throw new TypeError('archive must be a Uint8Array or a Blob');
  const source = checkKeySource(key);
  const common = resolveCommon(opts);
  throwIfAborted(common.signal);
  const header = parseHeader(archive);
  const bk = await resolveKey(source, header);
  throwIfAborted(common.signal);
  const { cipher, aad } = openHeader(bk, header, archive, common.engine);
  let out: Uint8Array | undefined;
  try {
    const layout = bodyLayout(archive.length, header.chunkSize, header.length);
    if (layout === undefined) throw archiveAuthFailed();
    const plain = new Uint8Array(layout.plaintext);
    out = plain;
    const sealedSize = header.chunkSize + TAG_LENGTH;
    let done = header.length;
    const pipeline = new InOrderPipeline<Uint8Array | undefined, { at: number; sealed: number }>(inFlightLimit(common.limit, header.chunkSize), (chunk, m) => {
      if (chunk === undefined || chunk.length !== m.sealed - TAG_LENGTH) throw archiveAuthFailed();
      plain.set(chunk, m.at);
      wipe(chunk);
      done += m.sealed;
      common.onProgress?.({ bytes: done, total: archive.length });
    });
    for (let i = 0; i < layout.count; i++) {
      throwIfAborted(common.signal);
      const final = i === layout.count - 1;
      const start = header.length + i * sealedSize;
      const sealed = archive.subarray(start, start + (final ? layout.finalSealed : sealedSize));
      await pipeline.push(cipher.open(chunkNonceTail(i, final), sealed, aad), { at: i * header.chunkSize, sealed: sealed.length });
    }
    await pipeline.drain();
    out = undefined;
    return plain;
  } finally {
    // On any failure, no plaintext (not even from verified chunks) leaves this function.
    wipe(out);
    cipher.dispose();
  }
}
