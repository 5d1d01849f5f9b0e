// Issue 14's rules applied to incremental backups: every read from storage is bounded by size
// (one ranged GET no longer than the format allows for that object), listings by entries, reads by
// time (TIMEOUT), and the latest pointer carries a sequence, moves only forward with a conditional
// write, and a replayed older pointer is flagged (ROLLBACK_DETECTED).
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { LATEST_NAME, openLatest } from '../../lib/client/manifest.js';
import { backupIncremental, incrementalSupport, listSnapshots, openSnapshot } from '../../lib/incremental/index.js';
import { MAX_INDEX_ENTRIES, MAX_INDEX_ENVELOPE, MAX_INDEX_PACKS, MAX_SNAPSHOT_ENVELOPE, PACK_HEADER_LENGTH, indexGroups, type IndexedPack } from '../../lib/incremental/format.js';
import { MAX_LISTED_SNAPSHOTS } from '../../lib/incremental/repo.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { listCap, type BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { errorOf } from '../support/errors.js';
import { blobClient, makeBlobServer, makeClient, makeVault, readAll } from '../client/harness.js';
import { chatBytes, testContext } from './support.js';

const MiB = 1024 * 1024;
const HUGE = 64 * MiB;

/**
 * A store that, once `on`, answers GETs of matching keys with a 64 MiB object whose first bytes
 * are `prefix` (so it looks like an envelope of the right kind). Like the real adapters it cuts a
 * ranged answer at the range's length; `served` counts what the client was given.
 */
function hostileStore(inner: BlobStore, match: (key: string) => boolean, prefixOf: (key: string) => Uint8Array) {
  const state = { on: false, served: 0, largest: 0 };
  const store: BlobStore = {
    ...inner,
    limits: inner.limits,
    get: async (key, o) => {
      if (!state.on || !match(key)) return inner.get(key, o);
      const from = o?.range?.offset ?? 0;
      const len = o?.range === undefined ? HUGE : Math.max(0, Math.min(o.range.length, HUGE - from));
      state.served += len;
      state.largest = Math.max(state.largest, len);
      const b = new Uint8Array(len).fill(0x41);
      const p = prefixOf(key);
      if (from < p.length) b.set(p.subarray(from, from + len));
      return b;
    },
    list: async (prefix, o) => {
      const l = await inner.list(prefix, o);
      // The listing lies too: small sizes.
      return state.on ? l.map((e) => (match(e.key) ? { ...e, size: 200 } : e)) : l;
    },
  };
  return { store, state };
}

/** The first 22 bytes of a real envelope under `key` (magic, version, kind, keyId). */
async function headOf(inner: BlobStore, key: string): Promise<Uint8Array> {
  return inner.get(key, { range: { offset: 0, length: 22 } });
}

