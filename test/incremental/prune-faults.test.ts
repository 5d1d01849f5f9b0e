import { describe, expect, it } from 'vitest';
import { backupIncremental, listSnapshots, openSnapshot, pruneIncremental } from '../../lib/incremental/index.js';
import { BackupError } from '../../lib/errors.js';
import { rotateKeyring } from '../../lib/recovery/keyring.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { concatBytes, equalBytes } from '../../lib/util/bytes.js';
import { chatBytes, collect, seededRandom, testContext } from './support.js';

const DAY = 24 * 3600 * 1000;

/**
 * A store that "crashes" at its k-th mutating call (put or delete): that call and every call
 * after it fail, as if the tab died there, until `revive()`.
 */
function crashingStore(inner: BlobStore, crashAt: number): BlobStore & { revive(): void; mutations: number } {
  let dead = false;
  const s = {
    mutations: 0,
    revive() {
      dead = false;
    },
  };
  const gate = <T>(mutating: boolean, f: () => Promise<T>): Promise<T> => {
    if (dead) return Promise.reject(new BackupError('OFFLINE', 'crashed'));
    if (mutating && s.mutations++ === crashAt) {
      dead = true;
      return Promise.reject(new BackupError('OFFLINE', 'crashed'));
    }
    return f();
  };
  return Object.assign(s, {
    limits: inner.limits,
    createUpload: (k: string, o?: object) => gate(true, () => inner.createUpload(k, o)),
    putPart: (u: Parameters<BlobStore['putPart']>[0], n: number, b: Uint8Array, o?: object) => gate(true, () => inner.putPart(u, n, b, o)),
    listParts: (u: Parameters<BlobStore['listParts']>[0], o?: object) => gate(false, () => inner.listParts(u, o)),
    completeUpload: (u: Parameters<BlobStore['completeUpload']>[0], p: Parameters<BlobStore['completeUpload']>[1], o?: object) => gate(true, () => inner.completeUpload(u, p, o)),
    abortUpload: (u: Parameters<BlobStore['abortUpload']>[0], o?: object) => gate(true, () => inner.abortUpload(u, o)),
    put: (k: string, b: Uint8Array, o?: Parameters<BlobStore['put']>[2]) => gate(true, () => inner.put(k, b, o)),
    get: (k: string, o?: Parameters<BlobStore['get']>[1]) => gate(false, () => inner.get(k, o)),
    head: (k: string, o?: object) => gate(false, () => inner.head(k, o)),
    delete: (k: string, o?: object) => gate(true, () => inner.delete(k, o)),
    list: (p: string, o?: object) => gate(false, () => inner.list(p, o)),
  });
}

const versions: Uint8Array[] = [];
versions.push(chatBytes(300_000, 21));
versions.push(concatBytes(versions[0]!, chatBytes(30_000, 22)));
versions.push(concatBytes(chatBytes(20_000, 23), versions[1]!.subarray(100_000)));
versions.push(concatBytes(versions[2]!, chatBytes(200_000, 24)));

/** One life of the account: backups and prunes, each step surviving a crash of the one before. */
async function script(store: BlobStore & { revive(): void }, clock: { t: number }): Promise<void> {
  const ctx = { ...testContext({ store, clock, seed: 5 }) };
  const step = async (f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      if (!(e instanceof BackupError) || e.code !== 'OFFLINE') throw e;
      store.revive(); // the app restarts
    }
    // Right after every step (crashed or not), every snapshot in the store restores.
    await checkAll(store, clock);
  };
  const backup = (v: number) => step(() => backupIncremental(ctx, versions[v]!, { packSize: 64 * 1024, metadata: { v } }));
  const prune = (keep: number) => step(() => pruneIncremental(ctx, { keep, graceMs: DAY }));
  await backup(0);
  clock.t += 1000;
  await backup(1);
  clock.t += 2 * DAY;
  await backup(2);
  await prune(1);
  clock.t += 2 * DAY;
  await backup(3);
  await prune(2);
  clock.t += 2 * DAY;
  await prune(2);
  clock.t += 2 * DAY;
  await prune(1);
}

async function checkAll(store: BlobStore, clock: { t: number }): Promise<number> {
  const ctx = testContext({ store, clock, seed: 77 });
  const snaps = await listSnapshots(ctx);
  for (const s of snaps) {
    const v = s.metadata['v'] as number;
    const opened = await openSnapshot(ctx, s.backupId);
    expect(equalBytes(await collect(opened.stream()), versions[v]!), `snapshot of version ${v}`).toBe(true);
    opened.close();
  }
  return snaps.length;
}

