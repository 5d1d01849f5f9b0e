/**
 * The keyring: every generation of the backup key (BK) a user has ever had, so archives made
 * under an old generation stay readable after a rotation. Spec: docs/KEYRING.md.
 *
 * - {@link encodeKeyring} / {@link decodeKeyring}: the canonical, versioned binary encoding.
 * - {@link deriveEscrowKek}: the escrow KEK from the OPAQUE `export_key` (RFC 9807 §6.4.4 notes the
 *   export key is for exactly this kind of application-level encryption), bound to the fleet and
 *   the account.
 * - {@link sealKeyring} / {@link openKeyring}: XChaCha20-Poly1305 under a KEK, with a random
 *   24-byte nonce (large enough that random nonces never collide in practice) and associated data
 *   that binds the label, the envelope version and the caller's context.
 *
 * Key bytes in a {@link Keyring} belong to it; {@link wipeKeyring} zeroes them. Functions that hand
 * a key out ({@link keyForId}) return a copy the caller wipes.
 *
 * @module
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { KEY_ID_LENGTH } from '../archive/format.js';
import { BackupError } from '../errors.js';
import * as labels from '../labels.js';
import {
  abytes,
  concatBytes,
  isBytes,
  readU16BE,
  readU64BE,
  secureRandom,
  utf8,
  wipe,
  writeU32BE,
  writeU64BE,
  type RandomSource,
  safeInt,
} from '../util/bytes.js';

/**
 * Length of a `keyId` in bytes: the archive format's constant (docs/FORMAT.md), so the keyId in an
 * archive header finds the generation that sealed it without trying every key.
 */
export { KEY_ID_LENGTH };
/** Length of a backup key in bytes (256-bit XChaCha20-Poly1305 / HKDF-SHA-256 input). */
export const BACKUP_KEY_LENGTH = 32;
/**
 * Most generations a keyring may hold. A user rotating once a day for most of a year stays under
 * it; the cap bounds the work and memory a decoder spends on attacker-supplied bytes.
 */
export const MAX_KEYRING_GENERATIONS = 256;

/** Version byte of the keyring encoding ({@link encodeKeyring}). */
export const KEYRING_ENCODING_VERSION = 1;
/** Version byte of the sealed keyring envelope ({@link sealKeyring}). */
export const SEALED_KEYRING_VERSION = 1;

const MAGIC = /* @__PURE__ */ utf8('EBKR');
const HEADER_LENGTH = 4 + 1 + 2; // magic ‖ version ‖ count
const ENTRY_LENGTH = KEY_ID_LENGTH + BACKUP_KEY_LENGTH + 8;
const MAX_ENCODED_LENGTH = HEADER_LENGTH + MAX_KEYRING_GENERATIONS * ENTRY_LENGTH;
/** @internal Shortest and longest possible {@link encodeKeyring} output, for envelope length caps. */
export const KEYRING_ENCODING_BOUNDS = Object.freeze({ min: HEADER_LENGTH + ENTRY_LENGTH, max: MAX_ENCODED_LENGTH });
const NONCE_LENGTH = 24;
const TAG_LENGTH = 16;
const SEALED_MIN = 1 + NONCE_LENGTH + HEADER_LENGTH + ENTRY_LENGTH + TAG_LENGTH;
const SEALED_MAX = 1 + NONCE_LENGTH + MAX_ENCODED_LENGTH + TAG_LENGTH;
/** Cap on caller-supplied AAD context and id strings (bytes): far above any real id. */
const MAX_CONTEXT_LENGTH = 1024;

/** One generation of the backup key. */
export interface KeyGeneration {
  /** Random, non-secret identifier written into every archive sealed under this key. */
  readonly keyId: Uint8Array;
  /** The 32-byte backup key. Secret. */
  readonly key: Uint8Array;
  /** Creation time, milliseconds since the Unix epoch (from the injected clock). */
  readonly createdAt: number;
}

/** Every backup-key generation, oldest first; the last one is current. */
export interface Keyring {
  /** Generations, oldest first, at least one, at most {@link MAX_KEYRING_GENERATIONS}. */
  readonly generations: readonly KeyGeneration[];
  /** The generation new archives are sealed under: always the last of `generations`. */
  readonly current: KeyGeneration;
}

function malformed(message: string, cause?: unknown): BackupError {
  return new BackupError('KEYRING_MALFORMED', message, cause === undefined ? {} : { cause });
}

function makeKeyring(generations: KeyGeneration[]): Keyring {
  return Object.freeze({
    generations: Object.freeze(generations),
    current: generations[generations.length - 1]!,
  });
}

