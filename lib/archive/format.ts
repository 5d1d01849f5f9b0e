/**
 * The archive wire format (docs/FORMAT.md): header encoding and parsing, limits, and the size
 * arithmetic of the chunk layout. Pure functions, no crypto.
 *
 * @module
 */
import { BackupError, archiveAuthFailed } from '../errors.js';
import { readU32BE, safeInt, toHex, writeU32BE } from '../util/bytes.js';

/**
 * The 8 magic bytes that open every archive: ASCII `E2EE-ARC`.
 *
 * @example
 * ```ts
 * const isOurs = bytes.length >= 8 && ARCHIVE_MAGIC.every((b, i) => bytes[i] === b);
 * ```
 */
export const ARCHIVE_MAGIC: Uint8Array = /* @__PURE__ */ new TextEncoder().encode('E2EE-ARC');
/**
 * The only format version this SDK writes and reads.
 *
 * @example
 * ```ts
 * const current = parseHeader(bytes).version === ARCHIVE_VERSION; // true
 * ```
 */
export const ARCHIVE_VERSION = 1;
/**
 * Suite 1: HKDF-SHA-256 key schedule, XChaCha20-Poly1305 STREAM chunks. The only suite.
 *
 * @example
 * ```ts
 * parseHeader(bytes).suite === SUITE_XCHACHA20POLY1305_HKDF_SHA256; // true
 * ```
 */
export const SUITE_XCHACHA20POLY1305_HKDF_SHA256 = 1;
/**
 * Length of a keyId in bytes. Keyrings generate keyIds of exactly this size.
 *
 * @example
 * ```ts
 * const keyId = crypto.getRandomValues(new Uint8Array(KEY_ID_LENGTH));
 * ```
 */
export const KEY_ID_LENGTH = 16;
/**
 * Length of the per-archive random salt in bytes.
 *
 * @example
 * ```ts
 * parseHeader(bytes).salt.length === SALT_LENGTH; // true
 * ```
 */
export const SALT_LENGTH = 32;
/**
 * Length of the key commitment in bytes.
 *
 * @example
 * ```ts
 * parseHeader(bytes).commitment.length === COMMITMENT_LENGTH; // true
 * ```
 */
export const COMMITMENT_LENGTH = 32;
/**
 * Length of a Poly1305 tag, appended to every chunk.
 *
 * @example
 * ```ts
 * const sealedChunk = DEFAULT_CHUNK_SIZE + TAG_LENGTH; // bytes of a full chunk on the wire
 * ```
 */
export const TAG_LENGTH = 16;
/**
 * Default plaintext bytes per chunk (64 KiB).
 *
 * @example
 * ```ts
 * ciphertextSize(n) === ciphertextSize(n, DEFAULT_CHUNK_SIZE); // true
 * ```
 */
export const DEFAULT_CHUNK_SIZE = 65536;
/**
 * Smallest allowed chunk size (64 bytes).
 *
 * @example
 * ```ts
 * await encryptArchive(key, keyId, bytes, { chunkSize: MIN_CHUNK_SIZE }); // smallest allowed
 * ```
 */
export const MIN_CHUNK_SIZE = 64;
/**
 * Largest allowed chunk size (16 MiB): bounds the memory a decoder spends per chunk.
 *
 * @example
 * ```ts
 * await encryptArchive(key, keyId, bytes, { chunkSize: MAX_CHUNK_SIZE }); // largest allowed
 * ```
 */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/**
 * Largest allowed public metadata (64 KiB).
 *
 * @example
 * ```ts
 * if (metadata.length > MAX_METADATA_LENGTH) throw new RangeError('metadata too long');
 * ```
 */
export const MAX_METADATA_LENGTH = 65536;
/**
 * Bytes of the header before the metadata: magic 8, version 1, suite 1, flags 2, chunk size 4, keyId 16, salt 32, metadata length 4.
 *
 * @example
 * ```ts
 * const fixed = await readAt(0, HEADER_FIXED_LENGTH); // enough to learn the header length
 * ```
 */
export const HEADER_FIXED_LENGTH = 68;
/**
 * Header bytes besides the metadata: the fixed part and the commitment.
 *
 * @example
 * ```ts
 * const headerLength = HEADER_OVERHEAD + metadata.length;
 * ```
 */
export const HEADER_OVERHEAD = HEADER_FIXED_LENGTH + COMMITMENT_LENGTH;

// Field offsets (docs/FORMAT.md §Header).
const OFF_VERSION = 8;
const OFF_SUITE = 9;
const OFF_FLAGS = 10;
const OFF_CHUNK_SIZE = 12;
const OFF_KEY_ID = 16;
const OFF_SALT = 32;
const OFF_METADATA_LENGTH = 64;

/**
 * A parsed archive header. Every field is **unauthenticated** until a decryptor has checked the
 * key commitment; `keyId` only picks which key to try.
 *
 * @example
 * ```ts
 * const header = parseHeader(archive);
 * console.log(header.keyIdHex, header.chunkSize, header.metadata.length);
 * ```
 */
