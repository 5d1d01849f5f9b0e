/**
 * The device key-value store the SDK keeps its state in: trust state, enrollment metadata, upload
 * sessions, the optional sealed device cache. Values are structured-clonable (plain objects,
 * strings, numbers, `Uint8Array`s). Never a raw key or a code: callers seal secrets first.
 *
 * @module
 */
import { assertOptionsObject, invalidOption } from '../util/options.js';
import { get, set, del, keys, promisifyRequest, type UseStore } from 'idb-keyval';
import { BackupError } from '../errors.js';

/**
 * Store keys of the device cache's record (lib/storage/device-cache.ts): this prefix, then the
 * accountId. Here rather than there so a client without the cache (an opt-in) can still remove one.
 */
export const DEVICE_CACHE_KEY_PREFIX = 'device-cache/v1/';

/** A structured-clonable value. */
export type StoredValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | CryptoKey
  | readonly StoredValue[]
  | { readonly [key: string]: StoredValue | undefined };

/**
 * Minimal async key-value store. `update` is atomic with respect to other `update`s on the same
 * store (an IndexedDB readwrite transaction; a synchronous step in memory).
 */
export interface KeyValueStore {
  /** A structured clone of the value at `key`, or `undefined` when the key is absent. */
  get<T extends StoredValue>(key: string): Promise<T | undefined>;
  /** Store a structured clone of `value` at `key`, replacing any previous value. */
  set(key: string, value: StoredValue): Promise<void>;
  /** Remove `key`; a no-op when it is absent. */
  delete(key: string): Promise<void>;
  /** Atomically read-modify-write one key. Returning `undefined` deletes it. */
  update<T extends StoredValue>(key: string, fn: (old: T | undefined) => T | undefined): Promise<void>;
  /** Every key with the given prefix. */
  keys(prefix?: string): Promise<string[]>;
}

/**
 * In-memory store for Node and tests. Values are structured-cloned on the way in and out, as
 * IndexedDB would, so a caller can never mutate stored state by accident.
 *
 * @example
 * ```ts
 * const store = createMemoryStore();
 * await store.set('a', 1);
 * ```
 */
export function createMemoryStore(): KeyValueStore {
  const map = new Map<string, StoredValue>();
  return {
    async get<T extends StoredValue>(key: string) {
      const v = map.get(key);
      return (v === undefined ? undefined : structuredClone(v)) as T | undefined;
    },
    async set(key, value) {
      map.set(key, structuredClone(value));
    },
    async delete(key) {
      map.delete(key);
    },
    async update<T extends StoredValue>(key: string, fn: (old: T | undefined) => T | undefined) {
      const old = map.get(key) as T | undefined;
      const next = fn(old === undefined ? undefined : structuredClone(old));
      if (next === undefined) map.delete(key);
      else map.set(key, structuredClone(next));
    },
    async keys(prefix = '') {
      return [...map.keys()].filter((k) => k.startsWith(prefix));
    },
  };
}

/** Options for {@link createIndexedDbStore}. */
export interface IndexedDbStoreOptions {
  /** Database name; the SDK's own database by default, never shared with the app. */
  readonly dbName?: string;
  /** Object store name. */
  readonly storeName?: string;
}

function wrapIdbError(e: unknown): BackupError {
  const name = typeof e === 'object' && e !== null ? (e as { name?: unknown }).name : undefined;
  if (name === 'QuotaExceededError') {
    return new BackupError('QUOTA_EXCEEDED', 'the device is out of storage space for IndexedDB', { cause: e });
  }
  return new BackupError('STORAGE_UNAVAILABLE', 'IndexedDB is unavailable or failed', { cause: e });
}

/**
 * idb-keyval's `createStore`, except that every readwrite transaction asks for `durability:
 * 'strict'` (IndexedDB 3.0, https://w3c.github.io/IndexedDB/#dom-idbtransactiondurability-strict):
 * the write is on disk before it reports success. Browsers default to "relaxed" or let it be (a
 * write may be lost in an OS crash or power loss after it succeeded), and the upload session's
 * part hashes and the backup lease must not be: a record a crash rolled back is what would let a
 * resume reuse a nonce (docs/CLIENT.md §The invariant). Costs a disk flush per write; the SDK
 * writes a few records per uploaded part (8 MiB by default).
 */
function createDurableStore(dbName: string, storeName: string): UseStore {
  const request = indexedDB.open(dbName);
  request.onupgradeneeded = () => request.result.createObjectStore(storeName);
  const dbp = promisifyRequest(request);
  return (txMode, callback) =>
    dbp.then((db) => callback(db.transaction(storeName, txMode, txMode === 'readwrite' ? { durability: 'strict' } : {}).objectStore(storeName)));
}

async function guard<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw wrapIdbError(e);
  }
}

/**
 * IndexedDB store (idb-keyval) in its own database, `e2ee-backup` by default.
 *
 * @example
 * ```ts
 * const store = createIndexedDbStore({ dbName: 'e2ee-backup' });
 * ```
 */
export function createIndexedDbStore(options: IndexedDbStoreOptions = {}): KeyValueStore {
  assertOptionsObject(options, 'createIndexedDbStore');
  for (const name of ['dbName', 'storeName'] as const) {
    const v = options[name];
    if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > 256)) throw invalidOption(name, 'must be a non-empty string of at most 256 characters');
  }
  let idb: UseStore | undefined;
  const use = (): UseStore => {
    if (idb === undefined) {
      if (typeof indexedDB === 'undefined') {
        throw new BackupError('STORAGE_UNAVAILABLE', 'IndexedDB is not available in this environment');
      }
      idb = createDurableStore(options.dbName ?? 'e2ee-backup', options.storeName ?? 'state');
    }
    return idb;
  };
  return {
    get: <T extends StoredValue>(key: string) => guard(() => get<T>(key, use())),
    set: (key, value) => guard(() => set(key, value, use())),
    delete: (key) => guard(() => del(key, use())),
    // One readwrite transaction reads, applies `fn` and writes or deletes, so no other tab's
    // write can land between the read and the write (idb-keyval's own `update` cannot delete).
    update: <T extends StoredValue>(key: string, fn: (old: T | undefined) => T | undefined) =>
      guard(() =>
        use()('readwrite', (s) => {
          const req = s.get(key) as IDBRequest<T | undefined>;
          req.onsuccess = () => {
            const next = fn(req.result);
            if (next === undefined) s.delete(key);
            else s.put(next, key);
          };
          return promisifyRequest(s.transaction);
        }),
      ),
    keys: (prefix = '') =>
      guard(async () => (await keys(use())).map(String).filter((k) => k.startsWith(prefix))),
  };
}
