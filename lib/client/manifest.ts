/**
 * Backup manifests and the latest pointer (docs/CLIENT.md §Manifest format).
 *
 * A manifest is the encrypted, authenticated description of one backup: which archive object holds
 * it, its sizes, chunk count, the `keyId` and salt of the archive header, when it was made, and the
 * app's own metadata. Blob storage sees only the envelope (magic, version, kind, keyId, nonce) and
 * ciphertext. The latest pointer is a second, tiny sealed object naming the newest backup, so a
 * restore needs no listing.
 *
 * Both are sealed with XChaCha20-Poly1305 under `HKDF-SHA-256(BK, "", labels.manifestKey)`
 * (RFC 5869; an empty salt means HashLen zero bytes, §2.2), with the envelope header, the accountId
 * and the object's name bound in the associated data, so storage cannot move a manifest to another
 * name or account without the tag failing.
 *
 * @module
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { BackupError, archiveAuthFailed } from '../errors.js';
import * as labels from '../labels.js';
import { assertLiveKey } from '../recovery/keyring.js';
import {
  abytes,
  concatBytes,
  fromUtf8,
  readU32BE,
  readU64BE,
  secureRandom,
  toHex as hex,
  utf8,
  wipe,
  writeU32BE,
  writeU64BE,
  type RandomSource,
  safeInt,
} from '../util/bytes.js';

/** Magic bytes of a sealed manifest or latest pointer: ASCII `E2BM`. */
export const MANIFEST_MAGIC: Uint8Array = /* @__PURE__ */ Uint8Array.of(0x45, 0x32, 0x42, 0x4d);
/** The manifest format version this SDK writes and reads. */
export const MANIFEST_VERSION = 1;
/** Length of a backup id in bytes (shown as 32 lowercase hex digits in object names). */
export const BACKUP_ID_LENGTH = 16;
/**
 * Length of a keyring `keyId`. Equal to the archive format's `KEY_ID_LENGTH` (docs/FORMAT.md);
 * the manifest carries the archive header's keyId, so the two must agree.
 */
export const MANIFEST_KEY_ID_LENGTH = 16;
/** Cap on the app metadata carried in a manifest (UTF-8 JSON bytes). */
export const MAX_MANIFEST_METADATA = 64 * 1024;
/** Cap on the accountId bound into the associated data (UTF-8 bytes). */
export const MAX_ACCOUNT_ID_LENGTH = 1024;

const NONCE_LENGTH = 24;
const TAG_LENGTH = 16;
/** magic 4 ‖ version 1 ‖ kind 1 ‖ keyId 16 ‖ nonce 24 */
const ENVELOPE_HEADER_LENGTH = 4 + 1 + 1 + MANIFEST_KEY_ID_LENGTH + NONCE_LENGTH;
/** Fixed part of a manifest body before the metadata bytes. */
const MANIFEST_FIXED_LENGTH = 16 + 8 + 16 + 32 + 8 + 8 + 4 + 8 + 4;
const LATEST_BODY_LENGTH = 16 + 8;
/** A latest pointer with its sequence number (docs/CLIENT.md §Rollback). */
const LATEST_BODY_LENGTH_SEQ = 16 + 8 + 8;
/** Largest envelope we will even try to open: the biggest legal manifest plus the tag. */
export const MAX_MANIFEST_SIZE = ENVELOPE_HEADER_LENGTH + MANIFEST_FIXED_LENGTH + MAX_MANIFEST_METADATA + TAG_LENGTH;
/** Largest archive chunk size a manifest may name (the archive format's own cap is lower or equal). */
const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

/** Envelope kinds. */
const KIND_MANIFEST = 1;
const KIND_LATEST = 2;
/** The keyring marker (docs/CLIENT.md §Device cache check). Kinds 3.. of incremental backups are theirs (incremental/format.ts). */
const KIND_KEYRING_MARKER = 0x10;

