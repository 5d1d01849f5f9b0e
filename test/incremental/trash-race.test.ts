// The trash list under two concurrent prunes (two devices of one account: the client's lock is
// per browser, docs/INCREMENTAL.md §8). A prune reads the trash, decides, and writes it back; when
// that write was unconditional, a prune that read the trash before another prune rescued a pack
// wrote the old condemnation back, with its old time. A third prune then found the pack "condemned
// a grace period ago" and deleted it while a backup that had (rightly) deduplicated against the
// rescued pack was still running: that backup's snapshot named chunks that no longer existed.
// Every step below keeps the documented rule (each backup runs shorter than the grace period).
// This test failed against the code before the trash was written by compare-and-swap.
import { describe, expect, it } from 'vitest';
import { backupIncremental, listSnapshots, openSnapshot, pruneIncremental } from '../../lib/incremental/index.js';
import { isBackupError } from '../../lib/errors.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { chatBytes, collect, testContext } from './support.js';

const DAY = 24 * 3600 * 1000;
const MIN = 60 * 1000;
const GRACE = DAY;

interface Held {
  /** Resolves when the held call arrives (it then waits). */
  readonly reached: Promise<void>;
  /** Let the held call proceed. */
  release(): void;
}

/**
 * One client's view of a shared store, whose calls can be held: `hold('put', /trash$/)` makes
 * the next matching put wait until released, so two clients' steps interleave exactly as scripted.
 */
function controlled(inner: BlobStore): BlobStore & { hold(op: 'put' | 'delete', key: RegExp): Held; readonly puts: string[] } {
  const puts: string[] = [];
  const holds: { op: string; key: RegExp; arrive: () => void; go: Promise<void> }[] = [];
  const gate = async (op: string, key: string) => {
    const i = holds.findIndex((h) => h.op === op && h.key.test(key));
    if (i < 0) return;
    const [h] = holds.splice(i, 1);
    h!.arrive();
    await h!.go;
  };
  return {
    ...inner,
    limits: inner.limits,
    puts,
    put: async (k, b, o) => {
      puts.push(k);
      await gate('put', k);
      return inner.put(k, b, o);
    },
    delete: async (k, o) => {
      await gate('delete', k);
      return inner.delete(k, o);
    },
    hold(op, key) {
      let arrive!: () => void;
      let go!: () => void;
      const reached = new Promise<void>((r) => (arrive = r));
      const goP = new Promise<void>((r) => (go = r));
      holds.push({ op, key, arrive, go: goP });
      return { reached, release: go };
    },
  };
}