function checkTime(now: number, name: string): number {
  if (!Number.isSafeInteger(now) || now < 0) {
    throw new RangeError(`${name} must return a non-negative integer number of milliseconds`);
  }
  return now;
}

function newGeneration(random: RandomSource, now: () => number, taken: readonly KeyGeneration[]): KeyGeneration {
  const createdAt = checkTime(now(), 'now');
  for (let attempt = 0; ; attempt++) {
    const keyId = Uint8Array.from(abytes(random(KEY_ID_LENGTH), 'random(16)', KEY_ID_LENGTH));
    // A repeat has probability 2^-128 per pair with a real RNG: retrying only matters for a broken
    // injected source, and a source that keeps repeating itself is refused.
    if (taken.some((g) => sameId(g.keyId, keyId))) {
      if (attempt >= 3) throw new RangeError('random returned a repeated keyId: not a random source');
      continue;
    }
    const raw = abytes(random(BACKUP_KEY_LENGTH), 'random(32)', BACKUP_KEY_LENGTH);
    const key = Uint8Array.from(raw);
    wipe(raw);
    return Object.freeze({ keyId, key, createdAt });
  }
}

function sameId(a: Uint8Array, b: Uint8Array): boolean {
  // keyIds are public: an early-exit comparison leaks nothing.
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function copyGeneration(g: KeyGeneration): KeyGeneration {
  return Object.freeze({ keyId: Uint8Array.from(g.keyId), key: Uint8Array.from(g.key), createdAt: g.createdAt });
}

/** Check the shape of a caller-built keyring (TypeError / RangeError: misuse, not an outcome). */
function assertKeyring(keyring: unknown, name = 'keyring'): asserts keyring is Keyring {
  if (typeof keyring !== 'object' || keyring === null) throw new TypeError(`${name} must be a Keyring`);
  const gens = (keyring as { generations?: unknown }).generations;
  if (!Array.isArray(gens)) throw new TypeError(`${name}.generations must be an array`);
  if (gens.length < 1 || gens.length > MAX_KEYRING_GENERATIONS) {
    throw new RangeError(`${name}.generations must hold 1 to ${MAX_KEYRING_GENERATIONS} generations`);
  }
  gens.forEach((g: unknown, i) => {
    if (typeof g !== 'object' || g === null) throw new TypeError(`${name}.generations[${i}] must be a KeyGeneration`);
    const { keyId, key, createdAt } = g as Partial<KeyGeneration>;
    abytes(keyId, `${name}.generations[${i}].keyId`, KEY_ID_LENGTH);
    abytes(key, `${name}.generations[${i}].key`, BACKUP_KEY_LENGTH);
    safeInt(createdAt, `${name}.generations[${i}].createdAt`);
    for (let j = 0; j < i; j++) {
      if (sameId((gens[j] as KeyGeneration).keyId, keyId!)) {
        throw new RangeError(`${name}.generations[${i}].keyId duplicates generation ${j}`);
      }
    }
  });
  const current = (keyring as { current?: unknown }).current as Partial<KeyGeneration> | undefined;
  if (typeof current !== 'object' || current === null || !isBytes(current.keyId) || !sameId(current.keyId, (gens[gens.length - 1] as KeyGeneration).keyId)) {
    throw new RangeError(`${name}.current must be the last generation`);
  }
}

/**
 * A new keyring with one fresh generation: a random 32-byte backup key and a random 16-byte keyId.
 *
 * @param random - Source of randomness (WebCrypto by default).
 * @param now - Clock, in milliseconds since the Unix epoch (`Date.now` by default).
 *
 * @example
 * ```ts
 * const keyring = createKeyring();
 * const { keyId, key } = keyring.current; // seal the next archive under these
 * ```
 */
export function createKeyring(random: RandomSource = secureRandom, now: () => number = Date.now): Keyring {
  if (typeof random !== 'function') throw new TypeError('random must be a function');
  if (typeof now !== 'function') throw new TypeError('now must be a function');
  return makeKeyring([newGeneration(random, now, [])]);
}

/**
 * A new keyring holding copies of every generation of `keyring` plus a fresh current one. The input
 * is left untouched; wipe it with {@link wipeKeyring} once the new keyring is sealed and stored.
 *
 * @throws RangeError when `keyring` already holds {@link MAX_KEYRING_GENERATIONS} generations.
 *
 * @example
 * ```ts
 * const next = rotateKeyring(keyring);
 * await storeEscrow(sealKeyring(next, kek, context)); // only then:
 * wipeKeyring(keyring);
 * ```
 */
export function rotateKeyring(
  keyring: Keyring,
  random: RandomSource = secureRandom,
  now: () => number = Date.now,
): Keyring {
  assertKeyring(keyring);
  if (typeof random !== 'function') throw new TypeError('random must be a function');
  if (typeof now !== 'function') throw new TypeError('now must be a function');
  if (keyring.generations.length >= MAX_KEYRING_GENERATIONS) {
    throw new RangeError(`keyring already holds the maximum of ${MAX_KEYRING_GENERATIONS} generations`);
  }
  const gens = keyring.generations.map(copyGeneration);
  gens.push(newGeneration(random, now, gens));
  return makeKeyring(gens);
}

/**
 * A copy of the backup key whose `keyId` is `keyId` (the one in an archive header), or `undefined`
 * when the keyring has no such generation. The caller wipes the copy after use.
 *
 * @example
 * ```ts
 * const key = keyForId(keyring, header.keyId);
 * if (key === undefined) throw new BackupError('ARCHIVE_KEY_UNKNOWN', 'no key for this archive');
 * try { decrypt(key); } finally { key.fill(0); }
 * ```
 */
export function keyForId(keyring: Keyring, keyId: Uint8Array): Uint8Array | undefined {
  assertKeyring(keyring);
  abytes(keyId, 'keyId', KEY_ID_LENGTH);
  const g = keyring.generations.find((x) => sameId(x.keyId, keyId));
  return g === undefined ? undefined : Uint8Array.from(g.key);
}

/**
 * A deep copy of `keyring` (fresh key bytes), for one operation to use and wipe when it ends, so
 * that wiping the original meanwhile (`close()`, a new unlock) cannot change the key under it.
 *
 * @example
 * ```ts
 * const mine = copyKeyring(keyring);
 * try { await backup(mine.current); } finally { wipeKeyring(mine); }
 * ```
 */
export function copyKeyring(keyring: Keyring): Keyring {
  assertKeyring(keyring);
  return makeKeyring(keyring.generations.map(copyGeneration));
}

/**
 * Refuse an all-zero key: what {@link wipeKeyring} leaves behind. Called where a key enters
 * encryption or sealing (archives, manifests, upload sessions, keyring encodings), so a key wiped
 * while an operation still held it fails loudly instead of encrypting under a key anyone knows.
 * A random 32-byte key is all zero with probability 2^-256. The scan always reads every byte.
 *
 * @example
 * ```ts
 * assertLiveKey(bk, 'backupKey'); // BackupError INVALID_ARGUMENT when bk was wiped
 * ```
 */
export function assertLiveKey(key: Uint8Array, name: string): void {
  abytes(key, name);
  let acc = 0;
  for (let i = 0; i < key.length; i++) acc |= key[i]!;
  if (key.length === 0 || acc === 0) {
    throw new BackupError('INVALID_ARGUMENT', `${name} is all zero: a wiped key is never used`);
  }
}

/**
 * Zero every backup key in the keyring (keyIds and times are public and stay).
 *
 * @example
 * ```ts
 * try { await backup(keyring.current); } finally { wipeKeyring(keyring); }
 * ```
 */
export function wipeKeyring(keyring: Keyring): void {
  if (typeof keyring !== 'object' || keyring === null || !Array.isArray(keyring.generations)) {
    throw new TypeError('keyring must be a Keyring');
  }
  for (const g of keyring.generations) if (isBytes(g.key)) wipe(g.key);
}

/**
 * The canonical encoding (docs/KEYRING.md §Encoding):
 * `"EBKR" ‖ version(1) = 0x01 ‖ count(u16 BE) ‖ count × (keyId(16) ‖ key(32) ‖ createdAt(u64 BE))`,
 * oldest generation first; the last one is current. The result holds key bytes: wipe it.
 *
 * @example
 * ```ts
 * const bytes = encodeKeyring(keyring);
 * try { send(seal(bytes)); } finally { bytes.fill(0); }
 * ```
 */
export function encodeKeyring(keyring: Keyring): Uint8Array {
  assertKeyring(keyring);
  // A wiped keyring must never be sealed (escrow, device cache, self-custody): it would put the
  // user's backups under a key anyone knows.
  keyring.generations.forEach((g, i) => assertLiveKey(g.key, `keyring.generations[${i}].key`));
  const n = keyring.generations.length;
  const out = new Uint8Array(HEADER_LENGTH + n * ENTRY_LENGTH);
  out.set(MAGIC, 0);
  out[4] = KEYRING_ENCODING_VERSION;
  out[5] = n >>> 8;
  out[6] = n & 0xff;
  let off = HEADER_LENGTH;
  for (const g of keyring.generations) {
    out.set(g.keyId, off);
    out.set(g.key, off + KEY_ID_LENGTH);
    writeU64BE(out, off + KEY_ID_LENGTH + BACKUP_KEY_LENGTH, g.createdAt);
    off += ENTRY_LENGTH;
  }
  return out;
}

/**
 * Parse the canonical encoding. Strict: exactly one encoding per keyring is accepted (right magic
 * and version, 1 ≤ count ≤ {@link MAX_KEYRING_GENERATIONS}, exact length, distinct keyIds, times
 * ≤ 2^53 − 1), anything else is `KEYRING_MALFORMED`. The result owns fresh copies of the bytes; the
 * caller may wipe `bytes`.
 *
 * @example
 * ```ts
 * const keyring = decodeKeyring(bytes);
 * bytes.fill(0);
 * ```
 */
export function decodeKeyring(bytes: Uint8Array): Keyring {
  abytes(bytes, 'bytes');
  if (bytes.length < HEADER_LENGTH || bytes.length > MAX_ENCODED_LENGTH) {
    throw malformed('keyring encoding has an impossible length');
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw malformed('not a keyring encoding (bad magic)');
  }
  if (bytes[4] !== KEYRING_ENCODING_VERSION) throw malformed('unsupported keyring encoding version');
  const n = readU16BE(bytes, 5);
  if (n < 1 || n > MAX_KEYRING_GENERATIONS) throw malformed('keyring generation count out of range');
  if (bytes.length !== HEADER_LENGTH + n * ENTRY_LENGTH) throw malformed('keyring encoding length does not match its count');
  const gens: KeyGeneration[] = [];
  let off = HEADER_LENGTH;
  for (let i = 0; i < n; i++) {
    const keyId = bytes.slice(off, off + KEY_ID_LENGTH);
    if (gens.some((g) => sameId(g.keyId, keyId))) {
      for (const g of gens) wipe(g.key);
      throw malformed('keyring holds a duplicate keyId');
    }
    let createdAt: number;
    try {
      createdAt = readU64BE(bytes, off + KEY_ID_LENGTH + BACKUP_KEY_LENGTH);
    } catch (e) {
      for (const g of gens) wipe(g.key);
      throw malformed('keyring generation time out of range', e);
    }
    const key = bytes.slice(off + KEY_ID_LENGTH, off + KEY_ID_LENGTH + BACKUP_KEY_LENGTH);
    gens.push(Object.freeze({ keyId, key, createdAt }));
    off += ENTRY_LENGTH;
  }
  return makeKeyring(gens);
}

/** @internal `u32 BE length ‖ bytes` per part: the unambiguous concatenation used in every info and AAD here. */
export function lengthPrefixed(...parts: Uint8Array[]): Uint8Array {
  const out: Uint8Array[] = [];
  for (const p of parts) {
    const len = new Uint8Array(4);
    writeU32BE(len, 0, p.length);
    out.push(len, p);
  }
  return concatBytes(...out);
}

/** @internal UTF-8 bytes of an identifier, checked (TypeError / RangeError naming the argument). */
export function idBytes(value: unknown, name: string): Uint8Array {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
  // A lone surrogate would be encoded as U+FFFD and collide with other ids.
  if (value.length === 0 || /\p{Cs}/u.test(value)) {
    throw new RangeError(`${name} must be a non-empty, well-formed Unicode string`);
  }
  const b = utf8(value);
  if (b.length > MAX_CONTEXT_LENGTH) throw new RangeError(`${name} must be at most ${MAX_CONTEXT_LENGTH} UTF-8 bytes`);
  return b;
}

/**
 * The escrow key-encryption key: HKDF-SHA-256 (RFC 5869) with IKM = the OPAQUE `export_key`, an
 * empty salt (so HashLen zeros, RFC 5869 §2.2), L = 32 and
 * `info = lp(labels.escrowKek) ‖ lp(fleetId) ‖ lp(accountId)` where `lp(x)` = u32 BE byte length ‖
 * UTF-8 bytes: length prefixes make the binding unambiguous (`("ab","c")` ≠ `("a","bc")`).
 * The ids are used exactly as given (no Unicode normalization). The caller wipes the result.
 *
 * @param exportKey - OPAQUE export key, 32 to 64 bytes (Nh of the suite's hash).
 *
 * @example
 * ```ts
 * const kek = deriveEscrowKek(exportKey, 'fleet-eu-1', accountId);
 * try { escrow = sealKeyring(keyring, kek, context); } finally { kek.fill(0); exportKey.fill(0); }
 * ```
 */
export function deriveEscrowKek(exportKey: Uint8Array, fleetId: string, accountId: string): Uint8Array {
  abytes(exportKey, 'exportKey');
  if (exportKey.length < 32 || exportKey.length > 64) {
    throw new RangeError(`exportKey must be 32 to 64 bytes, got ${exportKey.length}`);
  }
  const info = lengthPrefixed(utf8(labels.escrowKek), idBytes(fleetId, 'fleetId'), idBytes(accountId, 'accountId'));
  return hkdf(sha256, exportKey, undefined, info, 32);
}

function keyringAad(aadContext: Uint8Array): Uint8Array {
  return concatBytes(
    lengthPrefixed(utf8(labels.keyringAad)),
    Uint8Array.of(SEALED_KEYRING_VERSION),
    lengthPrefixed(aadContext),
  );
}

function checkContext(aadContext: Uint8Array): void {
  abytes(aadContext, 'aadContext');
  if (aadContext.length > MAX_CONTEXT_LENGTH) {
    throw new RangeError(`aadContext must be at most ${MAX_CONTEXT_LENGTH} bytes`);
  }
}

/**
 * Seal the keyring under a 32-byte KEK (docs/KEYRING.md §Sealed keyring):
 * `version(1) = 0x01 ‖ nonce(24) ‖ XChaCha20-Poly1305(kek, nonce, aad, encodeKeyring(keyring))`
 * with `aad = lp(labels.keyringAad) ‖ 0x01 ‖ lp(aadContext)`. The nonce is fresh from `random`
 * on every call, so sealing twice never reuses one. The output holds no secret in the clear.
 *
 * @param aadContext - What this envelope is for (the caller's binding, e.g. fleet and account).
 *
 * @example
 * ```ts
 * const sealed = sealKeyring(keyring, kek, new TextEncoder().encode(`${fleetId}/${accountId}`));
 * ```
 */
export function sealKeyring(
  keyring: Keyring,
  kek: Uint8Array,
  aadContext: Uint8Array,
  random: RandomSource = secureRandom,
): Uint8Array {
  assertKeyring(keyring);
  abytes(kek, 'kek', 32);
  checkContext(aadContext);
  if (typeof random !== 'function') throw new TypeError('random must be a function');
  const nonce = Uint8Array.from(abytes(random(NONCE_LENGTH), 'random(24)', NONCE_LENGTH));
  const plaintext = encodeKeyring(keyring);
  try {
    const ct = xchacha20poly1305(kek, nonce, keyringAad(aadContext)).encrypt(plaintext);
    return concatBytes(Uint8Array.of(SEALED_KEYRING_VERSION), nonce, ct);
  } finally {
    wipe(plaintext);
  }
}

/**
 * Open a keyring sealed by {@link sealKeyring}. A wrong KEK, a wrong `aadContext` or any changed
 * byte gives `KEYRING_AUTH_FAILED` (one message for all, so they cannot be told apart); a length
 * or version no sealed keyring can have gives `KEYRING_MALFORMED` before any decryption.
 *
 * @example
 * ```ts
 * const keyring = openKeyring(sealed, kek, new TextEncoder().encode(`${fleetId}/${accountId}`));
 * ```
 */
export function openKeyring(sealed: Uint8Array, kek: Uint8Array, aadContext: Uint8Array): Keyring {
  abytes(sealed, 'sealed');
  abytes(kek, 'kek', 32);
  checkContext(aadContext);
  if (sealed.length < SEALED_MIN || sealed.length > SEALED_MAX) {
    throw malformed('sealed keyring has an impossible length');
  }
  if (sealed[0] !== SEALED_KEYRING_VERSION) throw malformed('unsupported sealed keyring version');
  const nonce = sealed.subarray(1, 1 + NONCE_LENGTH);
  let plaintext: Uint8Array;
  try {
    plaintext = xchacha20poly1305(kek, nonce, keyringAad(aadContext)).decrypt(sealed.subarray(1 + NONCE_LENGTH));
  } catch (e) {
    throw new BackupError('KEYRING_AUTH_FAILED', 'the sealed keyring failed authentication: wrong key, or it was modified', {
      cause: e,
    });
  }
  try {
    return decodeKeyring(plaintext);
  } finally {
    wipe(plaintext);
  }
}
