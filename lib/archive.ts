/**
 * `e2ee-backup/archive`: the encrypted archive format (docs/FORMAT.md) on its own, for apps that
 * encrypt files themselves, outside a backup client: one-shot, streaming (`TransformStream`s) and
 * random-access encryption and decryption, the header parser, size arithmetic, the format's
 * constants and the cipher engines (noble, `node:crypto`, the platform default). The worker pool
 * browsers should use is `createWorkerEngine` from `e2ee-backup/workers`; the libsodium engine is
 * `e2ee-backup/engines/libsodium`. An app that uses `createBackupClient` needs none of this: the
 * client writes and reads archives for it.
 *
 * @example
 * ```ts
 * import { encryptArchive, decryptArchive, KEY_ID_LENGTH } from 'e2ee-backup/archive';
 *
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const keyId = crypto.getRandomValues(new Uint8Array(KEY_ID_LENGTH));
 * const sealed = await encryptArchive(key, keyId, new TextEncoder().encode('chat export'));
 * const plain = await decryptArchive(key, sealed);
 * ```
 *
 * @packageDocumentation
 */
export { ARCHIVE_AUTH_MESSAGE } from './errors.js';
export { encryptArchive, decryptArchive } from './archive/archive.js';
export { createEncryptStream, createDecryptStream } from './archive/stream.js';
export { openArchive } from './archive/random-access.js';
export type { ArchiveReader, OpenArchiveOptions, ReadOptions } from './archive/random-access.js';
export {
  parseHeader,
  ciphertextSize,
  plaintextSize,
  chunkCount,
  ARCHIVE_MAGIC,
  ARCHIVE_VERSION,
  SUITE_XCHACHA20POLY1305_HKDF_SHA256,
  KEY_ID_LENGTH,
  SALT_LENGTH,
  COMMITMENT_LENGTH,
  TAG_LENGTH,
  DEFAULT_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  MAX_METADATA_LENGTH,
  HEADER_FIXED_LENGTH,
  HEADER_OVERHEAD,
} from './archive/format.js';
export type { ArchiveHeader } from './archive/format.js';
export type {
  ArchiveOptions,
  EncryptOptions,
  DecryptOptions,
  ArchiveProgress,
  ArchiveKeyLookup,
  ArchiveKeySource,
} from './archive/options.js';
export type { CipherEngine, ChunkCipher, SealedParts } from './archive/engine.js';
export { defaultEngine } from './archive/engines/default.js';
export { nobleEngine } from './archive/engines/noble.js';
export { createNodeEngine, nodeCryptoFromRuntime } from './archive/engines/node.js';
export type { NodeCryptoAead, NodeAeadCipher, NodeAeadDecipher } from './archive/engines/node.js';
export type { RandomSource } from './util/bytes.js';