describe('incremental trash: two prunes at once', () => {
  it('a prune that read the trash before another rescued a pack does not write the old condemnation back', async () => {
    const shared = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
    const clock = { t: 1_700_000_000_000 };
    let seed = 1;
    /** A client (device) of the account: its own random source, the shared store and clock. */
    const device = () => {
      const store = controlled(shared);
      return { store, ctx: testContext({ store, clock, seed: seed++ }) };
    };
    const opts = { packSize: 64 * 1024 };
    const D = chatBytes(200_000, 31); // the history whose chunks end up in pack X
    const E = chatBytes(150_000, 32); // unrelated
    const F = chatBytes(150_000, 33); // unrelated
    const snapshotPut = /manifests\/[0-9a-f]{32}$/;

    // T: S0 = D (its chunks in pack X), then S1 = E.
    const a = device();
    await backupIncremental(a.ctx, D, opts);
    clock.t += 1000;
    await backupIncremental(a.ctx, E, opts);

    // t0 - 1 min: B_old backs up D on device b; it finds every chunk in X and is slow to publish.
    const t0 = clock.t + GRACE + MIN;
    clock.t = t0 - MIN;
    const b = device();
    const bOldHeld = b.store.hold('put', snapshotPut);
    const bOld = backupIncremental(b.ctx, D, opts);
    await bOldHeld.reached;

    // t0: P0 forgets S0 (older than the grace period): nothing present names D's chunks, X is condemned.
    clock.t = t0;
    await pruneIncremental(a.ctx, { keep: 1, graceMs: GRACE });

    // t0 + 1 min: P2 on device c lists the snapshots (B_old not published yet: X unreferenced,
    // condemned at t0) and is slow to write the trash.
    clock.t = t0 + MIN;
    const c = device();
    const p2Held = c.store.hold('put', /trash$/);
    const p2 = pruneIncremental(c.ctx, { keep: 1, graceMs: GRACE });
    await p2Held.reached;

    // B_old publishes: its snapshot names X's chunks.
    bOldHeld.release();
    const oldResult = await bOld;

    // t0 + grace/2: P1 sees B_old's snapshot and rescues X (the trash no longer names it).
    clock.t = t0 + GRACE / 2;
    await pruneIncremental(a.ctx, { keep: 1, graceMs: GRACE });

    // B_new on device d backs up D again: X is not condemned, so it deduplicates against X; it
    // runs for half the grace period (shorter than the grace period, as the rule asks).
    const d = device();
    const bNewHeld = d.store.hold('put', snapshotPut);
    const bNew = backupIncremental(d.ctx, D, opts);
    await bNewHeld.reached;

    // P2 goes on: its conditional write of the trash loses (P1 wrote it meanwhile), so it reads
    // again (B_old's snapshot now names X) and writes a trash without X.
    p2Held.release();
    await p2;
    expect(c.store.puts.filter((k) => k.endsWith('trash'))).toHaveLength(2);

    // A newer backup of other data becomes latest, so B_old's snapshot can be forgotten.
    clock.t += MIN;
    await backupIncremental(a.ctx, F, opts);

    // t0 + grace + 2 min: P3 forgets B_old (older than the grace period, not the newest, not
    // latest). B_new has not published yet, so nothing present names X's chunks. X may be
    // condemned now, but not deleted: it was rescued half a grace period ago.
    clock.t = t0 + GRACE + 2 * MIN;
    await pruneIncremental(a.ctx, { keep: 1, graceMs: GRACE });

    // B_new publishes, after running for half the grace period plus a few minutes.
    bNewHeld.release();
    const newResult = await bNew;
    expect(clock.t - (t0 + GRACE / 2)).toBeLessThan(GRACE);

    const ids = (await listSnapshots(a.ctx)).map((s) => s.backupId);
    expect(ids).toContain(newResult.backupId);
    expect(ids).not.toContain(oldResult.backupId);
    let restored: Uint8Array | string;
    try {
      const opened = await openSnapshot(a.ctx, newResult.backupId);
      restored = await collect(opened.stream());
      opened.close();
    } catch (e) {
      restored = isBackupError(e) ? e.code : String(e);
    }
    expect(restored instanceof Uint8Array ? equalBytes(restored, D) : restored, 'B_new restores D').toBe(true);
  }, 120_000);

  it('a prune whose every trash write loses gives up with BLOB_STORE_FAILED and deletes nothing', async () => {
    const inner = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
    const clock = { t: 1_700_000_000_000 };
    const a = testContext({ store: inner, clock, seed: 1 });
    await backupIncremental(a, chatBytes(100_000, 41), { packSize: 64 * 1024 });
    clock.t += 1000;
    await backupIncremental(a, chatBytes(100_000, 42), { packSize: 64 * 1024 });
    clock.t += 2 * GRACE;
    await pruneIncremental(a, { keep: 1, graceMs: GRACE }); // condemns the first backup's pack
    clock.t += 2 * GRACE;
    // Another device writes the trash (the same bytes) right before each of this prune's writes.
    let trashPuts = 0;
    const racing: BlobStore = {
      ...inner,
      limits: inner.limits,
      put: async (k, b, o) => {
        if (k.endsWith('trash')) {
          trashPuts++;
          await inner.put(k, await inner.get(k));
        }
        return inner.put(k, b, o);
      },
    };
    const before = (await inner.list('packs/')).length;
    const e = await pruneIncremental({ ...a, blobs: racing }, { keep: 1, graceMs: GRACE }).catch((x: unknown) => x);
    expect(isBackupError(e, 'BLOB_STORE_FAILED')).toBe(true);
    expect(trashPuts).toBe(8);
    expect((await inner.list('packs/')).length).toBe(before);
    // Alone, the same prune deletes the pack condemned two grace periods ago.
    expect((await pruneIncremental(a, { keep: 1, graceMs: GRACE })).deletedPacks).toBe(1);
  });
});
