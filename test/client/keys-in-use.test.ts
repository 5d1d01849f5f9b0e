// Issue 14, finding 1: close() or unlock() while an operation runs must never make it encrypt or
// seal under a wiped (all-zero) key. Each operation works on its own copy of the keyring; close()
// aborts what is running (ABORTED) and the copy is wiped when the operation ends; an all-zero key
// is refused where keys enter encryption and sealing.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { LATEST_NAME, openLatest, openManifest, sealLatest, sealManifest } from '../../lib/client/manifest.js';
import { saveSession } from '../../lib/client/session.js';
import { createKeyring, encodeKeyring, wipeKeyring } from '../../lib/recovery/keyring.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { equalBytes, fromHex } from '../../lib/util/bytes.js';
import { errorOf } from '../support/errors.js';
import { makeClient, makeVault, readAll, testBytes } from './harness.js';

const vault = makeVault();
let seq = 0;

async function setup() {
  const blobs: BlobStore = createMemoryBlobStore({ limits: { minPartSize: 1 } });
  const storage = createMemoryStore();
  const accountId = `keys${++seq}`;
  const client = makeClient(vault, blobs, storage, { accountId });
  const { recoveryCode } = await client.enable();
  return { blobs, storage, accountId, client, recoveryCode: recoveryCode! };
}

const zeroLookup = () => new Uint8Array(32);

/** Nothing in storage opens under the all-zero key. */
async function assertNothingUnderZeros(blobs: BlobStore, accountId: string): Promise<void> {
  for (const e of await blobs.list('')) {
    const bytes = await blobs.get(e.key);
    if (e.key === LATEST_NAME) {
      expect(() => openLatest(bytes, { keyLookup: zeroLookup, accountId }), 'latest opens under zeros').toThrow();
    } else if (e.key.startsWith('manifests/')) {
      const id = fromHex(e.key.slice('manifests/'.length));
      expect(() => openManifest(bytes, id, { keyLookup: zeroLookup, accountId }), 'manifest opens under zeros').toThrow();
    }
  }
}

describe('keys in use (issue 14, finding 1)', () => {
  it('close() during a backup: the backup is aborted (ABORTED), never sealed under zeros; the next backup resumes and restores', async () => {
    const { blobs, accountId, client, recoveryCode } = await setup();
    const data = testBytes(30_000, 3);
    const p = client.backup(data);
    client.close();
    const outcome = await p.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    expect(isBackupError(outcome, 'ABORTED'), `close() during backup gave ${String(outcome)}`).toBe(true);
    await assertNothingUnderZeros(blobs, accountId);
    await client.unlock({ recoveryCode });
    await client.backup(data);
    await assertNothingUnderZeros(blobs, accountId);
    client.close();
    const restored = await client.restore({ recoveryCode });
    expect(equalBytes(await readAll(restored.stream), data)).toBe(true);
  });

  it('unlock() during a backup: the backup keeps its own copy of the key; manifest and latest open with the code', async () => {
    const { blobs, accountId, client, recoveryCode } = await setup();
    const data = testBytes(30_000, 4);
    const p = client.backup(data);
    await client.unlock({ recoveryCode });
    const r = await p;
    await assertNothingUnderZeros(blobs, accountId);
    const list = await client.listBackups();
    expect(list.map((b) => b.backupId)).toEqual([r.backupId]);
    client.close();
    const restored = await client.restore({ recoveryCode });
    expect(equalBytes(await readAll(restored.stream), data)).toBe(true);
  });

  it('close() during restore and listing: ABORTED, or a result that works; never a zero key', async () => {
    const { client, recoveryCode } = await setup();
    const data = testBytes(5000, 5);
    await client.backup(data);
    const pr = client.restore();
    client.close();
    const e = await errorOf(pr);
    expect(isBackupError(e, 'ABORTED')).toBe(true);
    await client.unlock({ recoveryCode });
    const pl = client.listBackups();
    client.close();
    expect(isBackupError(await errorOf(pl), 'ABORTED')).toBe(true);
  });

  it('close() also closes restores that are open (their keys are wiped)', async () => {
    const { client } = await setup();
    await client.backup(testBytes(5000, 6));
    const restored = await client.restore();
    client.close();
    expect(isBackupError(await errorOf(restored.read(0, 10)))).toBe(true);
  });

  it('a wiped (all-zero) key is refused where keys enter sealing', async () => {
    const k = createKeyring();
    const keyId = Uint8Array.from(k.current.keyId);
    wipeKeyring(k);
    const zero = new Uint8Array(32);
    const m = {
      backupId: new Uint8Array(16).fill(1),
      createdAt: 1,
      keyId,
      archiveSalt: new Uint8Array(32).fill(2),
      archiveSize: 100 + 16,
      plaintextSize: 0,
      chunkSize: 1024,
      chunkCount: 1,
      metadata: {},
    };
    expect(() => sealManifest(m, { key: zero, keyId, accountId: 'a' })).toThrow(/all zero/);
    expect(() => sealLatest({ backupId: m.backupId, createdAt: 1 }, { key: zero, keyId, accountId: 'a' })).toThrow(/all zero/);
    expect(() => encodeKeyring(k)).toThrow(/all zero/);
    const state = {
      backupId: '00'.repeat(16),
      salt: '00'.repeat(32),
      uploadKey: 'archives/x',
      uploadId: 'u',
      chunkSize: 1024,
      chunksPerPart: 1,
      fingerprint: 'f',
      createdAt: 1,
      started: {},
    };
    await expect(saveSession(createMemoryStore(), 'a', { key: zero, keyId }, state)).rejects.toThrow(/all zero/);
  });
});
