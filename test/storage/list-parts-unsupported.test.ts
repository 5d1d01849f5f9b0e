// A store that does not implement ListParts (s3rver 3.7.1 answers 405; RFC 9110's 501 means the
// same): both adapters say so with a typed error, and a resumed backup starts over under a fresh
// salt instead of failing on every later backup() of the same source. A transient listParts
// failure still leaves the session to resume. Against s3rver itself: test/storage/s3rver.test.ts.
// The client-level cases failed on the old code (the resumed backup rejected with "GET to the S3
// store answered HTTP 405", and did so again on the next call).
import { describe, expect, it } from 'vitest';
import { BackupError, isBackupError } from '../../lib/errors.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { createS3BlobStore } from '../../lib/storage/blob/s3.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { makeClient, makeVault, readAll, recordingStore, testBytes } from '../client/harness.js';

const up = { key: 'k', uploadId: 'u1' };

describe('listParts on a store that does not implement it', () => {
  for (const [status, code] of [[405, 'MethodNotAllowed'], [501, 'NotImplemented']] as const) {
    it(`S3 adapter: ${status} ${code} is BLOB_STORE_FAILED saying ListParts is not implemented`, async () => {
      const s = createS3BlobStore({
        presign: async (op) => `http://s3.test/${op.op}`,
        fetch: async () => new Response(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code></Error>`, { status }),
      });
      const e = await s.listParts(up).catch((x: unknown) => x);
      expect(isBackupError(e, 'BLOB_STORE_FAILED')).toBe(true);
      expect(isBackupError(e) && e.details.status).toBe(status);
      expect(String((e as Error).message)).toMatch(/does not implement ListParts/);
    });

    it(`HTTP adapter: ${status} is BLOB_STORE_FAILED saying ListParts is not implemented`, async () => {
      const s = createHttpBlobStore({ presign: async (op) => `http://blobs.test/${op.op}`, fetch: async () => new Response('', { status }) });
      const e = await s.listParts(up).catch((x: unknown) => x);
      expect(isBackupError(e, 'BLOB_STORE_FAILED')).toBe(true);
      expect(String((e as Error).message)).toMatch(/does not implement ListParts/);
    });
  }

  const vault = makeVault();
  let n = 0;
  /** A client over a memory store whose listParts fails with `failure` while `failing` says so. */
  async function setup(failure: () => BackupError) {
    const rec = recordingStore(createMemoryBlobStore({ limits: { minPartSize: 1 } }));
    let failing = true;
    let cut = true;
    const store: BlobStore = {
      ...rec.store,
      limits: rec.store.limits,
      listParts: async (u, o) => {
        if (failing) throw failure();
        return rec.store.listParts(u, o);
      },
    };
    rec.setHook((p) => {
      if (cut && p === 6) throw new BackupError('UNAUTHORIZED', 'the tab died here');
    });
    const client = makeClient(vault, store, createMemoryStore(), { accountId: `lp${++n}` });
    await client.enable();
    const data = testBytes(60_000, 3);
    expect(isBackupError(await client.backup(data).catch((e: unknown) => e), 'UNAUTHORIZED')).toBe(true);
    cut = false;
    return { rec, client, data, heal: () => (failing = false) };
  }

  it('a resumed backup whose listParts is unsupported starts over under a fresh salt, and restores', async () => {
    const unsupported = () => new BackupError('BLOB_STORE_FAILED', 'the S3 store does not implement ListParts (it answered 405)', { status: 405 });
    const { rec, client, data } = await setup(unsupported);
    const r = await client.backup(data);
    expect(r.resumed).toBe(false);
    expect(rec.violations()).toEqual([]); // includes: no salt served two uploads
    expect(equalBytes(await readAll((await client.restore()).stream), data)).toBe(true);
  });

  it('a transient listParts failure (OFFLINE) fails the run and keeps the session: the next run resumes', async () => {
    const { rec, client, data, heal } = await setup(() => new BackupError('OFFLINE', 'no network'));
    expect(isBackupError(await client.backup(data).catch((e: unknown) => e), 'OFFLINE')).toBe(true);
    heal();
    const r = await client.backup(data);
    expect(r.resumed).toBe(true);
    expect(rec.violations()).toEqual([]);
    expect(equalBytes(await readAll((await client.restore()).stream), data)).toBe(true);
  });
});