export interface ArchiveHeader {
  /** Format version (1). */
  readonly version: number;
  /** Cipher suite id (1). */
  readonly suite: number;
  /** Flags (0 in version 1). */
  readonly flags: number;
  /** Plaintext bytes per chunk. */
  readonly chunkSize: number;
  /** Which keyring generation sealed the archive ({@link KEY_ID_LENGTH} bytes). */
  readonly keyId: Uint8Array;
  /** `keyId` as lowercase hex. */
  readonly keyIdHex: string;
  /** The per-archive HKDF salt. */
  readonly salt: Uint8Array;
  /** Public metadata (authenticated, not encrypted). */
  readonly metadata: Uint8Array;
  /** The key commitment. */
  readonly commitment: Uint8Array;
  /** Total header length in bytes, where the first chunk starts. */
  readonly length: number;
}

/** @internal The header fields an encoder chooses. */
export interface HeaderFields {
  /** Plaintext bytes per chunk. */
  readonly chunkSize: number;
  /** {@link KEY_ID_LENGTH} bytes. */
  readonly keyId: Uint8Array;
  /** {@link SALT_LENGTH} random bytes. */
  readonly salt: Uint8Array;
  /** Public metadata. */
  readonly metadata: Uint8Array;
}

function limit(what: string, max: number): BackupError {
  return new BackupError('ARCHIVE_LIMIT_EXCEEDED', `archive header: ${what} is over its limit`, { limit: max });
}

/** @internal Encode the header up to (not including) the commitment: the bytes the commitment binds. */
export function encodeHeaderPrefix(f: HeaderFields): Uint8Array {
  const out = new Uint8Array(HEADER_FIXED_LENGTH + f.metadata.length);
  out.set(ARCHIVE_MAGIC, 0);
  out[OFF_VERSION] = ARCHIVE_VERSION;
  out[OFF_SUITE] = SUITE_XCHACHA20POLY1305_HKDF_SHA256;
  // flags (2 bytes) stay 0.
  writeU32BE(out, OFF_CHUNK_SIZE, f.chunkSize);
  out.set(f.keyId, OFF_KEY_ID);
  out.set(f.salt, OFF_SALT);
  writeU32BE(out, OFF_METADATA_LENGTH, f.metadata.length);
  out.set(f.metadata, HEADER_FIXED_LENGTH);
  return out;
}

/**
 * @internal Check whatever prefix of a header is present, in the order docs/FORMAT.md gives
 * (magic, version, suite, flags, chunk size, metadata length), and return the full header length
 * once the fixed part is present (`undefined` before). Throws the field's typed error.
 */
export function checkHeaderStart(b: Uint8Array): number | undefined {
  const m = Math.min(b.length, ARCHIVE_MAGIC.length);
  for (let i = 0; i < m; i++) {
    if (b[i] !== ARCHIVE_MAGIC[i]) {
      throw new BackupError('ARCHIVE_NOT_RECOGNIZED', 'not an e2ee-backup archive (bad magic bytes)');
    }
  }
  if (b.length > OFF_VERSION && b[OFF_VERSION] !== ARCHIVE_VERSION) {
    throw new BackupError('ARCHIVE_UNSUPPORTED_VERSION', `archive version ${b[OFF_VERSION]} is not supported (this SDK reads ${ARCHIVE_VERSION})`);
  }
  if (b.length > OFF_SUITE && b[OFF_SUITE] !== SUITE_XCHACHA20POLY1305_HKDF_SHA256) {
    throw new BackupError('ARCHIVE_UNSUPPORTED_SUITE', `archive cipher suite ${b[OFF_SUITE]} is not supported`);
  }
  if (b.length >= OFF_FLAGS + 2 && (b[OFF_FLAGS] !== 0 || b[OFF_FLAGS + 1] !== 0)) {
    // No flag is defined in version 1; an unknown flag could change meaning, so refuse it.
    throw limit('flags', 0);
  }
  if (b.length >= OFF_CHUNK_SIZE + 4) {
    const cs = readU32BE(b, OFF_CHUNK_SIZE);
    // details.limit is the bound that was broken: the minimum for a size below it (issue 19).
    if (cs < MIN_CHUNK_SIZE) {
      throw new BackupError('ARCHIVE_LIMIT_EXCEEDED', `archive header: chunk size is under its minimum of ${MIN_CHUNK_SIZE}`, { limit: MIN_CHUNK_SIZE });
    }
    if (cs > MAX_CHUNK_SIZE) throw limit('chunk size', MAX_CHUNK_SIZE);
  }
  if (b.length < HEADER_FIXED_LENGTH) return undefined;
  const ml = readU32BE(b, OFF_METADATA_LENGTH);
  if (ml > MAX_METADATA_LENGTH) throw limit('metadata length', MAX_METADATA_LENGTH);
  return HEADER_OVERHEAD + ml;
}

