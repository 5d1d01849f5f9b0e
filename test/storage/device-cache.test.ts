// @vitest-environment jsdom
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { createKeyring, encodeKeyring, rotateKeyring, type Keyring } from '../../lib/recovery/keyring.js';
import { DEVICE_CACHE_KEY_PREFIX, createDeviceCache } from '../../lib/storage/device-cache.js';
import { createIndexedDbStore, createMemoryStore, type KeyValueStore, type StoredValue } from '../../lib/storage/kv.js';
import { equalBytes, isBytes, toHex } from '../../lib/util/bytes.js';

// fake-indexeddb under jsdom structured-clones a CryptoKey and hands it back usable and still
// non-extractable (checked below), so these tests run against IndexedDB, not only the memory store.

let n = 0;
const stores: [string, () => KeyValueStore][] = [
  ['IndexedDB store', () => createIndexedDbStore({ dbName: `device-cache-${n++}` })],
  ['memory store', createMemoryStore],
];

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isBackupError(e)) return e.code;
    throw e;
  }
  return 'ok';
}

function sameKeyring(a: Keyring, b: Keyring): boolean {
  return equalBytes(encodeKeyring(a), encodeKeyring(b));
}

/** Every byte string and string reachable from a stored value (a CryptoKey has none: it is opaque). */
function leaves(v: unknown, out: Uint8Array[] = []): Uint8Array[] {
  if (isBytes(v)) out.push(v);
  else if (typeof v === 'string') out.push(new TextEncoder().encode(v));
  else if (v instanceof ArrayBuffer) out.push(new Uint8Array(v));
  else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) leaves(x, out);
  return out;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

for (const [name, make] of stores) {
  describe(`device cache (${name})`, () => {
    it('saves, loads, replaces and clears the keyring', async () => {
      const cache = createDeviceCache(make(), 'acct-1');
      expect(await cache.load()).toBeUndefined();
      const k1 = createKeyring();
      await cache.save(k1);
      expect(sameKeyring((await cache.load())!, k1)).toBe(true);
      const k2 = rotateKeyring(k1);
      await cache.save(k2);
      expect(sameKeyring((await cache.load())!, k2)).toBe(true);
      await cache.clear();
      expect(await cache.load()).toBeUndefined();
    });

    it('keeps no raw key bytes in storage, only a non-extractable CryptoKey', async () => {
      const store = make();
      const keyring = rotateKeyring(rotateKeyring(createKeyring()));
      await createDeviceCache(store, 'acct-1').save(keyring);
      const keys = await store.keys();
      expect(keys).toEqual([`${DEVICE_CACHE_KEY_PREFIX}acct-1`]);
      for (const k of keys) {
        const value = await store.get<StoredValue>(k);
        const all = leaves(value);
        expect(all.length).toBeGreaterThan(0);
        for (const bytes of all) {
          for (const g of keyring.generations) {
            expect(contains(bytes, g.key)).toBe(false);
            // Not even a 16-byte window of a key (no partial or shifted copy).
            expect(contains(bytes, g.key.subarray(8, 24))).toBe(false);
            expect(contains(bytes, new TextEncoder().encode(toHex(g.key)))).toBe(false);
          }
        }
        const key = (value as unknown as { key: CryptoKey }).key;
        expect(Object.prototype.toString.call(key)).toBe('[object CryptoKey]');
        expect(key.extractable).toBe(false);
        await expect(globalThis.crypto.subtle.exportKey('raw', key)).rejects.toThrow();
      }
    });

    it('detects tampering and records moved between accounts', async () => {
      const store = make();
      const a = createDeviceCache(store, 'acct-a');
      const b = createDeviceCache(store, 'acct-b');
      await a.save(createKeyring());
      const record = (await store.get<StoredValue>(`${DEVICE_CACHE_KEY_PREFIX}acct-a`)) as unknown as {
        v: number;
        key: CryptoKey;
        iv: Uint8Array;
        sealed: Uint8Array;
      };
      const put = (acct: string, r: unknown) => store.set(`${DEVICE_CACHE_KEY_PREFIX}${acct}`, r as StoredValue);

      // The same record under another account: the AAD binds the accountId.
      await put('acct-b', record);
      expect(await errorCode(b.load())).toBe('KEYRING_AUTH_FAILED');

      // A flipped ciphertext or IV bit.
      for (const field of ['sealed', 'iv'] as const) {
        const bad = Uint8Array.from(record[field]);
        bad[3]! ^= 1;
        await put('acct-a', { ...record, [field]: bad });
        expect(await errorCode(a.load())).toBe('KEYRING_AUTH_FAILED');
      }

      // Each save makes a fresh key: the previous record's key does not open the new ciphertext.
      await put('acct-a', record);
      await a.save(createKeyring());
      const next = (await store.get<StoredValue>(`${DEVICE_CACHE_KEY_PREFIX}acct-a`)) as unknown as typeof record;
      await put('acct-a', { ...next, key: record.key });
      expect(await errorCode(a.load())).toBe('KEYRING_AUTH_FAILED');

      // Shapes this SDK never writes.
      const extractable = await globalThis.crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
      const malformed: unknown[] = [
        'garbage',
        null,
        { ...record, v: 2 },
        { ...record, key: 'not a key' },
        { ...record, key: extractable },
        { ...record, iv: new Uint8Array(16) },
        { ...record, sealed: new Uint8Array(10) },
        { ...record, sealed: new Uint8Array(20_000) },
      ];
      for (const r of malformed) {
        await put('acct-a', r);
        expect(await errorCode(a.load())).toBe('KEYRING_MALFORMED');
      }
    });

    it('rejects misuse naming the argument', () => {
      expect(() => createDeviceCache(make(), '')).toThrow(/accountId/);
      expect(() => createDeviceCache({} as KeyValueStore, 'a')).toThrow(/store/);
    });
  });
}

describe('device cache across a reload', () => {
  it('a new store and cache on the same IndexedDB database load the keyring', async () => {
    const keyring = createKeyring();
    await createDeviceCache(createIndexedDbStore({ dbName: 'device-cache-reload' }), 'acct-1').save(keyring);
    const loaded = await createDeviceCache(createIndexedDbStore({ dbName: 'device-cache-reload' }), 'acct-1').load();
    expect(sameKeyring(loaded!, keyring)).toBe(true);
  });

  it('says plainly when WebCrypto is missing', async () => {
    const keyring = createKeyring();
    const cache = createDeviceCache(createMemoryStore(), 'acct-1');
    const saved = globalThis.crypto;
    // Only this test's realm global is removed, and restored right after.
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true });
    try {
      expect(await errorCode(cache.save(keyring))).toBe('STORAGE_UNAVAILABLE');
    } finally {
      Object.defineProperty(globalThis, 'crypto', { value: saved, configurable: true });
    }
  });
});
