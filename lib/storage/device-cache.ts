/**
 * The opt-in device cache: the keyring kept on this device, sealed by a non-extractable WebCrypto
 * AES-256-GCM key, so a nightly backup runs without asking for the recovery code while no raw key
 * byte is ever readable from storage by script. Spec: docs/KEYRING.md §Device cache; what it does
 * and does not protect against: docs/THREAT-MODEL.md §Device cache.
 *
 * The `CryptoKey` itself is stored in the {@link KeyValueStore}: IndexedDB structured-clones a
 * `CryptoKey` and keeps it non-extractable (WebCrypto §"Structured serialization", W3C Web
 * Cryptography API §10.4), so script can use it to decrypt on this origin but never read it.
 *
 * A backup client runs it when given `deviceCache: deviceCacheSupport()` (from `e2ee-backup/keys`),
 * so apps that do not use it do not download it (docs/SIZE.md).
 *
 * @module
 */
import { BackupError } from '../errors.js';
import * as labels from '../labels.js';
import { KEYRING_ENCODING_BOUNDS, decodeKeyring, encodeKeyring, idBytes, lengthPrefixed, type Keyring } from '../recovery/keyring.js';
import { concatBytes, copyBytes, isBytes, secureRandom, utf8, wipe, type RandomSource } from '../util/bytes.js';
import { DEVICE_CACHE_KEY_PREFIX, type KeyValueStore, type StoredValue } from './kv.js';

/** Version of the stored record ({@link DeviceCache.save}). */
export const DEVICE_CACHE_VERSION = 1;
/** Store keys used by the cache: this prefix, then the accountId. */
export { DEVICE_CACHE_KEY_PREFIX };

const IV_LENGTH = 12; // NIST SP 800-38D §8.2: 96-bit IVs; one key per record, so one IV per key.
const TAG_LENGTH = 16;

/** The device cache of one account's keyring. */
export interface DeviceCache {
  /** Seal and store the keyring (replacing any earlier one) under a fresh non-extractable key. */
  save(keyring: Keyring): Promise<void>;
  /**
   * The cached keyring, or `undefined` when nothing is cached. Throws `KEYRING_AUTH_FAILED` when
   * the record does not decrypt (tampered, or copied from another account) and `KEYRING_MALFORMED`
   * when it is not a record this SDK writes; the caller then falls back to the recovery code.
   */
  load(): Promise<Keyring | undefined>;
  /** Forget the cached keyring and its key (on sign-out, or when the user turns the cache off). */
  clear(): Promise<void>;
}

/** Options for {@link createDeviceCache}. */
export interface DeviceCacheOptions {
  /** WebCrypto to use; `globalThis.crypto.subtle` by default. */
  readonly subtle?: SubtleCrypto;
  /** Source of the 12-byte GCM IVs (WebCrypto by default). */
  readonly random?: RandomSource;
}

/** The stored record. `key` is a non-extractable CryptoKey; nothing else is secret. */
interface CacheRecord {
  readonly v: number;
  readonly key: CryptoKey;
  readonly iv: Uint8Array;
  readonly sealed: Uint8Array;
}

function isCryptoKey(k: unknown): k is CryptoKey {
  // Cross-realm (fake-indexeddb under jsdom hands back another realm's objects): check the tag.
  return typeof k === 'object' && k !== null && Object.prototype.toString.call(k) === '[object CryptoKey]';
}

function malformed(message: string): BackupError {
  return new BackupError('KEYRING_MALFORMED', `device cache: ${message}`);
}

function parseRecord(value: unknown): CacheRecord {
  if (typeof value !== 'object' || value === null) throw malformed('not a cache record');
  const r = value as Partial<Record<keyof CacheRecord, unknown>>;
  if (r.v !== DEVICE_CACHE_VERSION) throw malformed('unsupported record version');
  if (!isCryptoKey(r.key)) throw malformed('the record holds no CryptoKey');
  const alg = r.key.algorithm as { name?: unknown; length?: unknown };
  // A planted extractable key would let script read what it protects: refuse rather than use it.
  if (r.key.extractable !== false || alg.name !== 'AES-GCM' || alg.length !== 256) {
    throw malformed('the record key is not a non-extractable AES-256-GCM key');
  }
  if (!isBytes(r.iv) || r.iv.length !== IV_LENGTH) throw malformed('bad IV');
  if (
    !isBytes(r.sealed) ||
    r.sealed.length < KEYRING_ENCODING_BOUNDS.min + TAG_LENGTH ||
    r.sealed.length > KEYRING_ENCODING_BOUNDS.max + TAG_LENGTH
  ) {
    throw malformed('sealed keyring has an impossible length');
  }
  return { v: r.v, key: r.key, iv: r.iv, sealed: r.sealed };
}

