// Issue 14, findings 2 and 3: a (salt, chunk index) encrypts one plaintext only, whatever the device
// store (a session record put back), a crash, or another tab (a throttled holder of an expired
// lease) does. The blob store records every part body it was handed; two different bodies for one
// (upload, part number) would be two plaintexts under one nonce.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackupError, isBackupError } from '../../lib/errors.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore, type KeyValueStore, type StoredValue } from '../../lib/storage/kv.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { makeClient, makeVault, readAll, recordingStore, testBytes } from './harness.js';

const vault = makeVault();
let seq = 0;
const SIZE = 400 * 1024; // an edit between the first and last 64 KiB (parts 17..82) keeps the fingerprint
const PART = 4 * 1040; // harness: 1 KiB chunks, 4 per part

/** Poll (macrotasks) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 0));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Same size, same first and last 64 KiB, 8 bytes changed at `offset`. */
function edited(data: Uint8Array, offset: number): Uint8Array {
  const out = Uint8Array.from(data);
  for (let i = 0; i < 8; i++) out[offset + i] = out[offset + i]! ^ 0xa5;
  return out;
}

/** A sleep whose timers never fire (a throttled background tab); it only rejects when aborted. */
const throttled = (_ms: number, signal?: AbortSignal) =>
  new Promise<void>((_, reject) => {
    if (signal?.aborted) reject(signal.reason);
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

describe('nonce reuse (issue 14, findings 2 and 3)', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('a session record put back from before any part was recorded, then a source edited in the middle: the resume uses a fresh salt', async () => {
    const rec = recordingStore(createMemoryBlobStore({ limits: { minPartSize: 1 } }));
    const inner = createMemoryStore();
    let snapshot: StoredValue | undefined;
    const keep = (k: string, v: StoredValue | undefined) => {
      if (k.startsWith('upload-session/') && snapshot === undefined && v !== undefined) snapshot = structuredClone(v);
    };
    const storage: KeyValueStore = {
      ...inner,
      async set(k, v) {
        keep(k, v);
        return inner.set(k, v);
      },
      async update(k, fn) {
        return inner.update(k, (old) => {
          const next = fn(old as never);
          keep(k, next);
          return next;
        });
      },
    };
    const accountId = `nonce${++seq}`;
    const client = makeClient(vault, rec.store, storage, { accountId });
    const { recoveryCode } = await client.enable();
    const data = testBytes(SIZE, 11);
    let failing = true;
    rec.setHook((n) => {
      if (failing && n >= 30) throw new BackupError('UNAUTHORIZED', 'refused');
    });
    expect(isBackupError(await client.backup(data).catch((e: unknown) => e), 'UNAUTHORIZED')).toBe(true);
    expect(snapshot).toBeDefined();
    // The attacker (or a crash under relaxed durability) puts the first record back.
    await inner.set(`upload-session/${accountId}`, snapshot!);
    failing = false;
    const changed = edited(data, 21 * PART + 100); // inside part 22, which the store already holds
    const r = await client.backup(changed);
    expect(rec.violations()).toEqual([]);
    expect(r.resumed).toBe(false);
    client.close();
    const restored = await client.restore({ recoveryCode });
    expect(equalBytes(await readAll(restored.stream), changed)).toBe(true);
  });

  it('two tabs on the lease: a tab throttled past its lease sends nothing more once the other took over', async () => {
    const rec = recordingStore(createMemoryBlobStore({ limits: { minPartSize: 1 } }));
    const storage = createMemoryStore(); // the origin's IndexedDB, shared by both tabs
    let clock = 1_000_000;
    const now = () => clock;
    const gate = (from: number) => {
      let open = false;
      let blocked = 0;
      let release!: () => void;
      const opened = new Promise<void>((r) => (release = r));
      const store: BlobStore = {
        ...rec.store,
        limits: rec.store.limits,
        async putPart(upload, n, bytes, options) {
          if (!open && n >= from) {
            blocked++;
            await opened;
          }
          return rec.store.putPart(upload, n, bytes, options);
        },
      };
      return {
        store,
        blocked: () => blocked,
        open: () => {
          open = true;
          release();
        },
      };
    };
    const accountId = `nonce${++seq}`;
    const gateA = gate(20);
    const gateB = gate(30);
    // Node has no Web Locks: the lease fallback.
    const tabA = makeClient(vault, gateA.store, storage, { accountId, now, leaseMs: 1000, sleep: throttled });
    const tabB = makeClient(vault, gateB.store, storage, { accountId, now, leaseMs: 1000 });
    const { recoveryCode } = await tabA.enable();
    await tabB.unlock({ recoveryCode: recoveryCode! });
    const data = testBytes(SIZE, 12);
    const changed = edited(data, 27 * PART + 100); // part 28: never recorded by tab A
    const pA = tabA.backup(data).catch((e: unknown) => e);
    await until(() => gateA.blocked() > 0, 'tab A to stall');
    clock += 10_000; // tab A's lease expired; its timers never fired
    const pB = tabB.backup(changed);
    await until(() => gateB.blocked() > 0, 'tab B to send up to part 29');
    gateA.open(); // tab A wakes up
    const outcomeA = await pA;
    expect(rec.violations()).toEqual([]);
    expect(isBackupError(outcomeA), `tab A: ${String(outcomeA)}`).toBe(true);
    gateB.open();
    // Tab A's late (identical) parts replaced tab B's, so B's completion may fail on their ETags;
    // that is a typed failure, and the next call resumes and completes.
    const r = await pB.catch(async (e: unknown) => {
      expect(isBackupError(e), String(e)).toBe(true);
      return tabB.backup(changed);
    });
    expect(rec.violations()).toEqual([]);
    const restored = await tabB.restore({ backupId: r.backupId });
    expect(equalBytes(await readAll(restored.stream), changed)).toBe(true);
  });

  it('Web Locks are used by default where the platform has them; locks: false forces the lease', async () => {
    const requests: string[] = [];
    vi.stubGlobal('navigator', {
      locks: {
        async request<T>(name: string, _o: unknown, cb: (lock: unknown) => Promise<T>): Promise<T> {
          requests.push(name);
          return cb({ name });
        },
      },
    });
    const storage = createMemoryStore();
    const blobs = createMemoryBlobStore({ limits: { minPartSize: 1 } });
    const accountId = `nonce${++seq}`;
    const client = makeClient(vault, blobs, storage, { accountId });
    await client.enable();
    await client.backup(testBytes(3000, 1));
    expect(requests).toEqual([`e2ee-backup/${accountId}/backup`]);
    expect(await storage.keys('lock/')).toEqual([]);
    const leased = makeClient(vault, blobs, storage, { accountId, locks: false });
    await leased.unlock({ recoveryCode: (await client.enable({ reset: true })).recoveryCode! });
    await leased.backup(testBytes(3000, 2));
    expect(requests.length).toBe(1);
    expect(await storage.keys('lock/')).toEqual([`lock/e2ee-backup/${accountId}/backup`]);
  });
});
