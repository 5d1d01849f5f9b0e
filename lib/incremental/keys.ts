/**
 * The incremental key schedule (docs/INCREMENTAL.md §3): from one backup-key generation `BK`,
 * HKDF-SHA-256 (RFC 5869) gives the chunker's Gear table and cut-PRF key, the chunk-id MAC key,
 * and, per pack with its random salt, the pack's payload key and nonce prefix.
 *
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { expand, extract, hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { LABELS } from '../labels.js';
import { abytes, utf8, wipe } from '../util/bytes.js';

/** Length of a chunk id (HMAC-SHA-256 output). */
export const CHUNK_ID_LENGTH = 32;
/** Length of the chunker's Gear table in bytes: 256 entries of 64 bits. */
export const GEAR_TABLE_BYTES = 2048;

/** The chunker's secrets for one generation. Wipe with {@link wipeChunkerKeys}. */
export interface ChunkerKeys {
  /** 256 × 64-bit Gear entries as 512 big-endian u32 words: `hi = table[2b]`, `lo = table[2b+1]`. */
  readonly gear: Uint32Array;
  /** AES-128 key of the cut PRF (16 bytes). */
  readonly prfKey: Uint8Array;
}

/**
 * `gear = HKDF(BK, "", L(incrementalGearTable), 2048)`, `prfKey = HKDF(BK, "", L(incrementalCutPrf), 16)`.
 *
 * @example
 * ```ts
 * const keys = deriveChunkerKeys(bk);
 * ```
 */
export function deriveChunkerKeys(backupKey: Uint8Array): ChunkerKeys {
  abytes(backupKey, 'backupKey', 32);
  const raw = hkdf(sha256, backupKey, undefined, utf8(LABELS.incrementalGearTable), GEAR_TABLE_BYTES);
  const gear = new Uint32Array(GEAR_TABLE_BYTES / 4);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < gear.length; i++) gear[i] = dv.getUint32(4 * i, false);
  wipe(raw);
  return { gear, prfKey: hkdf(sha256, backupKey, undefined, utf8(LABELS.incrementalCutPrf), 16) };
}

/**
 * Zero the chunker keys.
 *
 * @example
 * ```ts
 * import { deriveChunkerKeys, wipeChunkerKeys } from 'e2ee-backup/incremental';
 * const keys = deriveChunkerKeys(bk);
 * wipeChunkerKeys(keys);
 * ```
 */
export function wipeChunkerKeys(k: ChunkerKeys): void {
  k.gear.fill(0);
  wipe(k.prfKey);
}

/**
 * The chunk-id MAC key: `HKDF(BK, "", L(incrementalChunkId), 32)`. The caller wipes it.
 *
 * @example
 * ```ts
 * const idKey = deriveChunkIdKey(bk);
 * ```
 */
export function deriveChunkIdKey(backupKey: Uint8Array): Uint8Array {
  abytes(backupKey, 'backupKey', 32);
  return hkdf(sha256, backupKey, undefined, utf8(LABELS.incrementalChunkId), 32);
}

/** Chunk id = HMAC-SHA-256(idKey, chunk plaintext), synchronous (@noble/hashes). */
export function chunkIdSync(idKey: Uint8Array, chunk: Uint8Array): Uint8Array {
  return hmac(sha256, idKey, chunk);
}

/**
 * Computes chunk ids. Uses WebCrypto HMAC-SHA-256 when the platform has it (native speed, the key
 * held as a non-extractable `CryptoKey`), @noble/hashes otherwise; both give the same bytes.
 */
export interface ChunkIdMac {
  /** HMAC-SHA-256(idKey, chunk). */
  id(chunk: Uint8Array): Promise<Uint8Array>;
  /** Forget the key. */
  dispose(): void;
}

/**
 * Create a {@link ChunkIdMac} from an id key (copied; the caller may wipe its array).
 *
 * @example
 * ```ts
 * const mac = await createChunkIdMac(deriveChunkIdKey(bk));
 * const id = await mac.id(chunk);
 * ```
 */
export async function createChunkIdMac(idKey: Uint8Array, options: { readonly native?: boolean } = {}): Promise<ChunkIdMac> {
  abytes(idKey, 'idKey', 32);
  const subtle = options.native === false ? undefined : globalThis.crypto?.subtle;
  if (subtle !== undefined) {
    try {
      const key = await subtle.importKey('raw', Uint8Array.from(idKey), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      return {
        async id(chunk) {
          return new Uint8Array(await subtle.sign('HMAC', key, chunk as Uint8Array<ArrayBuffer>));
        },
        dispose() {},
      };
    } catch {
      // fall through to the pure-JS MAC
    }
  }
  const k = Uint8Array.from(idKey);
  return {
    async id(chunk) {
      return hmac(sha256, k, chunk);
    },
    dispose() {
      wipe(k);
    },
  };
}

/** A pack's secrets. Wipe both. */
export interface PackKeys {
  /** 32-byte XChaCha20-Poly1305 key. */
  readonly payloadKey: Uint8Array;
  /** 16-byte nonce prefix. */
  readonly noncePrefix: Uint8Array;
}

/**
 * `PRK = HKDF-Extract(salt, BK)`; `payloadKey = Expand(PRK, L(incrementalPackKey), 32)`;
 * `noncePrefix = Expand(PRK, L(incrementalPackNonce), 16)` (RFC 5869 §2.2-2.3).
 *
 * @example
 * ```ts
 * const { payloadKey, noncePrefix } = derivePackKeys(bk, salt);
 * ```
 */
export function derivePackKeys(backupKey: Uint8Array, salt: Uint8Array): PackKeys {
  abytes(backupKey, 'backupKey', 32);
  abytes(salt, 'salt', 32);
  const prk = extract(sha256, backupKey, salt);
  try {
    return {
      payloadKey: expand(sha256, prk, utf8(LABELS.incrementalPackKey), 32),
      noncePrefix: expand(sha256, prk, utf8(LABELS.incrementalPackNonce), 16),
    };
  } finally {
    wipe(prk);
  }
}
