// @vitest-environment jsdom
// A reload in the middle of an upload: the first client (a tab) is cut off mid-backup; a new client
// on the same IndexedDB database (fake-indexeddb) resumes from the sealed upload session and the
// backup restores byte-identical. Also checks the stored session holds no key bytes and no salt in
// the clear.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { createIndexedDbStore } from '../../lib/storage/kv.js';
import { SESSION_KEY_PREFIX } from '../../lib/client/session.js';
import { equalBytes, isBytes, toHex } from '../../lib/util/bytes.js';
import { blobClient, makeBlobServer, makeClient, makeVault, readAll, testBytes } from './harness.js';

describe('reload mid-upload', () => {
  it('a new client on the same IndexedDB resumes from the last confirmed part', async () => {
    const vault = makeVault();
    const server = makeBlobServer();
    const data = testBytes(80_000, 99);

    const tab1 = makeClient(vault, blobClient(server).store, createIndexedDbStore({ dbName: 'reload-test' }), { accountId: 'rita' });
    const { recoveryCode } = await tab1.enable();
    const ac = new AbortController();
    let parts = 0;
    await tab1.backup(data, { signal: ac.signal, onProgress: () => ++parts === 6 && ac.abort() }).catch(() => undefined);
    tab1.close();

    // What the device keeps between the two tabs: a sealed session, no keys, no clear salt.
    const storage2 = createIndexedDbStore({ dbName: 'reload-test' });
    const rec = await storage2.get<{ sealed: Uint8Array; keyId: Uint8Array }>(SESSION_KEY_PREFIX + 'rita');
    expect(rec).toBeDefined();
    expect(isBytes(rec!.sealed)).toBe(true);
    const archives = await server.backing.list('archives/');
    expect(archives.length).toBe(0); // not completed yet

    const { store, faulty } = blobClient(server);
    const tab2 = makeClient(vault, store, storage2, { accountId: 'rita' });
    await tab2.unlock({ recoveryCode: recoveryCode! });
    const r = await tab2.backup(data);
    expect(r.resumed).toBe(true);
    const putParts = faulty.log.filter((e) => e.method === 'PUT' && e.url.includes('partNumber=')).length;
    expect(putParts).toBeGreaterThan(0);
    expect(putParts).toBeLessThan(Math.ceil(r.archiveSize / (4 * 1040)));
    const restored = await tab2.restore();
    expect(equalBytes(await readAll(restored.stream), data)).toBe(true);
    // The archive header's salt appears nowhere in the device store in the clear.
    const salt = toHex((await server.backing.get(`archives/${r.backupId}`, { range: { offset: 32, length: 32 } })));
    for (const k of await storage2.keys()) {
      const v = await storage2.get(k);
      expect(JSON.stringify(v, (_k, x: unknown) => (isBytes(x) ? toHex(x) : x))).not.toContain(salt);
    }
    expect(await storage2.get(SESSION_KEY_PREFIX + 'rita')).toBeUndefined();
  });
});
