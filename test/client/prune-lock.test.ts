// Issue 14, finding 6 (last part): pruneBackups takes the backup lock with the client's leaseMs,
// waitForLock and lockTimeoutMs, as backup() does.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { errorOf } from '../support/errors.js';
import { makeClient, makeVault, testBytes } from './harness.js';

const vault = makeVault();

describe('pruneBackups and the lock options (issue 14)', () => {
  it('waitForLock: false fails at once with BACKUP_IN_PROGRESS; lockTimeoutMs gives TIMEOUT', async () => {
    const blobs = createMemoryBlobStore({ limits: { minPartSize: 1 } });
    const storage = createMemoryStore();
    const accountId = 'prune-lock';
    const client = makeClient(vault, blobs, storage, { accountId, waitForLock: false });
    const { recoveryCode } = await client.enable();
    await client.backup(testBytes(2000, 1));
    // Another tab holds the lease for a long time.
    await storage.set(`lock/e2ee-backup/${accountId}/backup`, { owner: 'other-tab', expiresAt: Date.now() + 3_600_000 });
    expect(isBackupError(await errorOf(client.pruneBackups({ keep: 1 })), 'BACKUP_IN_PROGRESS')).toBe(true);
    const timed = makeClient(vault, blobs, storage, { accountId, lockTimeoutMs: 0 });
    await timed.unlock({ recoveryCode: recoveryCode! });
    expect(isBackupError(await errorOf(timed.pruneBackups({ keep: 1 })), 'TIMEOUT')).toBe(true);
  });
});
