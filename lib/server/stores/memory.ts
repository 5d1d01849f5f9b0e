/**
 * An in-memory {@link VaultStore}: linearizable within one process (every operation completes
 * in one synchronous step), durable only as long as the process lives. For tests, the demo and
 * one-process development vaults.
 *
 * @module
 */
import { abytes } from '../../util/bytes.js';
import type { VaultStore, Versioned } from '../vault-store.js';

/** A memory store, with a read-only view of its raw contents for tests. */
export interface MemoryVaultStore extends VaultStore {
  /** Copies of every stored value (what an attacker who dumps the store would see). */
  dump(): Map<string, Uint8Array>;
}

/**
 * Create an in-memory vault store. Versions come from one counter that never goes back, so a
 * deleted and re-created key never reuses a version (no ABA on compare-and-swap).
 *
 * @example
 * ```ts
 * const store = createMemoryVaultStore();
 * const ok = await store.compareAndSwap('k', null, new Uint8Array([1])); // true: created
 * ```
 */
export function createMemoryVaultStore(): MemoryVaultStore {
  const map = new Map<string, { value: Uint8Array; version: string }>();
  let counter = 0;
  return {
    async get(key: string): Promise<Versioned | undefined> {
      if (typeof key !== 'string') throw new TypeError('key must be a string');
      const e = map.get(key);
      return e === undefined ? undefined : { value: Uint8Array.from(e.value), version: e.version };
    },
    async compareAndSwap(key: string, expected: string | null, value: Uint8Array | null): Promise<boolean> {
      if (typeof key !== 'string') throw new TypeError('key must be a string');
      if (expected !== null && typeof expected !== 'string') throw new TypeError('expected must be a string or null');
      if (value !== null) abytes(value, 'value');
      const cur = map.get(key);
      if ((cur?.version ?? null) !== expected) return false;
      if (value === null) map.delete(key);
      else map.set(key, { value: Uint8Array.from(value), version: String(++counter) });
      return true;
    },
    dump(): Map<string, Uint8Array> {
      return new Map([...map].map(([k, v]) => [k, Uint8Array.from(v.value)]));
    },
  };
}