describe('incremental fault tolerance', () => {
  it('a crash at every mutating step of backups and prunes never loses a kept snapshot', async () => {
    // Count the mutations of a clean run, then crash at each of them in turn.
    const clean = crashingStore(createMemoryBlobStore({ maxTotalBytes: 2 ** 30 }), -1);
    await script(clean, { t: 1_700_000_000_000 });
    const total = clean.mutations;
    expect(total).toBeGreaterThan(20);
    expect(await checkAll(clean, { t: 0 })).toBeGreaterThan(0);
    for (let k = 0; k < total; k++) {
      const inner = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
      const store = crashingStore(inner, k);
      const clock = { t: 1_700_000_000_000 };
      await script(store, clock);
      // After the crash the app goes on: one more backup of the newest version, then prunes past the grace period.
      const ctx = testContext({ store, clock, seed: 1234 + k });
      await backupIncremental(ctx, versions[3]!, { packSize: 64 * 1024, metadata: { v: 3 } });
      const n = await checkAll(store, clock);
      expect(n).toBeGreaterThan(0);
      for (let i = 0; i < 2; i++) {
        clock.t += 2 * DAY;
        await pruneIncremental(ctx, { keep: 1, graceMs: DAY });
      }
      expect(await checkAll(store, clock)).toBeGreaterThanOrEqual(1);
    }
  }, 300_000);

  it('a backup running concurrently with prunes (another device, no lock) keeps its chunks', async () => {
    const store = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
    const clock = { t: 1_700_000_000_000 };
    const a = testContext({ store, clock, seed: 1 });
    const base = chatBytes(300_000, 31);
    await backupIncremental(a, base, { packSize: 64 * 1024 });
    clock.t += 2 * DAY;
    const other = chatBytes(200_000, 32);
    await backupIncremental(a, other, { packSize: 64 * 1024 }); // base's chunks are now referenced by the old snapshot only

    // Device B starts a backup of `base` (it deduplicates against base's packs), then stalls
    // at its first upload while device A prunes the old snapshot away.
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const atUpload = new Promise<void>((r) => (reached = r));
    const slow: BlobStore = {
      ...store,
      put: async (k, b, o) => {
        if (k === 'index/' + k.slice(6) || k.startsWith('manifests/')) {
          reached();
          await stalled;
        }
        return store.put(k, b, o);
      },
    };
    const b = testContext({ store: slow, clock, seed: 2 });
    const grown = concatBytes(base, chatBytes(10_000, 33));
    const running = backupIncremental(b, grown, { packSize: 64 * 1024 });
    await atUpload;
    clock.t += 2 * DAY;
    const p1 = await pruneIncremental(a, { keep: 1, graceMs: DAY });
    expect(p1.deletedSnapshots.length).toBe(1);
    expect(p1.condemnedPacks).toBeGreaterThan(0);
    release();
    const rb = await running;
    clock.t += 2 * DAY;
    await pruneIncremental(a, { keep: 2, graceMs: DAY });
    const s = await openSnapshot(a, rb.backupId);
    expect(equalBytes(await collect(s.stream()), grown)).toBe(true);
  });

  it('keyring rotation: old snapshots stay readable, new chunks use the new generation', async () => {
    const ctx = testContext();
    const data = chatBytes(500_000, 41);
    const r1 = await backupIncremental(ctx, data);
    const rotated = rotateKeyring(ctx.keyring, seededRandom(3), () => 1_800_000_000_000);
    const ctx2 = { ...ctx, keyring: rotated };
    const r2 = await backupIncremental(ctx2, data);
    // New generation: new chunk ids, so every chunk is new once.
    expect(r2.newBytes).toBe(data.length);
    const r3 = await backupIncremental(ctx2, concatBytes(data, chatBytes(1000, 42)));
    expect(r3.newBytes).toBeLessThan(300_000);
    for (const id of [r1.backupId, r2.backupId, r3.backupId]) {
      const s = await openSnapshot(ctx2, id);
      expect((await collect(s.stream())).length).toBe(s.plaintextSize);
      s.close();
    }
    // The old keyring cannot open the new generation's snapshot.
    await expect(openSnapshot(ctx, r2.backupId)).rejects.toMatchObject({ code: 'ARCHIVE_KEY_UNKNOWN' });
  });
});