/** Object name of the keyring marker inside the account's key prefix. */
export const KEYRING_MARKER_NAME = 'keyring';

/** What the keyring marker says: the account's current backup-key generation. */
export interface KeyringMarker {
  /** keyId of the current generation (the envelope is sealed under that generation too). */
  readonly currentKeyId: Uint8Array;
  /** Its createdAt. */
  readonly createdAt: number;
}

/**
 * Seal the keyring marker: written by `enable()` and by every unlock with the recovery code (the
 * vault's keyring is the account's current one), under the current generation.
 *
 * @example
 * ```ts
 * await store.put(prefix + KEYRING_MARKER_NAME, sealKeyringMarker({ currentKeyId: g.keyId, createdAt: g.createdAt }, { key: g.key, keyId: g.keyId, accountId }));
 * ```
 */
export function sealKeyringMarker(m: KeyringMarker, opts: SealOptions): Uint8Array {
  abytes(m.currentKeyId, 'marker.currentKeyId', MANIFEST_KEY_ID_LENGTH);
  checkSize(m.createdAt, 'marker.createdAt');
  const body = new Uint8Array(MANIFEST_KEY_ID_LENGTH + 8);
  body.set(m.currentKeyId, 0);
  writeU64BE(body, MANIFEST_KEY_ID_LENGTH, m.createdAt);
  return seal(KIND_KEYRING_MARKER, body, KEYRING_MARKER_NAME, opts);
}

/**
 * Open the keyring marker (`ARCHIVE_KEY_UNKNOWN` when the keyring lacks its generation,
 * `ARCHIVE_AUTH_FAILED` when it does not authenticate).
 *
 * @example
 * ```ts
 * const { currentKeyId } = openKeyringMarker(bytes, { keyLookup, accountId });
 * ```
 */
export function openKeyringMarker(sealed: Uint8Array, opts: OpenOptions): KeyringMarker {
  const body = open(KIND_KEYRING_MARKER, sealed, KEYRING_MARKER_NAME, opts);
  if (body.length !== MANIFEST_KEY_ID_LENGTH + 8) throw malformed('keyring marker has the wrong length');
  return { currentKeyId: body.slice(0, MANIFEST_KEY_ID_LENGTH), createdAt: readU64Checked(body, MANIFEST_KEY_ID_LENGTH) };
}

/** A JSON value, as the app metadata of a backup is stored. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** App metadata attached to a backup: any JSON object, at most {@link MAX_MANIFEST_METADATA} bytes encoded. */
export type BackupMetadata = { readonly [key: string]: JsonValue };

/** The decrypted description of one backup. */
export interface BackupManifest {
  /** Random 16-byte id; the archive and manifest object names derive from it. */
  readonly backupId: Uint8Array;
  /** When the backup was made, milliseconds since the Unix epoch (device clock). */
  readonly createdAt: number;
  /** keyId of the archive header: which backup-key generation encrypted the archive. */
  readonly keyId: Uint8Array;
  /** The 32-byte salt of the archive header; a restore checks the header against it. */
  readonly archiveSalt: Uint8Array;
  /** Size of the archive object in bytes (ciphertext, header included). */
  readonly archiveSize: number;
  /** Size of the plaintext in bytes. */
  readonly plaintextSize: number;
  /** Archive chunk size in bytes. */
  readonly chunkSize: number;
  /** Number of archive chunks (an empty plaintext is one empty final chunk). */
  readonly chunkCount: number;
  /** The app's metadata (a JSON object; `{}` when none). */
  readonly metadata: BackupMetadata;
}

/** The decrypted latest pointer. */
export interface LatestPointer {
  /** The newest backup's id. */
  readonly backupId: Uint8Array;
  /** Its `createdAt`. */
  readonly createdAt: number;
  /**
   * Sequence number (docs/CLIENT.md §Rollback): one more than the highest this device had seen
   * when the backup started; 0 (or absent) for a pointer written without one.
   */
  readonly seq?: number;
}

