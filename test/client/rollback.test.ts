// Issue 14, finding 5: storage replaying an older latest pointer or hiding newer manifests is
// signalled (ROLLBACK_DETECTED), not a silent success; two devices cannot move latest backwards.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { errorOf } from '../support/errors.js';
import { makeClient, makeVault, readAll, testBytes } from './harness.js';

const vault = makeVault();
let seq = 0;

async function twoBackups() {
  const blobs = createMemoryBlobStore({ limits: { minPartSize: 1 } });
  const accountId = `rollback${++seq}`;
  let clock = 1_000_000;
  const client = makeClient(vault, blobs, createMemoryStore(), { accountId, now: () => (clock += 1000) });
  const { recoveryCode } = await client.enable();
  const a = await client.backup(testBytes(3000, 1));
  const oldLatest = await blobs.get('latest');
  const b = await client.backup(testBytes(3000, 2));
  return { blobs, client, accountId, recoveryCode: recoveryCode!, a, b, oldLatest };
}

describe('rollback (issue 14, finding 5)', () => {
  it('a replayed latest pointer: restore and listing say ROLLBACK_DETECTED; allowRollback proceeds', async () => {
    const { blobs, client, a, b, oldLatest } = await twoBackups();
    expect(b.sequence).toBeGreaterThan(a.sequence!);
    await blobs.put('latest', oldLatest);
    const e = await errorOf(client.restore());
    expect(isBackupError(e, 'ROLLBACK_DETECTED'), String(e)).toBe(true);
    expect((e as { details: { expectedSequence?: number } }).details.expectedSequence).toBe(b.sequence);
    expect(isBackupError(await errorOf(client.listBackups()), 'ROLLBACK_DETECTED')).toBe(true);
    const r = await client.restore({ allowRollback: true });
    expect(r.backupId).toBe(a.backupId);
  });

  it('newer manifests hidden (with the old pointer, or with the current one): listing says ROLLBACK_DETECTED', async () => {
    const { blobs, client, b, oldLatest } = await twoBackups();
    await blobs.delete(`manifests/${b.backupId}`);
    expect(isBackupError(await errorOf(client.listBackups()), 'ROLLBACK_DETECTED')).toBe(true);
    await blobs.put('latest', oldLatest);
    expect(isBackupError(await errorOf(client.listBackups()), 'ROLLBACK_DETECTED')).toBe(true);
  });

  it('a new device: the sequence the app kept (minSequence) catches a replayed pointer', async () => {
    const { blobs, accountId, recoveryCode, b, oldLatest } = await twoBackups();
    await blobs.put('latest', oldLatest);
    const fresh = makeClient(vault, blobs, createMemoryStore(), { accountId });
    const e = await errorOf(fresh.restore({ recoveryCode, minSequence: b.sequence! }));
    expect(isBackupError(e, 'ROLLBACK_DETECTED'), String(e)).toBe(true);
  });

  it('two devices: the backup that started first and finished last does not become latest', async () => {
    const inner = createMemoryBlobStore({ limits: { minPartSize: 1 } });
    let clock = 5_000_000;
    const now = () => (clock += 1000);
    const accountId = `rollback${++seq}`;
    // Device 1 stalls before writing its manifest until device 2 has finished.
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    let stalls = 0;
    const slow: BlobStore = {
      ...inner,
      limits: inner.limits,
      async put(key, bytes, options) {
        if (key.startsWith('manifests/') && stalls++ === 0) await stalled;
        return inner.put(key, bytes, options);
      },
    };
    const d1 = makeClient(vault, slow, createMemoryStore(), { accountId, now });
    const d2 = makeClient(vault, inner, createMemoryStore(), { accountId, now });
    const { recoveryCode } = await d1.enable();
    await d2.unlock({ recoveryCode: recoveryCode! });
    const first = testBytes(3000, 7);
    const second = testBytes(3000, 8);
    const p1 = d1.backup(first);
    while (stalls === 0) await new Promise((r) => setTimeout(r, 0));
    const r2 = await d2.backup(second);
    release();
    const r1 = await p1;
    expect(r1.latest).toBe(false);
    expect(r2.latest).toBe(true);
    const restored = await d2.restore();
    expect(restored.backupId).toBe(r2.backupId);
    expect(equalBytes(await readAll(restored.stream), second)).toBe(true);
  });
});
