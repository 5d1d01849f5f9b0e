/**
 * Options, key sources and the small machinery every archive operation shares: argument checks
 * at the public edge, key lookup, opening a header (commitment check) and the in-order pipeline
 * that keeps up to `engine.parallelism` chunks in flight.
 *
 * @module
 */
import { BackupError, archiveAuthFailed, throwIfAborted } from '../errors.js';
import { abytes, equalBytes, fromHex, isBytes, safeInt, secureRandom, wipe, type RandomSource } from '../util/bytes.js';
import type { ChunkCipher, CipherEngine, SealedParts } from './engine.js';
import { defaultEngine } from './engines/default.js';
import {
  DEFAULT_CHUNK_SIZE,
  KEY_ID_LENGTH,
  MAX_METADATA_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH,
  assertChunkSize,
  encodeHeaderPrefix,
  type ArchiveHeader,
} from './format.js';
import { chunkAad, deriveArchiveKeys } from './keys.js';

/**
 * Progress of a long archive operation, reported after each chunk.
 *
 * @example
 * ```ts
 * const onProgress = ({ bytes, total }: ArchiveProgress) => bar.set(total ? bytes / total : 0);
 * ```
 */
export interface ArchiveProgress {
  /** Input bytes fully processed so far (plaintext when encrypting, archive bytes when decrypting, requested bytes when reading a range). */
  readonly bytes: number;
  /** Total input bytes, when known. */
  readonly total?: number;
}

/**
 * Options every archive operation takes.
 *
 * @example
 * ```ts
 * const common: ArchiveOptions = { signal: AbortSignal.timeout(60_000), onProgress: console.log };
 * ```
 */
export interface ArchiveOptions {
  /** The cipher engine; {@link defaultEngine} when absent. */
  readonly engine?: CipherEngine;
  /** Cancels the operation; it then fails with `BackupError` code `ABORTED`. */
  readonly signal?: AbortSignal;
  /** Called after each chunk. */
  readonly onProgress?: (progress: ArchiveProgress) => void;
}

/**
 * Options for encryption.
 *
 * @example
 * ```ts
 * const opts: EncryptOptions = { chunkSize: 1 << 20, metadata: new TextEncoder().encode('{"chat":"family"}') };
 * ```
 */
export interface EncryptOptions extends ArchiveOptions {
  /** Plaintext bytes per chunk, 64 B to 16 MiB; default 64 KiB. */
  readonly chunkSize?: number;
  /** Public metadata stored in the header: authenticated but **not encrypted**; at most 64 KiB. */
  readonly metadata?: Uint8Array;
  /** Randomness for the 32-byte salt; `crypto.getRandomValues` when absent. Inject only for test vectors. */
  readonly random?: RandomSource;
  /** Plaintext size when known in advance, passed through as `total` in progress reports (streams only). */
  readonly totalBytes?: number;
}

/**
 * Options for decryption.
 *
 * @example
 * ```ts
 * const opts: DecryptOptions = { totalBytes: blob.size, onProgress: console.log };
 * ```
 */
export interface DecryptOptions extends ArchiveOptions {
  /** Archive size when known in advance, passed through as `total` in progress reports (streams only). */
  readonly totalBytes?: number;
}

/**
 * Resolves a keyring key from an archive's keyId. Return `undefined` when the keyring has no
 * such key (the operation then fails with `ARCHIVE_KEY_UNKNOWN`). The returned key is not wiped
 * by the SDK: it belongs to the keyring.
 *
 * @example
 * ```ts
 * const lookup: ArchiveKeyLookup = (keyId) => keyForId(keyring, keyId);
 * ```
 */
export type ArchiveKeyLookup = (
  keyId: Uint8Array,
  keyIdHex: string,
) => Uint8Array | undefined | Promise<Uint8Array | undefined>;

/**
 * The key for decryption: the 32-byte backup key itself, or a keyring lookup by keyId.
 *
 * @example
 * ```ts
 * const source: ArchiveKeySource = (_id, hex) => keys.get(hex);
 * ```
 */
export type ArchiveKeySource = Uint8Array | ArchiveKeyLookup;

/** @internal */
export interface Resolved {
  readonly engine: CipherEngine;
  readonly limit: number;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((p: ArchiveProgress) => void) | undefined;
  readonly total: number | undefined;
}

