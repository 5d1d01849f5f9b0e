/**
 * The persisted upload session of a backup in progress (docs/CLIENT.md §Resumable upload).
 *
 * One record per account in the {@link KeyValueStore} (IndexedDB in browsers), so a reload or a
 * new tab resumes where the last one stopped. The record holds no key material, and everything in
 * it that steers encryption is sealed: the archive salt decides the nonce prefix, so a store an
 * attacker can write must not be able to make us reuse a salt with other plaintext. The state is
 * sealed with XChaCha20-Poly1305 under `HKDF-SHA-256(BK, "", labels.uploadSessionKey)` with the
 * accountId and keyId in the associated data; a record that fails to open is discarded (the backup
 * starts over with a fresh salt, which is always safe).
 *
 * @module
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import * as labels from '../labels.js';
import { assertLiveKey } from '../recovery/keyring.js';
import type { KeyValueStore } from '../storage/kv.js';
import { BackupError } from '../errors.js';
import { abytes, concatBytes, fromUtf8, isBytes, secureRandom, toHex, utf8, wipe, type RandomSource } from '../util/bytes.js';

/** Where the upload went and what was sent, in the clear only inside the seal. */
export interface UploadSessionState {
  /** Hex backup id (the archive object is `archives/<backupId>`). */
  readonly backupId: string;
  /** Hex archive salt: resuming re-encrypts with it to reproduce the same ciphertext. */
  readonly salt: string;
  /** The blob key of the archive. */
  readonly uploadKey: string;
  /** The store's multipart upload id. */
  readonly uploadId: string;
  /** Archive chunk size. */
  readonly chunkSize: number;
  /** Whole chunks per part (the first part also carries the header). */
  readonly chunksPerPart: number;
  /** Source fingerprint (docs/CLIENT.md §Source changes). */
  readonly fingerprint: string;
  /** When the backup started (becomes the manifest's createdAt). */
  readonly createdAt: number;
  /**
   * SHA-256 (hex) of the ciphertext of every part whose upload ever started, by part number.
   * Recorded BEFORE the first byte of the part is sent, so every ciphertext storage may have seen
   * is listed here.
   */
  readonly started: { readonly [partNumber: string]: string };
  /** Set once `completeUpload` succeeded: the archive exists, only the manifest is missing. */
  readonly completed?: { readonly archiveSize: number; readonly plaintextSize: number };
  /** The app metadata (JSON) given when the backup started, for a manifest written by a later run. */
  readonly metadata?: string;
  /** The latest-pointer sequence this backup took when it started (docs/CLIENT.md §Rollback). */
  readonly seq?: number;
}

interface StoredSession {
  readonly v: number;
  readonly keyId: Uint8Array;
  readonly sealed: Uint8Array;
  /** Random revision, new on every save: saves and deletes are compare-and-swap on it. */
  readonly rev?: string;
  readonly [key: string]: number | Uint8Array | string | undefined;
}

/**
 * What one backup run last read or wrote of the session record: its revision (`null` when there
 * was none). Given to {@link saveSession} and {@link clearSession}, it makes them
 * compare-and-swap: they write only if the record is still the one this run saw, so a tab that
 * stalled (and lost the lock) can never overwrite part hashes another tab recorded since.
 */
export interface SessionSlot {
  rev: string | null;
}

/** A stale writer: the record changed since this run read or wrote it (another tab). */
function conflict(): BackupError {
  return new BackupError('BACKUP_IN_PROGRESS', 'another tab changed the upload session; this run stopped sending');
}

function revOf(rec: unknown): string | null {
  if (typeof rec !== 'object' || rec === null) return null;
  const r = (rec as { rev?: unknown }).rev;
  return typeof r === 'string' ? r : '';
}

const RECORD_VERSION = 1;
const MAX_SEALED = 1 << 20;

/** Key prefix of session records in the store. */
export const SESSION_KEY_PREFIX = 'upload-session/';

function sessionKey(bk: Uint8Array): Uint8Array {
  return hkdf(sha256, abytes(bk, 'backupKey', 32), undefined, utf8(labels.uploadSessionKey), 32);
}

function aad(accountId: string, keyId: Uint8Array): Uint8Array {
  return concatBytes(utf8(labels.uploadSessionKey), Uint8Array.of(0), utf8(accountId), Uint8Array.of(0), keyId);
}

/**
 * Seal and persist the session of `accountId`.
 *
 * @example
 * ```ts
 * await saveSession(kv, 'alice', { key: bk, keyId }, state);
 * ```
 */