/** A key lookup for opening: the 32-byte backup key of a keyId, or `undefined` when unknown. */
export type BackupKeyLookup = (keyId: Uint8Array) => Uint8Array | undefined;

/** Options for sealing a manifest or pointer. */
export interface SealOptions {
  /** The backup key (BK) of the generation `keyId`; not retained. */
  readonly key: Uint8Array;
  /** The generation's keyId (16 bytes). */
  readonly keyId: Uint8Array;
  /** The account the backup belongs to; bound into the associated data. */
  readonly accountId: string;
  /** Randomness for the nonce; `secureRandom` by default. */
  readonly random?: RandomSource;
}

/** Options for opening a manifest or pointer. */
export interface OpenOptions {
  /** Resolves the backup key of the envelope's keyId. */
  readonly keyLookup: BackupKeyLookup;
  /** The account the backup should belong to. */
  readonly accountId: string;
}

function malformed(what: string, limit?: number): BackupError {
  return new BackupError('PROTOCOL', `malformed backup manifest: ${what}`, limit === undefined ? {} : { limit });
}

/**
 * The manifest key: HKDF-SHA-256 (RFC 5869) with IKM = BK, an empty salt and
 * info = `labels.manifestKey`, 32 bytes. The caller wipes it.
 *
 * @example
 * ```ts
 * const mk = deriveManifestKey(bk);
 * mk.fill(0); // when done
 * ```
 */
export function deriveManifestKey(backupKey: Uint8Array): Uint8Array {
  abytes(backupKey, 'backupKey', 32);
  return hkdf(sha256, backupKey, undefined, utf8(labels.manifestKey), 32);
}

/**
 * Object name of a backup's manifest inside the account's key prefix.
 *
 * @example
 * ```ts
 * manifestName(backupId); // "manifests/0a1b…"
 * ```
 */
export function manifestName(backupId: Uint8Array): string {
  return `manifests/${hex(abytes(backupId, 'backupId', BACKUP_ID_LENGTH))}`;
}

/**
 * Object name of a backup's archive inside the account's key prefix.
 *
 * @example
 * ```ts
 * archiveName(backupId); // "archives/0a1b…"
 * ```
 */
export function archiveName(backupId: Uint8Array): string {
  return `archives/${hex(abytes(backupId, 'backupId', BACKUP_ID_LENGTH))}`;
}

/** Object name of the latest pointer inside the account's key prefix. */
export const LATEST_NAME = 'latest';

function lengthPrefixed(s: string, name: string, max: number): Uint8Array {
  const b = utf8(s);
  if (b.length === 0 || b.length > max) throw new RangeError(`${name} must be 1..${max} UTF-8 bytes`);
  const out = new Uint8Array(2 + b.length);
  out[0] = b.length >>> 8;
  out[1] = b.length & 0xff;
  out.set(b, 2);
  return out;
}

/** AAD = envelope header ‖ lp16(accountId) ‖ lp16(object name). */
function aadFor(header: Uint8Array, accountId: string, objectName: string): Uint8Array {
  return concatBytes(
    header,
    lengthPrefixed(accountId, 'accountId', MAX_ACCOUNT_ID_LENGTH),
    lengthPrefixed(objectName, 'objectName', 256),
  );
}

function seal(kind: number, body: Uint8Array, objectName: string, opts: SealOptions): Uint8Array {
  abytes(opts.keyId, 'keyId', MANIFEST_KEY_ID_LENGTH);
  const nonce = abytes((opts.random ?? secureRandom)(NONCE_LENGTH), 'random()', NONCE_LENGTH);
  const header = new Uint8Array(ENVELOPE_HEADER_LENGTH);
  header.set(MANIFEST_MAGIC, 0);
  header[4] = MANIFEST_VERSION;
  header[5] = kind;
  header.set(opts.keyId, 6);
  header.set(nonce, 6 + MANIFEST_KEY_ID_LENGTH);
  assertLiveKey(opts.key, 'key');
  const mk = deriveManifestKey(opts.key);
  try {
    const ct = xchacha20poly1305(mk, nonce, aadFor(header, opts.accountId, objectName)).encrypt(body);
    return concatBytes(header, ct);
  } finally {
    wipe(mk);
  }
}

