// A store that answers ListParts with 401/403 (a bucket policy or a presigning backend that does
// not allow that one operation) made every later run of an interrupted backup fail the same way
// (UNAUTHORIZED from the resume's ListParts), so the backup could never complete (found in the
// review of 7a242d3). Now such a run starts over under a fresh salt once a new upload exists; and
// when the refusal was credentials that expired (creating an upload is refused as well) the
// session is kept, so the run after the fix of the credentials still resumes.
import { describe, expect, it } from 'vitest';
import { BackupError, isBackupError } from '../../lib/errors.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { makeClient, makeVault, readAll, recordingStore, testBytes } from './harness.js';

const vault = makeVault();
let seq = 0;
const SIZE = 200 * 1024;

function refusingStore() {
  const rec = recordingStore(createMemoryBlobStore({ limits: { minPartSize: 1 } }));
  const refuse = { list: false, create: false };
  const calls = { list: 0, create: 0 };
  const store: BlobStore = {
    ...rec.store,
    async listParts(upload, options) {
      calls.list++;
      if (refuse.list) throw new BackupError('UNAUTHORIZED', 'the store answered 403 to ListParts', { status: 403 });
      return rec.store.listParts(upload, options);
    },
    async createUpload(key, options) {
      calls.create++;
      if (refuse.create) throw new BackupError('UNAUTHORIZED', 'the store answered 403', { status: 403 });
      return rec.store.createUpload(key, options);
    },
  };
  return { rec, store, refuse, calls };
}

describe('ListParts refused with 401/403 on resume', () => {
  it('a store that never allows ListParts: the next run starts over under a fresh salt and completes', async () => {
    const { rec, store, refuse } = refusingStore();
    refuse.list = true;
    const client = makeClient(vault, store, createMemoryStore(), { accountId: `lpr${++seq}` });
    const { recoveryCode } = await client.enable();
    const data = testBytes(SIZE, 5);
    rec.setHook((n) => {
      if (n >= 20) throw new BackupError('OFFLINE', 'cut off');
    });
    expect(isBackupError(await client.backup(data).catch((e: unknown) => e), 'OFFLINE')).toBe(true);
    rec.setHook(undefined);
    // Before the fix this run (and every later one) failed with UNAUTHORIZED from ListParts.
    const result = await client.backup(data);
    expect(result.resumed).toBe(false);
    expect(rec.violations()).toEqual([]);
    client.close();
    const restored = await client.restore({ recoveryCode });
    expect(Buffer.compare(await readAll(restored.stream), data)).toBe(0);
  }, 60_000);

  it('credentials that expired (creating an upload is refused too): the session is kept and the next run resumes', async () => {
    const { rec, store, refuse, calls } = refusingStore();
    const client = makeClient(vault, store, createMemoryStore(), { accountId: `lpr${++seq}` });
    const { recoveryCode } = await client.enable();
    const data = testBytes(SIZE, 6);
    rec.setHook((n) => {
      if (n >= 20) throw new BackupError('OFFLINE', 'cut off');
    });
    expect(isBackupError(await client.backup(data).catch((e: unknown) => e), 'OFFLINE')).toBe(true);
    rec.setHook(undefined);
    const sentBefore = rec.partsSent();
    refuse.list = true;
    refuse.create = true;
    const createsBefore = calls.create;
    expect(isBackupError(await client.backup(data).catch((e: unknown) => e), 'UNAUTHORIZED')).toBe(true);
    expect(calls.create).toBeGreaterThan(createsBefore); // it tried to start over, and could not
    refuse.list = false;
    refuse.create = false;
    const result = await client.backup(data);
    expect(result.resumed).toBe(true);
    // The parts the store confirmed before the cut were not sent again (only the rest were).
    expect(rec.partsSent()).toBeGreaterThan(sentBefore);
    expect(rec.violations()).toEqual([]);
    client.close();
    const restored = await client.restore({ recoveryCode });
    expect(Buffer.compare(await readAll(restored.stream), data)).toBe(0);
  }, 60_000);
});
