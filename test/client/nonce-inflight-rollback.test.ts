// The limit of the nonce invariant that docs/THREAT-MODEL.md ("One plaintext per nonce") and
// docs/CLIENT.md §The invariant state: it does not hold for a part still in flight at the moment
// the device store is rolled back. This test shows that exact case, so the documents stay true:
// with the lease fallback (no Web Locks), a throttled tab has part N in flight; the session record
// is put back to the one from before part N; the tab that takes over the expired lease resumes
// (the store does not list part N yet: its body is still arriving) under the same salt and sends
// a different body for part N. Both bodies reach an honest store. If this test starts failing,
// the limit is gone: update both documents and the exclusion in nonce-property.test.ts.
// (Found when test/client/nonce-property.test.ts, which then counted this case, failed in some
// runs: shrunk to backup, 2 steps, rollback, 1 step, expire, backup of an edited source, fail.)
import { describe, expect, it } from 'vitest';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { createMemoryStore, type KeyValueStore, type StoredValue } from '../../lib/storage/kv.js';
import { makeClient, makeVault, recordingStore, testBytes } from './harness.js';

const vault = makeVault();
const PART_PLAIN = 4 * 1024; // harness: 1 KiB chunks, 4 per part
const SIZE = 200 * 1024;
// A part past the first 64 KiB, which the source fingerprint samples (with the last 64 KiB).
const N = 20;

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 0));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A sleep whose timers never fire (a throttled background tab); it only rejects when aborted. */
const throttled = (_ms: number, signal?: AbortSignal) =>
  new Promise<void>((_, reject) => {
    if (signal?.aborted) reject(signal.reason);
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

describe('nonce invariant: its documented limit, a record put back while a part is in flight', () => {
  it('the tab that takes over sends a second body for the part the stale tab has in flight', async () => {
    const rec = recordingStore(createMemoryBlobStore({ limits: { minPartSize: 1 } }));
    const inner = createMemoryStore();
    const records: StoredValue[] = [];
    const storage: KeyValueStore = {
      ...inner,
      async set(k, v) {
        if (k.startsWith('upload-session/') && v !== undefined) records.push(structuredClone(v));
        return inner.set(k, v);
      },
      async update(k, fn) {
        return inner.update(k, (old) => {
          const next = fn(old as never);
          if (k.startsWith('upload-session/') && next !== old && next !== undefined) records.push(structuredClone(next));
          return next;
        });
      },
    };
    let clock = 1_000_000;
    const now = () => clock;
    const accountId = 'inflight';
    // One part at a time in tab A, so the records follow the parts exactly.
    const tabA = makeClient(vault, rec.store, storage, { accountId, now, leaseMs: 1000, sleep: throttled, concurrency: 1 });
    const tabB = makeClient(vault, rec.store, storage, { accountId, now, leaseMs: 1000 });
    const { recoveryCode } = await tabA.enable();
    await tabB.unlock({ recoveryCode: recoveryCode! });

    // Tab A's parts from N on leave (the store records their bodies) and take long to arrive.
    let holdA = true;
    let inFlight = 0;
    let recordsAtN = 0;
    let arrive!: () => void;
    const arrived = new Promise<void>((r) => (arrive = r));
    rec.setHook(async (n) => {
      if (holdA && n >= N) {
        if (n === N) recordsAtN = records.length;
        inFlight++;
        await arrived;
      }
    });
    const data = testBytes(SIZE, 5);
    const pA = tabA.backup(data).catch((e: unknown) => e);
    await until(() => inFlight >= 1 && recordsAtN > 0, `tab A to have part ${N} in flight`);
    // The device store rolls the session record back to the one before part N was recorded (the
    // record naming part N is the last saved when part N left).
    await inner.set(`upload-session/${accountId}`, structuredClone(records[recordsAtN - 2]!));
    holdA = false;
    clock += 10_000; // tab A's lease expired; its timers never fired

    // Tab B backs up the same history with part N edited (the fingerprint samples the ends only).
    const changed = Uint8Array.from(data);
    for (let i = 0; i < 8; i++) changed[(N - 1) * PART_PLAIN + 100 + i]! ^= 0x5a;
    const rB = await tabB.backup(changed);
    expect(rB.resumed).toBe(true); // it resumed the stale tab's upload, under the same salt
    arrive();
    await pA;
    // Exactly the part that was in flight at the rollback, and nothing else.
    expect(rec.violations()).toEqual([expect.stringMatching(new RegExp(` part ${N}: 2 bodies$`))]);
    tabA.close();
    tabB.close();
  });
});
