// Issue 14, finding 2 (the no-attacker half): the upload session and the lease must survive a crash
// once written, so every IndexedDB write the SDK makes asks for strict durability.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createIndexedDbStore } from '../../lib/storage/kv.js';

describe('IndexedDB store durability', () => {
  afterEach(() => vi.restoreAllMocks());

  it('every readwrite transaction is opened with durability "strict"; reads ask for nothing', async () => {
    const seen: { mode: unknown; durability: unknown }[] = [];
    const original = IDBDatabase.prototype.transaction;
    vi.spyOn(IDBDatabase.prototype, 'transaction').mockImplementation(function (this: IDBDatabase, names, mode, options) {
      seen.push({ mode, durability: (options as { durability?: unknown } | undefined)?.durability });
      return original.call(this, names, mode, options);
    });
    const s = createIndexedDbStore({ dbName: `durable-${Math.random()}` });
    await s.set('upload-session/a', { v: 1 });
    await s.update<number>('lock/x', (old) => (old ?? 0) + 1);
    await s.delete('upload-session/a');
    await s.get('lock/x');
    await s.keys('');
    const writes = seen.filter((t) => t.mode === 'readwrite');
    expect(writes.length).toBe(3);
    expect(writes.every((t) => t.durability === 'strict')).toBe(true);
    expect(seen.filter((t) => t.mode === 'readonly').every((t) => t.durability === undefined)).toBe(true);
  });
});