/**
 * Parse an archive header from the start of `bytes` (which may hold the whole archive). Checks
 * the magic, version, suite, flags and every limit; does **not** authenticate anything (that
 * needs the key: {@link decryptArchive} and {@link openArchive} check the commitment).
 *
 * Errors: `ARCHIVE_NOT_RECOGNIZED` (magic), `ARCHIVE_UNSUPPORTED_VERSION`,
 * `ARCHIVE_UNSUPPORTED_SUITE`, `ARCHIVE_LIMIT_EXCEEDED` (flags, chunk size, metadata length),
 * `ARCHIVE_AUTH_FAILED` when `bytes` ends inside the header (a truncated archive).
 *
 * @example
 * ```ts
 * const { keyIdHex, metadata } = parseHeader(archiveBytes);
 * ```
 */
export function parseHeader(bytes: Uint8Array): ArchiveHeader {
  const total = checkHeaderStart(bytes);
  if (total === undefined || bytes.length < total) throw archiveAuthFailed();
  const keyId = bytes.slice(OFF_KEY_ID, OFF_KEY_ID + KEY_ID_LENGTH);
  return {
    version: bytes[OFF_VERSION]!,
    suite: bytes[OFF_SUITE]!,
    flags: 0,
    chunkSize: readU32BE(bytes, OFF_CHUNK_SIZE),
    keyId,
    keyIdHex: toHex(keyId),
    salt: bytes.slice(OFF_SALT, OFF_SALT + SALT_LENGTH),
    metadata: bytes.slice(HEADER_FIXED_LENGTH, total - COMMITMENT_LENGTH),
    commitment: bytes.slice(total - COMMITMENT_LENGTH, total),
    length: total,
  };
}

function checkChunkSize(chunkSize: number, name = 'chunkSize'): void {
  if (!Number.isSafeInteger(chunkSize)) throw new TypeError(`${name} must be an integer`);
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new RangeError(`${name} must be between ${MIN_CHUNK_SIZE} and ${MAX_CHUNK_SIZE}`);
  }
}

function checkMetadataLength(m: number): void {
  if (!Number.isSafeInteger(m) || m < 0 || m > MAX_METADATA_LENGTH) {
    throw new RangeError(`metadataLength must be an integer between 0 and ${MAX_METADATA_LENGTH}`);
  }
}

/** @internal Validate an encoder's chunk size (RangeError/TypeError naming the argument). */
export const assertChunkSize: (chunkSize: number, name?: string) => void = checkChunkSize;

/**
 * Number of chunks for `n` plaintext bytes: one (final, empty) chunk for 0, else ⌈n / chunkSize⌉.
 *
 * @example
 * ```ts
 * chunkCount(0, 65536); // 1
 * chunkCount(65537, 65536); // 2
 * ```
 */
export function chunkCount(n: number, chunkSize: number): number {
  return n === 0 ? 1 : Math.ceil(n / chunkSize);
}

/**
 * Archive size in bytes for `n` plaintext bytes:
 * `100 + metadataLength + n + 16 × max(1, ⌈n / chunkSize⌉)`.
 *
 * @example
 * ```ts
 * ciphertextSize(0); // 116: header + one empty final chunk
 * ciphertextSize(100_000); // 100 + 100000 + 2 × 16
 * ```
 */
export function ciphertextSize(n: number, chunkSize: number = DEFAULT_CHUNK_SIZE, metadataLength = 0): number {
  safeInt(n, 'n');
  checkChunkSize(chunkSize);
  checkMetadataLength(metadataLength);
  const size = HEADER_OVERHEAD + metadataLength + n + TAG_LENGTH * chunkCount(n, chunkSize);
  if (!Number.isSafeInteger(size)) throw new RangeError('n is too large');
  return size;
}

/** @internal Layout of the chunk area of an archive of `size` bytes; undefined if no archive has that size. */
export function bodyLayout(
  size: number,
  chunkSize: number,
  headerLength: number,
): { count: number; plaintext: number; finalSealed: number } | undefined {
  const body = size - headerLength;
  const sealed = chunkSize + TAG_LENGTH;
  if (!(body >= TAG_LENGTH)) return undefined;
  const full = Math.floor(body / sealed);
  const rem = body - full * sealed;
  if (rem === 0) return { count: full, plaintext: body - TAG_LENGTH * full, finalSealed: sealed };
  // A partial final chunk holds 1..chunkSize-1 bytes; an empty one is only the whole of an empty archive.
  if (rem < TAG_LENGTH || (rem === TAG_LENGTH && full > 0)) return undefined;
  return { count: full + 1, plaintext: body - TAG_LENGTH * (full + 1), finalSealed: rem };
}

/**
 * Plaintext size of an archive of `size` bytes (the inverse of {@link ciphertextSize}).
 * RangeError when no archive with these parameters has that size.
 *
 * @example
 * ```ts
 * plaintextSize(ciphertextSize(12345)); // 12345
 * ```
 */
export function plaintextSize(size: number, chunkSize: number = DEFAULT_CHUNK_SIZE, metadataLength = 0): number {
  safeInt(size, 'size');
  checkChunkSize(chunkSize);
  checkMetadataLength(metadataLength);
  const layout = bodyLayout(size, chunkSize, HEADER_OVERHEAD + metadataLength);
  if (layout === undefined) throw new RangeError('size is not the size of any archive with this chunk size and metadata length');
  return layout.plaintext;
}