function open(kind: number, sealed: Uint8Array, objectName: string, opts: OpenOptions): Uint8Array {
  abytes(sealed, 'sealed');
  if (sealed.length < ENVELOPE_HEADER_LENGTH + TAG_LENGTH) throw malformed('too short');
  if (sealed.length > MAX_MANIFEST_SIZE) throw malformed('over the size limit', MAX_MANIFEST_SIZE);
  for (let i = 0; i < 4; i++) {
    if (sealed[i] !== MANIFEST_MAGIC[i]) {
      throw new BackupError('ARCHIVE_NOT_RECOGNIZED', 'not an e2ee-backup manifest (bad magic)');
    }
  }
  if (sealed[4] !== MANIFEST_VERSION) {
    throw new BackupError('ARCHIVE_UNSUPPORTED_VERSION', `unsupported manifest version ${sealed[4]}`);
  }
  if (sealed[5] !== kind) throw malformed('unexpected object kind');
  const header = sealed.subarray(0, ENVELOPE_HEADER_LENGTH);
  const keyId = sealed.slice(6, 6 + MANIFEST_KEY_ID_LENGTH);
  const nonce = sealed.subarray(6 + MANIFEST_KEY_ID_LENGTH, ENVELOPE_HEADER_LENGTH);
  const bk = opts.keyLookup(keyId);
  if (bk === undefined) {
    throw new BackupError('ARCHIVE_KEY_UNKNOWN', 'the manifest was sealed under a key that is not in the keyring');
  }
  const mk = deriveManifestKey(bk);
  try {
    return xchacha20poly1305(mk, nonce, aadFor(header, opts.accountId, objectName)).decrypt(
      sealed.subarray(ENVELOPE_HEADER_LENGTH),
    );
  } catch {
    // Every authentication failure looks the same (errors.ts): wrong key, flipped bit, moved object.
    throw archiveAuthFailed();
  } finally {
    wipe(mk);
  }
}

function checkSize(n: number, name: string): void {
  safeInt(n, name);
}

/** Chunks an archive of `plaintextSize` bytes has: an empty plaintext is one empty final chunk. */
export function chunkCountFor(plaintextSize: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(plaintextSize / chunkSize));
}

/**
 * Encode a manifest body (docs/CLIENT.md §Manifest body). Exposed for vectors and tools; most
 * callers want {@link sealManifest}.
 *
 * @example
 * ```ts
 * const body = encodeManifestBody(manifest);
 * ```
 */
export function encodeManifestBody(m: BackupManifest): Uint8Array {
  abytes(m.backupId, 'manifest.backupId', BACKUP_ID_LENGTH);
  abytes(m.keyId, 'manifest.keyId', MANIFEST_KEY_ID_LENGTH);
  abytes(m.archiveSalt, 'manifest.archiveSalt', 32);
  checkSize(m.createdAt, 'manifest.createdAt');
  checkSize(m.archiveSize, 'manifest.archiveSize');
  checkSize(m.plaintextSize, 'manifest.plaintextSize');
  checkSize(m.chunkCount, 'manifest.chunkCount');
  if (!Number.isInteger(m.chunkSize) || m.chunkSize < 1 || m.chunkSize > MAX_CHUNK_SIZE) {
    throw new RangeError(`manifest.chunkSize must be 1..${MAX_CHUNK_SIZE}`);
  }
  if (m.chunkCount !== chunkCountFor(m.plaintextSize, m.chunkSize)) {
    throw new RangeError('manifest.chunkCount does not match plaintextSize and chunkSize');
  }
  const meta = encodeMetadata(m.metadata);
  const out = new Uint8Array(MANIFEST_FIXED_LENGTH + meta.length);
  let o = 0;
  out.set(m.backupId, o);
  o += 16;
  writeU64BE(out, o, m.createdAt);
  o += 8;
  out.set(m.keyId, o);
  o += 16;
  out.set(m.archiveSalt, o);
  o += 32;
  writeU64BE(out, o, m.archiveSize);
  o += 8;
  writeU64BE(out, o, m.plaintextSize);
  o += 8;
  writeU32BE(out, o, m.chunkSize);
  o += 4;
  writeU64BE(out, o, m.chunkCount);
  o += 8;
  writeU32BE(out, o, meta.length);
  o += 4;
  out.set(meta, o);
  return out;
}

