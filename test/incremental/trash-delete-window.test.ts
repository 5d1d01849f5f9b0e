// Review of 9c29ccf (prune writes the trash by compare-and-swap), the step after that write: a
// prune wrote a trash that no longer named the packs it was about to delete, then deleted them.
// A backup on another device that read the state between that write and the deletions found such
// a pack present, indexed and not condemned, deduplicated against it, and published a snapshot
// naming chunks the prune then deleted. A pack stays in the trash while it is deleted (the next
// prune forgets trash entries of packs that are gone).
import { describe, expect, it } from 'vitest';
import { backupIncremental, openSnapshot, pruneIncremental } from '../../lib/incremental/index.js';
import { isBackupError } from '../../lib/errors.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { chatBytes, collect, testContext } from './support.js';

const DAY = 24 * 3600 * 1000;
const MIN = 60 * 1000;
const GRACE = DAY;

/** A device's view of the shared store whose next pack deletion can be held. */
function holdingDeletes(inner: BlobStore) {
  let held: { arrive: () => void; go: Promise<void> } | undefined;
  let arrive!: () => void;
  let go!: () => void;
  const reached = new Promise<void>((r) => (arrive = r));
  const released = new Promise<void>((r) => (go = r));
  held = { arrive, go: released };
  const store: BlobStore = {
    ...inner,
    limits: inner.limits,
    delete: async (k, o) => {
      if (held !== undefined && /packs\//.test(k)) {
        const h = held;
        held = undefined;
        h.arrive();
        await h.go;
      }
      return inner.delete(k, o);
    },
  };
  return { store, reached, release: go };
}

describe('incremental prune: a pack being deleted stays condemned', () => {
  it('a backup that reads the state after the trash write and before the deletion does not deduplicate against the doomed pack', async () => {
    const shared = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
    const clock = { t: 1_700_000_000_000 };
    const opts = { packSize: 64 * 1024 };
    const D = chatBytes(200_000, 61); // its chunks end up in pack X
    const E = chatBytes(150_000, 62);

    const a = testContext({ store: shared, clock, seed: 1 });
    await backupIncremental(a, D, opts);
    clock.t += 1000;
    await backupIncremental(a, E, opts);

    // S0 (D) older than the grace period: forgotten, X condemned.
    clock.t += GRACE + MIN;
    await pruneIncremental(a, { keep: 1, graceMs: GRACE });

    // A grace period later a prune on device c writes the trash without X and is slow to delete X.
    clock.t += GRACE + MIN;
    const c = holdingDeletes(shared);
    const p = pruneIncremental(testContext({ store: c.store, clock, seed: 2 }), { keep: 1, graceMs: GRACE });
    await c.reached;

    // Meanwhile device d backs up D again, publishing before X is gone.
    const d = testContext({ store: shared, clock, seed: 3 });
    const b = await backupIncremental(d, D, opts);

    c.release();
    expect((await p).deletedPacks).toBeGreaterThan(0);

    let restored: Uint8Array | string;
    try {
      const opened = await openSnapshot(a, b.backupId);
      restored = await collect(opened.stream());
      opened.close();
    } catch (e) {
      restored = isBackupError(e) ? e.code : String(e);
    }
    expect(restored instanceof Uint8Array ? equalBytes(restored, D) : restored, 'the backup made during the deletion restores D').toBe(true);

    // The next prune forgets the trash entries of the packs that are gone; the snapshot still restores.
    clock.t += MIN;
    await pruneIncremental(a, { keep: 2, graceMs: GRACE });
    const again = await openSnapshot(a, b.backupId);
    expect(equalBytes(await collect(again.stream()), D)).toBe(true);
    again.close();
  }, 120_000);
});
