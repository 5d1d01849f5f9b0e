// Abandoned multipart uploads: the memory store (and so the reference server's default store)
// aborts an upload nobody has called for `abandonUploadsAfterMs` when it needs room, as S3's
// lifecycle rule AbortIncompleteMultipartUpload does; and a client whose interrupted upload was
// swept that way starts over and still restores byte-identical.
import { describe, expect, it } from 'vitest';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { createBlobPresigner, createBlobStoreHandler } from '../../lib/server/blob-store.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { isBackupError, type BackupErrorCode } from '../../lib/errors.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { makeClient, makeVault, noSleep, readAll, testBytes } from '../client/harness.js';

const HOUR = 3600 * 1000;

async function rejectsWith(p: Promise<unknown>, code: BackupErrorCode): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBackupError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
}

describe('memory blob store: abandoned uploads', () => {
  it('aborts an upload idle for abandonUploadsAfterMs when createUpload needs a slot', async () => {
    let now = 1_000_000;
    const store = createMemoryBlobStore({ limits: { minPartSize: 1 }, maxPendingUploads: 2, abandonUploadsAfterMs: 10 * HOUR, now: () => now });
    const a = await store.createUpload('a');
    const b = await store.createUpload('b');
    await rejectsWith(store.createUpload('c'), 'QUOTA_EXCEEDED');
    now += 9 * HOUR;
    await store.putPart(a, 1, new Uint8Array([1, 2, 3])); // a is in use again; b is not
    await rejectsWith(store.createUpload('c'), 'QUOTA_EXCEEDED');
    now += 1 * HOUR; // b idle for exactly 10 h, a for 1 h
    const c = await store.createUpload('c');
    await rejectsWith(store.listParts(b), 'NOT_FOUND');
    expect((await store.listParts(a)).map((p) => p.size)).toEqual([3]);
    await store.putPart(c, 1, new Uint8Array([9]));
    const info = await store.completeUpload(a, [{ partNumber: 1, etag: (await store.listParts(a))[0]!.etag }]);
    expect(info.size).toBe(3);
  });

  it('frees an abandoned upload\'s bytes before refusing a write over maxTotalBytes', async () => {
    let now = 0;
    const store = createMemoryBlobStore({ limits: { minPartSize: 1 }, maxTotalBytes: 100, abandonUploadsAfterMs: HOUR, now: () => now });
    const orphan = await store.createUpload('orphan');
    await store.putPart(orphan, 1, new Uint8Array(80));
    await rejectsWith(store.put('x', new Uint8Array(50)), 'QUOTA_EXCEEDED');
    now += HOUR - 1;
    await rejectsWith(store.put('x', new Uint8Array(50)), 'QUOTA_EXCEEDED');
    now += 1;
    await store.put('x', new Uint8Array(50));
    await rejectsWith(store.listParts(orphan), 'NOT_FOUND');
    // The 80 bytes really left the quota: 50 more fit (100 in all), one more byte does not.
    await store.put('y', new Uint8Array(50));
    await rejectsWith(store.put('z', new Uint8Array(1)), 'QUOTA_EXCEEDED');
  });

  it('keeps idle uploads while there is room, and forever with Infinity', async () => {
    let now = 0;
    const store = createMemoryBlobStore({ maxPendingUploads: 1, abandonUploadsAfterMs: Infinity, now: () => now });
    const u = await store.createUpload('k');
    now += 1e12;
    await rejectsWith(store.createUpload('other'), 'QUOTA_EXCEEDED');
    expect(await store.listParts(u)).toEqual([]);
    const roomy = createMemoryBlobStore({ maxPendingUploads: 5, abandonUploadsAfterMs: 1, now: () => now });
    const v = await roomy.createUpload('k');
    now += 10;
    expect(await roomy.listParts(v)).toEqual([]); // never swept while nothing needs the room
  });

  it('rejects a non-positive abandonUploadsAfterMs', () => {
    for (const bad of [0, -1, Number.NaN]) {
      expect(() => createMemoryBlobStore({ abandonUploadsAfterMs: bad })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { option: 'abandonUploadsAfterMs' } }));
    }
  });

  it('a client whose interrupted upload was swept starts over and restores byte-identical', async () => {
    let now = 0;
    const backing = createMemoryBlobStore({ limits: { minPartSize: 1 }, maxPendingUploads: 1, abandonUploadsAfterMs: HOUR, now: () => now });
    const signingKey = new Uint8Array(32).fill(7);
    const handler = createBlobStoreHandler({ store: backing, signingKey });
    const presigner = createBlobPresigner({ baseUrl: 'http://blobs.test', signingKey });
    const store = createHttpBlobStore({ fetch: handler, presign: async (op) => presigner.http(op), limits: { minPartSize: 1 }, sleep: noSleep });
    const kv = createMemoryStore();
    const vault = makeVault();
    const client = makeClient(vault, store, kv, { accountId: 'sam' });
    await client.enable();
    const data = testBytes(60_000, 5);

    // Interrupted after a few parts: the upload stays pending on the store.
    const ac = new AbortController();
    let progress = 0;
    await rejectsWith(client.backup(data, { signal: ac.signal, onProgress: () => ++progress === 3 && ac.abort() }), 'ABORTED');

    // The interrupted upload still holds the store's only slot (the client cannot abort it: it
    // may resume it). A day later another device needs the slot: the idle upload is swept.
    await rejectsWith(backing.createUpload('elsewhere'), 'QUOTA_EXCEEDED');
    now += 24 * HOUR;
    const other = await backing.createUpload('elsewhere');
    await backing.abortUpload(other);

    // The first client comes back: its upload is gone (NOT_FOUND), so it starts over.
    const r = await client.backup(data);
    expect(r.resumed).toBe(false);
    const restored = await client.restore();
    expect(equalBytes(await readAll(restored.stream), data)).toBe(true);
  });
});