export async function saveSession(
  store: KeyValueStore,
  accountId: string,
  key: { readonly key: Uint8Array; readonly keyId: Uint8Array },
  state: UploadSessionState,
  random: RandomSource = secureRandom,
  slot?: SessionSlot,
): Promise<void> {
  assertLiveKey(key.key, 'key');
  const sk = sessionKey(key.key);
  const nonce = abytes(random(24), 'random(24)', 24);
  try {
    const ct = xchacha20poly1305(sk, nonce, aad(accountId, key.keyId)).encrypt(utf8(JSON.stringify(state)));
    const rev = toHex(random(16));
    const record: StoredSession = { v: RECORD_VERSION, keyId: Uint8Array.from(key.keyId), sealed: concatBytes(nonce, ct), rev };
    if (slot === undefined) {
      await store.set(SESSION_KEY_PREFIX + accountId, record);
      return;
    }
    let won = false;
    await store.update<StoredSession>(SESSION_KEY_PREFIX + accountId, (old) => {
      won = revOf(old) === slot.rev;
      return won ? record : old;
    });
    if (!won) throw conflict();
    slot.rev = rev;
  } finally {
    wipe(sk);
  }
}

/**
 * Load and open the session of `accountId`. Resolves `undefined` when there is none, when it was
 * sealed under a key generation `keyLookup` does not know, or when it fails to authenticate or
 * parse: in every such case the caller starts a fresh upload with a fresh salt.
 *
 * @example
 * ```ts
 * const state = await loadSession(kv, 'alice', (id) => keyForId(keyring, id));
 * ```
 */
export async function loadSession(
  store: KeyValueStore,
  accountId: string,
  keyLookup: (keyId: Uint8Array) => Uint8Array | undefined,
  slot?: SessionSlot,
): Promise<{ readonly state: UploadSessionState; readonly keyId: Uint8Array } | undefined> {
  const rec = await store.get<StoredSession>(SESSION_KEY_PREFIX + accountId);
  if (slot !== undefined) slot.rev = revOf(rec);
  if (rec === undefined || typeof rec !== 'object' || rec === null) return undefined;
  const { v, keyId, sealed } = rec;
  if (v !== RECORD_VERSION || !isBytes(keyId) || keyId.length !== 16 || !isBytes(sealed)) return undefined;
  if (sealed.length < 24 + 16 || sealed.length > MAX_SEALED) return undefined;
  const bk = keyLookup(Uint8Array.from(keyId));
  if (bk === undefined) return undefined;
  const sk = sessionKey(bk);
  wipe(bk);
  try {
    const pt = xchacha20poly1305(sk, sealed.slice(0, 24), aad(accountId, Uint8Array.from(keyId))).decrypt(
      sealed.slice(24),
    );
    const state = parseState(JSON.parse(fromUtf8(pt)));
    return state === undefined ? undefined : { state, keyId: Uint8Array.from(keyId) };
  } catch {
    return undefined;
  } finally {
    wipe(sk);
  }
}

/**
 * Drop the session of `accountId`.
 *
 * @example
 * ```ts
 * await clearSession(kv, 'alice');
 * ```
 */
export async function clearSession(store: KeyValueStore, accountId: string, slot?: SessionSlot): Promise<void> {
  if (slot === undefined) {
    await store.delete(SESSION_KEY_PREFIX + accountId);
    return;
  }
  let won = false;
  await store.update<StoredSession>(SESSION_KEY_PREFIX + accountId, (old) => {
    won = old === undefined || revOf(old) === slot.rev;
    return won ? undefined : old;
  });
  if (!won) throw conflict();
  slot.rev = null;
}

/** Strict shape check of a decrypted state (it authenticated, but we still never trust shapes). */
function parseState(o: unknown): UploadSessionState | undefined {
  if (typeof o !== 'object' || o === null) return undefined;
  const s = o as Record<string, unknown>;
  const isHex = (x: unknown, len: number) => typeof x === 'string' && x.length === len && /^[0-9a-f]*$/.test(x);
  const isStr = (x: unknown) => typeof x === 'string' && x.length > 0 && x.length <= 2048;
  const isInt = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (!isHex(s.backupId, 32) || !isHex(s.salt, 64) || !isStr(s.uploadKey) || !isStr(s.uploadId)) return undefined;
  if (!isInt(s.chunkSize) || !isInt(s.chunksPerPart) || !isInt(s.createdAt) || typeof s.fingerprint !== 'string') {
    return undefined;
  }
  if (typeof s.started !== 'object' || s.started === null) return undefined;
  const started = s.started as Record<string, unknown>;
  if (Object.keys(started).length > 10_000) return undefined;
  for (const [k, v] of Object.entries(started)) {
    if (!/^[1-9][0-9]{0,4}$/.test(k) || !isHex(v, 64)) return undefined;
  }
  if (s.seq !== undefined && !isInt(s.seq)) return undefined;
  if (s.metadata !== undefined && (typeof s.metadata !== 'string' || s.metadata.length > 256 * 1024)) return undefined;
  if (s.completed !== undefined) {
    const c = s.completed as Record<string, unknown>;
    if (typeof c !== 'object' || c === null || !isInt(c.archiveSize) || !isInt(c.plaintextSize)) return undefined;
  }
  return s as unknown as UploadSessionState;
}