/** @internal Check the options every operation shares. */
export function resolveCommon(opts: unknown, name = 'opts'): Resolved {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${name} must be an object`);
  const o = opts as EncryptOptions;
  const engine = o.engine ?? defaultEngine();
  if (typeof engine !== 'object' || engine === null || typeof engine.create !== 'function') {
    throw new TypeError(`${name}.engine must be a CipherEngine`);
  }
  const p = engine.parallelism ?? 1;
  safeInt(p, `${name}.engine.parallelism`, 1);
  if (o.signal !== undefined && (typeof o.signal !== 'object' || typeof o.signal.aborted !== 'boolean')) {
    throw new TypeError(`${name}.signal must be an AbortSignal`);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw new TypeError(`${name}.onProgress must be a function`);
  }
  if (o.totalBytes !== undefined) safeInt(o.totalBytes, `${name}.totalBytes`);
  // More than 64 chunks in flight buys nothing and costs memory.
  return { engine, limit: Math.min(p, 64), signal: o.signal, onProgress: o.onProgress, total: o.totalBytes };
}

/** @internal Check a keyId argument: {@link KEY_ID_LENGTH} bytes, or that many bytes as hex. */
export function checkKeyId(keyId: unknown): Uint8Array {
  if (typeof keyId === 'string') {
    if (keyId.length !== 2 * KEY_ID_LENGTH || !/^[0-9a-fA-F]*$/.test(keyId)) {
      throw new RangeError(`keyId must be ${KEY_ID_LENGTH} bytes or ${2 * KEY_ID_LENGTH} hex digits`);
    }
    return fromHex(keyId);
  }
  return abytes(keyId, 'keyId', KEY_ID_LENGTH).slice();
}

/** @internal Check a decryption key source. */
export function checkKeySource(key: unknown): ArchiveKeySource {
  if (typeof key === 'function') return key as ArchiveKeyLookup;
  if (!isBytes(key)) throw new TypeError('key must be a Uint8Array or a key lookup function');
  return abytes(key, 'key', 32);
}

/** @internal Resolve the key for a parsed header. */
export async function resolveKey(source: ArchiveKeySource, header: ArchiveHeader): Promise<Uint8Array> {
  if (isBytes(source)) return source;
  const key = await source(header.keyId.slice(), header.keyIdHex);
  if (key === undefined) {
    throw new BackupError('ARCHIVE_KEY_UNKNOWN', "no key in the keyring has this archive's keyId");
  }
  return abytes(key, 'the key returned by the key lookup', 32);
}

/** @internal The state an encoder needs. */
export interface EncryptSetup {
  readonly header: Uint8Array;
  readonly cipher: ChunkCipher;
  readonly aad: Uint8Array;
  readonly chunkSize: number;
}

/** @internal Validate the encryption arguments, draw the salt, derive keys, build the header. */
export function setupEncrypt(key: unknown, keyId: unknown, opts: EncryptOptions | undefined, common: Resolved): EncryptSetup {
  abytes(key, 'key', 32);
  const id = checkKeyId(keyId);
  const o = opts ?? {};
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  assertChunkSize(chunkSize, 'opts.chunkSize');
  const metadata = o.metadata === undefined ? new Uint8Array(0) : abytes(o.metadata, 'opts.metadata').slice();
  if (metadata.length > MAX_METADATA_LENGTH) throw new RangeError(`opts.metadata must be at most ${MAX_METADATA_LENGTH} bytes`);
  const random = o.random ?? secureRandom;
  if (typeof random !== 'function') throw new TypeError('opts.random must be a function');
  const salt = abytes(random(SALT_LENGTH), 'opts.random() result', SALT_LENGTH).slice();
  throwIfAborted(common.signal);
  const prefix = encodeHeaderPrefix({ chunkSize, keyId: id, salt, metadata });
  const keys = deriveArchiveKeys(key as Uint8Array, salt, prefix);
  try {
    const header = new Uint8Array(prefix.length + keys.commitment.length);
    header.set(prefix);
    header.set(keys.commitment, prefix.length);
    const aad = chunkAad(prefix, keys.commitment);
    const cipher = common.engine.create(keys.payloadKey, keys.noncePrefix);
    return { header, cipher, aad, chunkSize };
  } finally {
    wipe(keys.payloadKey, keys.noncePrefix);
  }
}

/**
 * @internal Derive the keys for a parsed header and check its commitment in constant time,
 * before any chunk is touched (docs/FORMAT.md §Decoding). A wrong key and a modified header both
 * give `ARCHIVE_AUTH_FAILED`.
 */
export function openHeader(
  key: Uint8Array,
  header: ArchiveHeader,
  headerBytes: Uint8Array,
  engine: CipherEngine,
): { cipher: ChunkCipher; aad: Uint8Array } {
  const prefix = headerBytes.subarray(0, header.length - header.commitment.length);
  const keys = deriveArchiveKeys(key, header.salt, prefix);
  try {
    if (!equalBytes(keys.commitment, header.commitment)) throw archiveAuthFailed();
    return { cipher: engine.create(keys.payloadKey, keys.noncePrefix), aad: chunkAad(prefix, keys.commitment) };
  } finally {
    wipe(keys.payloadKey, keys.noncePrefix);
  }
}

/** @internal A sealed chunk as an engine returned it: `ciphertext ‖ tag`, or the two parts. */
export type SealedChunk = Uint8Array | SealedParts;

/** @internal Seal one chunk, through the engine's `sealParts` fast path when it has one. */
export function sealChunk(
  cipher: ChunkCipher,
  nonceTail: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): SealedChunk | PromiseLike<SealedChunk> {
  return cipher.sealParts !== undefined ? cipher.sealParts(nonceTail, plaintext, aad) : cipher.seal(nonceTail, plaintext, aad);
}

/** @internal Check what an engine returned for a chunk of `length` plaintext bytes. */
export function checkSealed(sealed: SealedChunk, length: number): void {
  const ok =
    isBytes(sealed)
      ? sealed.length === length + TAG_LENGTH
      : typeof sealed === 'object' &&
        sealed !== null &&
        isBytes(sealed.ciphertext) &&
        isBytes(sealed.tag) &&
        sealed.ciphertext.length === length &&
        sealed.tag.length === TAG_LENGTH;
  if (!ok) throw new Error('cipher engine returned a sealed chunk of the wrong length');
}

function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** Chunk bytes the archive operations keep in flight at most (see {@link inFlightLimit}). */
const IN_FLIGHT_BYTES = 8 * 1024 * 1024;

/**
 * @internal Chunks to keep in flight for a chunk size: the engine's `limit`, lowered so that about
 * 8 MiB of chunks are in flight at most, but never below `min(limit, 4)` (so large chunks still
 * run in parallel).
 */
export function inFlightLimit(limit: number, chunkSize: number): number {
  return Math.min(limit, Math.max(Math.min(limit, 4), Math.floor(IN_FLIGHT_BYTES / chunkSize)));
}

/**
 * @internal Keeps up to `limit` chunk operations in flight and hands their results to `emit` in
 * submission order. `push` resolves once there is room again, so memory stays bounded by `limit`
 * chunks regardless of the engine's speed.
 */
export class InOrderPipeline<R, M> {
  readonly #queue: { result: R | PromiseLike<R>; meta: M }[] = [];
  #limit: number;
  readonly #emit: (result: R, meta: M) => void;

  constructor(limit: number, emit: (result: R, meta: M) => void) {
    this.#limit = limit;
    this.#emit = emit;
  }

  /**
   * Submit one operation's (possibly async) result. Returns `undefined` when the caller may push
   * the next one at once: the result was emitted synchronously (a ready result with nothing
   * queued before it, which spares a synchronous engine a promise and microtask turns per chunk),
   * or it was queued with fewer than `limit` in flight. Otherwise returns a promise to await
   * before the next push: it settles once results have been emitted, in order, until fewer than
   * `limit` are in flight (or rejects with the first failed result).
   */
  push(result: R | PromiseLike<R>, meta: M): Promise<void> | undefined {
    if (this.#queue.length === 0 && !isPromiseLike(result)) {
      this.#emit(result, meta);
      return undefined;
    }
    // A rejection is handled when its turn comes; mark it handled now so an earlier failure
    // does not leave later ones reported as unhandled.
    if (isPromiseLike(result)) result.then(undefined, () => undefined);
    this.#queue.push({ result, meta });
    return this.#queue.length < this.#limit ? undefined : this.#drainBelowLimit();
  }

  async #drainBelowLimit(): Promise<void> {
    while (this.#queue.length >= this.#limit) await this.#emitOne();
  }

  /** Change the limit (a decoder learns the chunk size from the header). */
  setLimit(limit: number): void {
    this.#limit = limit;
  }

  /** Emit everything still in flight, in order. */
  async drain(): Promise<void> {
    while (this.#queue.length > 0) await this.#emitOne();
  }

  /** Number of operations in flight. */
  get size(): number {
    return this.#queue.length;
  }

  async #emitOne(): Promise<void> {
    const item = this.#queue.shift()!;
    const r = isPromiseLike(item.result) ? await item.result : item.result;
    this.#emit(r, item.meta);
  }
}
