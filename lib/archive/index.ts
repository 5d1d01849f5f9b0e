/**
 * The streaming encrypted archive (docs/FORMAT.md): one-shot, streaming and random-access
 * encryption and decryption, the header parser, size arithmetic and the cipher engine seam.
 *
 * @module
 */
export { encryptArchive, decryptArchive } from './archive.js';
export { createEncryptStream, createDecryptStream } from './stream.js';
export { openArchive } from './random-access.js';
export type { ArchiveReader, OpenArchiveOptions, ReadOptions } from './random-access.js';
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
} from './format.js';
export type { ArchiveHeader } from './format.js';
export type {
  ArchiveOptions,
  EncryptOptions,
  DecryptOptions,
  ArchiveProgress,
  ArchiveKeyLookup,
  ArchiveKeySource,
} from './options.js';
export { chunkNonceTail, createSealGuard, NONCE_TAIL_LENGTH } from './engine.js';
export type { CipherEngine, ChunkCipher, SealedParts } from './engine.js';
export { defaultEngine } from './engines/default.js';
export { nobleEngine } from './engines/noble.js';
