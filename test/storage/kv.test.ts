// @vitest-environment jsdom
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { createIndexedDbStore, createMemoryStore, type KeyValueStore } from '../../lib/storage/kv.js';
import { equalBytes, isBytes } from '../../lib/util/bytes.js';

function contract(name: string, make: () => KeyValueStore) {
  describe(name, () => {
    it('stores, updates, lists and deletes', async () => {
      const s = make();
      expect(await s.get('missing')).toBeUndefined();
      await s.set('a/1', { n: 1, bytes: new Uint8Array([1, 2, 3]) });
      await s.set('a/2', 'two');
      await s.set('b/1', 3);
      const got = await s.get<{ n: number; bytes: Uint8Array }>('a/1');
      expect(got?.n).toBe(1);
      // Cross-realm: fake-indexeddb under jsdom hands back Node-realm arrays.
      expect(isBytes(got?.bytes)).toBe(true);
      expect(equalBytes(got!.bytes, new Uint8Array([1, 2, 3]))).toBe(true);
      expect((await s.keys('a/')).sort()).toEqual(['a/1', 'a/2']);
      await s.update<number>('b/1', (old) => (old ?? 0) + 1);
      expect(await s.get('b/1')).toBe(4);
      await s.update('b/1', () => undefined);
      expect(await s.get('b/1')).toBeUndefined();
      expect(await s.keys('b/')).toEqual([]);
      await s.delete('a/2');
      expect(await s.get('a/2')).toBeUndefined();
    });
    it('does not alias stored objects', async () => {
      const s = make();
      const v = { list: [1, 2] };
      await s.set('k', v);
      v.list.push(3);
      expect(await s.get('k')).toEqual({ list: [1, 2] });
    });
    it('serialises concurrent updates', async () => {
      const s = make();
      await Promise.all(Array.from({ length: 20 }, () => s.update<number>('c', (o) => (o ?? 0) + 1)));
      expect(await s.get('c')).toBe(20);
    });
  });
}

contract('memory store', createMemoryStore);
let n = 0;
contract('IndexedDB store', () => createIndexedDbStore({ dbName: `kv-test-${n++}` }));

describe('IndexedDB store persistence', () => {
  it('survives a new store instance on the same database (a reload)', async () => {
    await createIndexedDbStore({ dbName: 'reload' }).set('x', 'kept');
    expect(await createIndexedDbStore({ dbName: 'reload' }).get('x')).toBe('kept');
  });
});