describe('incremental: bounded reads (issue 14 rules)', () => {
  it('a snapshot served as 64 MiB is cut at the snapshot cap and refused (PROTOCOL), for open and for listing', async () => {
    const inner = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
    const heads = new Map<string, Uint8Array>();
    const h = hostileStore(inner, (k) => k.startsWith('manifests/'), (k) => heads.get(k) ?? new Uint8Array(0));
    const ctx = { ...testContext(), blobs: h.store };
    const r1 = await backupIncremental(ctx, chatBytes(100_000, 1));
    const r2 = await backupIncremental(ctx, chatBytes(120_000, 2));
    for (const id of [r1.backupId, r2.backupId]) heads.set(`manifests/${id}`, await headOf(inner, `manifests/${id}`));
    h.state.on = true;
    const e = await errorOf(openSnapshot(ctx, r1.backupId));
    expect(isBackupError(e, 'PROTOCOL'), String(e)).toBe(true);
    expect(h.state.largest).toBeLessThanOrEqual(MAX_SNAPSHOT_ENVELOPE + 1);
    expect(h.state.largest).toBeLessThan(HUGE);

    // Listing two hostile snapshots: neither is read past the cap; they are not listed.
    h.state.served = 0;
    const listed = await listSnapshots(ctx).catch((x: unknown) => x);
    expect(h.state.served).toBeLessThanOrEqual(2 * (MAX_SNAPSHOT_ENVELOPE + 1));
    if (Array.isArray(listed)) expect(listed).toEqual([]);
    else expect(isBackupError(listed), String(listed)).toBe(true);
  });

  it('an index segment served as 64 MiB is cut at the index cap and refused (PROTOCOL)', async () => {
    const inner = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
    const heads = new Map<string, Uint8Array>();
    const h = hostileStore(inner, (k) => k.startsWith('index/'), (k) => heads.get(k) ?? new Uint8Array(0));
    const ctx = { ...testContext(), blobs: h.store };
    const r = await backupIncremental(ctx, chatBytes(100_000, 1));
    for (const e of await inner.list('index/')) heads.set(e.key, await headOf(inner, e.key));
    h.state.on = true;
    const e = await errorOf(openSnapshot(ctx, r.backupId));
    expect(isBackupError(e, 'PROTOCOL'), String(e)).toBe(true);
    expect(h.state.largest).toBeLessThanOrEqual(MAX_INDEX_ENVELOPE + 1);
    expect(h.state.largest).toBeLessThan(HUGE);
  });

  it("an unindexed pack served as 64 MiB: only its header and its directory's length are read", async () => {
    const inner = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
    const heads = new Map<string, Uint8Array>();
    const h = hostileStore(inner, (k) => k.startsWith('packs/'), (k) => heads.get(k) ?? new Uint8Array(0));
    const ctx = { ...testContext(), blobs: h.store };
    await backupIncremental(ctx, chatBytes(300_000, 1), { packSize: 64 * 1024 });
    // Forget the index: the packs look like an interrupted run's, whose directories are read.
    for (const e of await inner.list('index/')) await inner.delete(e.key);
    for (const e of await inner.list('packs/')) heads.set(e.key, await inner.get(e.key, { range: { offset: 0, length: PACK_HEADER_LENGTH } }));
    h.state.on = true;
    await backupIncremental(ctx, chatBytes(300_000, 1), { packSize: 64 * 1024 }).catch(() => undefined);
    expect(h.state.largest).toBeLessThan(3 * MiB); // a directory is at most 65 536 × 40 + 16 bytes
  });

  it('a listing of 10 pages x 10,000 entries is refused after the first page (PROTOCOL, limit)', async () => {
    const inner = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
    const ctx0 = testContext({ store: inner });
    await backupIncremental(ctx0, chatBytes(50_000, 1));
    let pages = 0;
    const store: BlobStore = {
      ...inner,
      limits: inner.limits,
      list: async (prefix, o) => {
        if (!prefix.startsWith('manifests/')) return inner.list(prefix, o);
        // An adapter paging through a hostile store: pages of 10 000, checked after each page.
        const cap = listCap(o);
        const out: { key: string; size: number; etag: string }[] = [];
        for (let page = 0; page < 10; page++) {
          pages++;
          for (let i = 0; i < 10_000; i++) out.push({ key: `manifests/${(page * 10_000 + i).toString(16).padStart(32, '0')}`, size: 200, etag: `"${i}"` });
          cap(out.length);
        }
        return out;
      },
    };
    const ctx = { ...ctx0, blobs: store };
    const e = await errorOf(listSnapshots(ctx));
    expect(isBackupError(e, 'PROTOCOL'), String(e)).toBe(true);
    expect((e as { details: { limit?: number } }).details.limit).toBe(MAX_LISTED_SNAPSHOTS);
    expect(pages).toBe(1);
  });

  it('a store that never answers: TIMEOUT at readTimeoutMs for open, list and backup, even when it ignores the abort', { timeout: 10_000 }, async () => {
    const inner = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
    let hang = false;
    const store: BlobStore = {
      ...inner,
      limits: inner.limits,
      get: (k, o) => (hang ? new Promise<Uint8Array>(() => undefined) : inner.get(k, o)),
      list: (p, o) => (hang ? new Promise(() => undefined) : inner.list(p, o)),
      head: (k, o) => (hang ? new Promise(() => undefined) : inner.head(k, o)),
    };
    const ctx = { ...testContext(), blobs: store, readTimeoutMs: 50 };
    const r = await backupIncremental(ctx, chatBytes(50_000, 1));
    hang = true;
    expect(isBackupError(await errorOf(openSnapshot(ctx, r.backupId)), 'TIMEOUT')).toBe(true);
    expect(isBackupError(await errorOf(openSnapshot(ctx)), 'TIMEOUT')).toBe(true);
    expect(isBackupError(await errorOf(listSnapshots(ctx)), 'TIMEOUT')).toBe(true);
    expect(isBackupError(await errorOf(backupIncremental(ctx, chatBytes(50_000, 2))), 'TIMEOUT')).toBe(true);
  });

  it('the client: restoring a named snapshot from a hanging store is TIMEOUT', { timeout: 10_000 }, async () => {
    const server = makeBlobServer();
    const { store: inner } = blobClient(server);
    let hang = false;
    const store: BlobStore = {
      ...inner,
      limits: inner.limits,
      get: (k, o) => (hang ? new Promise<Uint8Array>(() => undefined) : inner.get(k, o)),
      list: (p, o) => (hang ? new Promise(() => undefined) : inner.list(p, o)),
    };
    const client = makeClient(makeVault(), store, createMemoryStore(), { accountId: 'hang1', incremental: true, incrementalSupport, readTimeoutMs: 50 });
    await client.enable();
    const r = await client.backup(chatBytes(40_000, 1));
    hang = true;
    expect(isBackupError(await errorOf(client.restore({ backupId: r.backupId })), 'TIMEOUT')).toBe(true);
  });
});