/**
 * The opt-in device cache for `accountId` in `store` (use the IndexedDB store in browsers).
 * Record: `{ v: 1, key: CryptoKey (AES-GCM, 256, extractable: false), iv: 12 bytes,
 * sealed: AES-GCM(key, iv, aad, encodeKeyring(keyring)) }` under `device-cache/v1/<accountId>`,
 * `aad = lp(labels.deviceCacheAad) ‖ 0x01 ‖ lp(UTF-8(accountId))`. Each save makes a fresh key,
 * and writes key and ciphertext in one `set`, so a reader never sees one without the other.
 *
 * @example
 * ```ts
 * const cache = createDeviceCache(createIndexedDbStore(), accountId);
 * await cache.save(keyring);           // after enable() or a restore, if the user opted in
 * const cached = await cache.load();   // nightly: no recovery code needed
 * ```
 */
export function createDeviceCache(store: KeyValueStore, accountId: string, options: DeviceCacheOptions = {}): DeviceCache {
  if (typeof store !== 'object' || store === null || typeof store.get !== 'function' || typeof store.set !== 'function') {
    throw new TypeError('store must be a KeyValueStore');
  }
  const account = idBytes(accountId, 'accountId');
  const random = options.random ?? secureRandom;
  if (typeof random !== 'function') throw new TypeError('options.random must be a function');
  const storeKey = DEVICE_CACHE_KEY_PREFIX + accountId;
  const aad = copyBytes(
    concatBytes(lengthPrefixed(utf8(labels.deviceCacheAad)), Uint8Array.of(DEVICE_CACHE_VERSION), lengthPrefixed(account)),
  );
  const subtle = (): SubtleCrypto => {
    const s = options.subtle ?? globalThis.crypto?.subtle;
    if (s === undefined) {
      throw new BackupError('STORAGE_UNAVAILABLE', 'WebCrypto is not available (is this a secure context?)');
    }
    return s;
  };

  return {
    async save(keyring) {
      const encoded = encodeKeyring(keyring);
      const plaintext = copyBytes(encoded); // WebCrypto wants an ArrayBuffer-backed view
      wipe(encoded);
      try {
        const s = subtle();
        const key = await s.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
        const iv = copyBytes(random(IV_LENGTH));
        if (iv.length !== IV_LENGTH) throw new RangeError('options.random returned the wrong length');
        const sealed = new Uint8Array(await s.encrypt({ name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 }, key, plaintext));
        const record: CacheRecord = { v: DEVICE_CACHE_VERSION, key, iv, sealed };
        // CryptoKey is serializable (WebCrypto §10.4): IndexedDB keeps it non-extractable.
        await store.set(storeKey, record as unknown as StoredValue);
      } finally {
        wipe(plaintext);
      }
    },

    async load() {
      const value = await store.get<StoredValue>(storeKey);
      if (value === undefined) return undefined;
      const record = parseRecord(value);
      let plaintext: Uint8Array;
      try {
        plaintext = new Uint8Array(
          await subtle().decrypt(
            { name: 'AES-GCM', iv: copyBytes(record.iv), additionalData: aad, tagLength: 128 },
            record.key,
            copyBytes(record.sealed),
          ),
        );
      } catch (e) {
        if (e instanceof BackupError) throw e;
        throw new BackupError('KEYRING_AUTH_FAILED', 'the device cache failed authentication: it was modified or belongs to another account', {
          cause: e,
        });
      }
      try {
        return decodeKeyring(plaintext);
      } finally {
        wipe(plaintext);
      }
    },

    async clear() {
      await store.delete(storeKey);
    },
  };
}

/** The device cache for `createBackupClient({ deviceCache })`: made by {@link deviceCacheSupport}. */
export interface DeviceCacheSupport {
  /** The cache of `accountId`'s keyring in `store`. */
  readonly create: (store: KeyValueStore, accountId: string) => DeviceCache;
}

/**
 * Turn on the device cache of a backup client: `createBackupClient({ ..., deviceCache:
 * deviceCacheSupport() })`. The client then keeps the keyring sealed under a non-extractable
 * device key (docs/KEYRING.md §Device cache), so later backups on this device need no code.
 *
 * @example
 * ```ts
 * import { deviceCacheSupport } from 'e2ee-backup/keys';
 * const client = createBackupClient({ accountId, vault, store, storage: createIndexedDbStore(), trust, deviceCache: deviceCacheSupport() });
 * ```
 */
export function deviceCacheSupport(options: DeviceCacheOptions = {}): DeviceCacheSupport {
  return Object.freeze({ create: (store: KeyValueStore, accountId: string) => createDeviceCache(store, accountId, options) });
}
