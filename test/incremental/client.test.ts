// The BackupClient's incremental mode end to end: reference vault and blob server in-process.
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { concatBytes, equalBytes } from '../../lib/util/bytes.js';
import { blobClient, makeBlobServer, makeClient, makeVault, readAll } from '../client/harness.js';
import { chatBytes } from './support.js';
import { incrementalSupport } from '../../lib/incremental/index.js';
import { isBackupError } from '../../lib/errors.js';

const vault = makeVault();

describe('BackupClient, incremental: true', () => {
  it('backs up, sends little the second time, restores both, lists and prunes, alongside plain backups', async () => {
    const server = makeBlobServer();
    const { store } = blobClient(server);
    const storage = createMemoryStore();
    const client = makeClient(vault, store, storage, { accountId: 'inc1', incremental: true, incrementalSupport });
    const { recoveryCode } = await client.enable();
    const v1 = chatBytes(700_000, 1);
    const progress: { newBytes?: number; skippedBytes?: number }[] = [];
    const r1 = await client.backup(v1, { metadata: { n: 1 }, onProgress: (p) => progress.push(p) });
    expect(r1.newBytes).toBe(v1.length);
    expect(progress.at(-1)?.newBytes).toBe(v1.length);
    const v2 = concatBytes(v1, chatBytes(7_000, 2));
    const r2 = await client.backup(v2, { metadata: { n: 2 } });
    expect(r2.skippedBytes! + r2.newBytes!).toBe(v2.length);
    expect(r2.newBytes!).toBeLessThan(7_000 + 256 * 1024);
    expect(r2.archiveSize).toBeLessThan(v2.length / 2); // bytes sent this time

    // A plain backup from a plain client on the same account in between.
    const plainClient = makeClient(vault, store, storage, { accountId: 'inc1' });
    await plainClient.unlock({ recoveryCode: recoveryCode! });
    const rp = await plainClient.backup(chatBytes(5000, 3));
    const v3 = concatBytes(v2, chatBytes(3_000, 4));
    const r3 = await client.backup(v3, { metadata: { n: 3 } });

    // A new device restores the latest (incremental) and any named one.
    const fresh = makeClient(vault, store, createMemoryStore(), { accountId: 'inc1', incrementalSupport });
    const latest = await fresh.restore({ recoveryCode: recoveryCode! });
    expect(latest.backupId).toBe(r3.backupId);
    expect(equalBytes(await readAll(latest.stream), v3)).toBe(true);
    expect(equalBytes(await latest.read(v3.length - 100, 100), v3.subarray(v3.length - 100))).toBe(true);
    latest.close();
    for (const [id, v] of [[r1.backupId, v1], [r2.backupId, v2]] as const) {
      const r = await fresh.restore({ backupId: id });
      expect(equalBytes(await readAll(r.stream), v)).toBe(true);
      r.close();
    }
    const plain = await fresh.restore({ backupId: rp.backupId });
    expect(plain.plaintextSize).toBe(5000);
    plain.close();

    const listed = await fresh.listBackups();
    expect(listed.map((b) => b.backupId).sort()).toEqual([r1.backupId, r2.backupId, r3.backupId, rp.backupId].sort());
    expect(listed.find((b) => b.latest)?.backupId).toBe(r3.backupId);

    // Prune: incremental snapshots younger than the grace period are kept; nothing readable is lost.
    await client.pruneBackups({ keep: 1 });
    const after = await fresh.listBackups();
    for (const b of after) {
      const r = await fresh.restore({ backupId: b.backupId });
      expect((await readAll(r.stream)).length).toBe(b.plaintextSize);
      r.close();
    }
  });
});

describe('BackupClient without incrementalSupport (the package entry does not load lib/incremental)', () => {
  it('refuses incremental: true alone, and says a snapshot needs incrementalSupport instead of misreading it', async () => {
    const server = makeBlobServer();
    const { store } = blobClient(server);
    expect(() => makeClient(vault, store, createMemoryStore(), { accountId: 'inc2', incremental: true })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ option: 'incremental' }) }),
    );
    const client = makeClient(vault, store, createMemoryStore(), { accountId: 'inc2', incremental: true, incrementalSupport });
    const { recoveryCode } = await client.enable();
    const plainBytes = chatBytes(4000, 5);
    const rp = await makeClientUnlocked(store, recoveryCode!).then((c) => c.backup(plainBytes));
    const rs = await client.backup(chatBytes(50_000, 6));

    const plain = makeClient(vault, store, createMemoryStore(), { accountId: 'inc2' });
    const err = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
    // latest names the snapshot: restore and list say what is missing (not ROLLBACK_DETECTED).
    const e1 = await err(plain.restore({ recoveryCode: recoveryCode! }));
    expect(isBackupError(e1, 'ENGINE_UNAVAILABLE')).toBe(true);
    expect(String((e1 as Error).message)).toContain('incrementalSupport');
    expect(isBackupError(await err(plain.restore({ backupId: rs.backupId })), 'ENGINE_UNAVAILABLE')).toBe(true);
    expect(isBackupError(await err(plain.listBackups()), 'ENGINE_UNAVAILABLE')).toBe(true);
    // A plain backup still restores.
    const r = await plain.restore({ backupId: rp.backupId });
    expect(equalBytes(await readAll(r.stream), plainBytes)).toBe(true);
    r.close();
  });
});

function makeClientUnlocked(store: Parameters<typeof makeClient>[1], recoveryCode: string) {
  const c = makeClient(vault, store, createMemoryStore(), { accountId: 'inc2' });
  return c.unlock({ recoveryCode }).then(() => c);
}

describe('the client seam', () => {
  it('agrees with the format on the snapshot kind', async () => {
    const { SNAPSHOT_KIND } = await import('../../lib/incremental/client-hook.js');
    const { KIND_SNAPSHOT } = await import('../../lib/incremental/format.js');
    expect(SNAPSHOT_KIND).toBe(KIND_SNAPSHOT);
  });
});