describe('incremental: index segments stay within the caps readers accept', () => {
  it('indexGroups splits by packs and by entries, keeping order', () => {
    const entry = { id: new Uint8Array(32), offset: 0, length: 16 };
    const pack = (n: number, i: number): IndexedPack => ({
      packId: Uint8Array.of(i & 0xff, i >> 8),
      keyId: new Uint8Array(16),
      salt: new Uint8Array(32),
      createdAt: 0,
      size: 0,
      entries: new Array<typeof entry>(n).fill(entry),
    });
    const many = Array.from({ length: MAX_INDEX_PACKS + 5 }, (_, i) => pack(1, i));
    expect(indexGroups(many).map((g) => g.length)).toEqual([MAX_INDEX_PACKS, 5]);
    const big = Array.from({ length: 17 }, (_, i) => pack(65_536, i)); // 17 × 64 Ki entries > 1 Mi
    const groups = indexGroups(big);
    expect(groups.map((g) => g.length)).toEqual([16, 1]);
    for (const g of groups) expect(g.reduce((a, p) => a + p.entries.length, 0)).toBeLessThanOrEqual(MAX_INDEX_ENTRIES);
    expect(groups.flat()).toEqual(big);
    expect(indexGroups([])).toEqual([]);
  });
});

describe('incremental: the latest pointer (sequence, conditional write, rollback)', () => {
  it('each backup takes the next sequence and writes the pointer conditionally', async () => {
    const inner = createMemoryBlobStore({ maxTotalBytes: 2 ** 30 });
    const conditional: string[] = [];
    const store: BlobStore = {
      ...inner,
      limits: inner.limits,
      put: (k, b, o) => {
        if (k === LATEST_NAME) conditional.push(o?.ifMatch !== undefined ? 'if-match' : o?.ifNoneMatch === '*' ? 'if-none-match' : 'blind');
        return inner.put(k, b, o);
      },
    };
    const storage = createMemoryStore();
    const ctx = { ...testContext(), blobs: store, storage };
    const r1 = await backupIncremental(ctx, chatBytes(50_000, 1));
    const r2 = await backupIncremental(ctx, chatBytes(60_000, 1));
    expect([r1.sequence, r2.sequence]).toEqual([1, 2]);
    expect(r2.latest).toBe(true);
    expect(conditional).toEqual(['if-none-match', 'if-match']);
    const k = ctx.keyring.current;
    const p = openLatest(await inner.get(LATEST_NAME), { accountId: 'alice', keyLookup: (id) => (equalBytes(id, k.keyId) ? k.key : undefined) });
    expect(p.seq).toBe(2);
    // A pointer already newer (another device's later backup) is not moved back.
    const newer = await backupIncremental({ ...ctx, storage: createMemoryStore() }, chatBytes(10_000, 3));
    expect(newer.sequence).toBe(3);
  });

  it('a replayed older latest pointer after an incremental backup is ROLLBACK_DETECTED (restore and list)', async () => {
    const server = makeBlobServer();
    const { store } = blobClient(server);
    const storage = createMemoryStore();
    const client = makeClient(makeVault(), store, storage, { accountId: 'replay1', incremental: true, incrementalSupport });
    await client.enable();
    const v1 = chatBytes(60_000, 1);
    const r1 = await client.backup(v1);
    const old = await server.backing.get(LATEST_NAME);
    const r2 = await client.backup(chatBytes(70_000, 2));
    expect(r2.sequence).toBeGreaterThan(r1.sequence ?? 0);
    await server.backing.put(LATEST_NAME, old);
    expect(isBackupError(await errorOf(client.restore()), 'ROLLBACK_DETECTED')).toBe(true);
    expect(isBackupError(await errorOf(client.listBackups()), 'ROLLBACK_DETECTED')).toBe(true);
    // Allowed explicitly, the old one restores.
    const r = await client.restore({ allowRollback: true });
    expect(r.backupId).toBe(r1.backupId);
    expect(equalBytes(await readAll(r.stream), v1)).toBe(true);
    r.close();
  });
});