/**
 * Encode app metadata as UTF-8 JSON; TypeError when it is not a plain JSON object, RangeError
 * over {@link MAX_MANIFEST_METADATA} bytes.
 */
function encodeMetadata(metadata: BackupMetadata | undefined): Uint8Array {
  const value = metadata ?? {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('metadata must be a JSON object');
  }
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (e) {
    throw new TypeError('metadata must be JSON-serialisable', { cause: e });
  }
  const bytes = utf8(json);
  if (bytes.length > MAX_MANIFEST_METADATA) {
    throw new RangeError(`metadata must encode to at most ${MAX_MANIFEST_METADATA} bytes`);
  }
  return bytes;
}

/**
 * Decode a manifest body; every length and count is capped and cross-checked, failures are
 * `PROTOCOL` errors with the limit in `details`.
 *
 * @example
 * ```ts
 * const manifest = decodeManifestBody(body);
 * ```
 */
export function decodeManifestBody(body: Uint8Array): BackupManifest {
  abytes(body, 'body');
  if (body.length < MANIFEST_FIXED_LENGTH) throw malformed('body too short');
  let o = 0;
  const backupId = body.slice(o, (o += 16));
  const createdAt = readU64Checked(body, o);
  o += 8;
  const keyId = body.slice(o, (o += 16));
  const archiveSalt = body.slice(o, (o += 32));
  const archiveSize = readU64Checked(body, o);
  o += 8;
  const plaintextSize = readU64Checked(body, o);
  o += 8;
  const chunkSize = readU32BE(body, o);
  o += 4;
  const chunkCount = readU64Checked(body, o);
  o += 8;
  const metaLength = readU32BE(body, o);
  o += 4;
  if (chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) throw malformed('chunk size out of range', MAX_CHUNK_SIZE);
  if (metaLength > MAX_MANIFEST_METADATA) throw malformed('metadata over the limit', MAX_MANIFEST_METADATA);
  if (body.length !== o + metaLength) throw malformed('body length does not match the metadata length');
  if (chunkCount !== chunkCountFor(plaintextSize, chunkSize)) throw malformed('chunk count inconsistent');
  // Every chunk adds a 16-byte tag, so the archive is strictly larger than plaintext + tags.
  if (archiveSize < plaintextSize + chunkCount * TAG_LENGTH) throw malformed('archive size inconsistent');
  let metadata: BackupMetadata;
  try {
    const parsed: unknown = JSON.parse(fromUtf8(body.subarray(o)));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError('not an object');
    metadata = parsed as BackupMetadata;
  } catch (e) {
    throw new BackupError('PROTOCOL', 'malformed backup manifest: metadata is not a JSON object', { cause: e });
  }
  return { backupId, createdAt, keyId, archiveSalt, archiveSize, plaintextSize, chunkSize, chunkCount, metadata };
}

function readU64Checked(b: Uint8Array, o: number): number {
  try {
    return readU64BE(b, o);
  } catch {
    throw malformed('integer above 2^53 - 1', Number.MAX_SAFE_INTEGER);
  }
}

/**
 * Seal a manifest for storage under `manifests/<hex backupId>` in the account's key prefix (the
 * name is bound into the seal, so the bytes only open under that name).
 *
 * @example
 * ```ts
 * const bytes = sealManifest(manifest, { key: bk, keyId, accountId: 'alice' });
 * await blobStore.put(`${prefix}manifests/${backupIdHex}`, bytes);
 * ```
 */
export function sealManifest(manifest: BackupManifest, opts: SealOptions): Uint8Array {
  return seal(KIND_MANIFEST, encodeManifestBody(manifest), manifestName(manifest.backupId), opts);
}

/**
 * Open and parse a sealed manifest fetched from `manifests/<hex backupId>`. Fails with
 * `ARCHIVE_AUTH_FAILED` when the tag does not verify (including a manifest moved from another
 * name or account), and checks that the body names the same backup.
 *
 * @example
 * ```ts
 * const m = openManifest(bytes, backupId, { keyLookup: (id) => keyForId(keyring, id), accountId: 'alice' });
 * ```
 */
export function openManifest(sealed: Uint8Array, backupId: Uint8Array, opts: OpenOptions): BackupManifest {
  const body = open(KIND_MANIFEST, sealed, manifestName(backupId), opts);
  const m = decodeManifestBody(body);
  // The name is in the AAD already; this guards against a sealer that wrote a mismatched body.
  if (hex(m.backupId) !== hex(backupId)) throw malformed('backup id does not match the object name');
  return m;
}

/**
 * Seal the latest pointer (stored under `latest` in the account's key prefix).
 *
 * @example
 * ```ts
 * await blobStore.put(`${prefix}latest`, sealLatest({ backupId, createdAt }, { key: bk, keyId, accountId }));
 * ```
 */
export function sealLatest(pointer: LatestPointer, opts: SealOptions): Uint8Array {
  abytes(pointer.backupId, 'pointer.backupId', BACKUP_ID_LENGTH);
  checkSize(pointer.createdAt, 'pointer.createdAt');
  const seq = pointer.seq ?? 0;
  checkSize(seq, 'pointer.seq');
  // Without a sequence the 24-byte body of the first version (vector-compatible); with one, 32.
  const body = new Uint8Array(seq === 0 ? LATEST_BODY_LENGTH : LATEST_BODY_LENGTH_SEQ);
  body.set(pointer.backupId, 0);
  writeU64BE(body, 16, pointer.createdAt);
  if (seq !== 0) writeU64BE(body, 24, seq);
  return seal(KIND_LATEST, body, LATEST_NAME, opts);
}

/**
 * Open the latest pointer.
 *
 * @example
 * ```ts
 * const { backupId } = openLatest(bytes, { keyLookup, accountId: 'alice' });
 * ```
 */
export function openLatest(sealed: Uint8Array, opts: OpenOptions): LatestPointer {
  const body = open(KIND_LATEST, sealed, LATEST_NAME, opts);
  if (body.length !== LATEST_BODY_LENGTH && body.length !== LATEST_BODY_LENGTH_SEQ) throw malformed('latest pointer has the wrong length');
  const seq = body.length === LATEST_BODY_LENGTH_SEQ ? readU64Checked(body, 24) : 0;
  return { backupId: body.slice(0, 16), createdAt: readU64Checked(body, 16), seq };
}

/**
 * The keyId in a sealed manifest's clear envelope, without opening it (to pick a key).
 *
 * @example
 * ```ts
 * const keyId = manifestKeyId(bytes);
 * ```
 */
export function manifestKeyId(sealed: Uint8Array): Uint8Array {
  abytes(sealed, 'sealed');
  if (sealed.length < ENVELOPE_HEADER_LENGTH) throw malformed('too short');
  return sealed.slice(6, 6 + MANIFEST_KEY_ID_LENGTH);
}
