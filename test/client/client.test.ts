// The BackupClient end to end against the reference vault and the reference blob server
// in-process, with the fault-injecting fetch between the client and the blob server.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { createMemoryStore, type KeyValueStore } from '../../lib/storage/kv.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { errorOf } from '../support/errors.js';
import type { Fault } from '../support/faulty-fetch.js';
import { blobClient, makeBlobServer, makeClient, makeVault, readAll, readUntilError, testBytes } from './harness.js';
import { deviceCacheSupport } from '../../lib/keys.js';

const vault = makeVault();
let accountSeq = 0;
const nextAccount = () => `acct${++accountSeq}`;

async function enabledClient(opts: { faults?: Parameters<typeof blobClient>[1]; dialect?: 'http' | 's3' } = {}) {
  const server = makeBlobServer();
  const { store, faulty } = blobClient(server, opts.faults ?? {}, opts.dialect ?? 'http');
  const storage = createMemoryStore();
  const accountId = nextAccount();
  const client = makeClient(vault, store, storage, { accountId });
  const { recoveryCode } = await client.enable();
  return { client, server, store, faulty, storage, accountId, recoveryCode: recoveryCode! };
}

describe('backup and restore', () => {
  it('Uint8Array source: byte-identical restore, metadata, random access, list', async () => {
    const { client, recoveryCode } = await enabledClient();
    const data = testBytes(40_000);
    const progress: number[] = [];
    const r = await client.backup(data, { metadata: { chats: 3, label: 'nightly' }, onProgress: (p) => progress.push(p.bytes) });
    expect(r.resumed).toBe(false);
    expect(r.plaintextSize).toBe(40_000);
    expect(progress.at(-1)).toBe(r.archiveSize);
    client.close();
    const restored = await client.restore({ recoveryCode });
    expect(restored.metadata).toEqual({ chats: 3, label: 'nightly' });
    expect(equalBytes(await readAll(restored.stream), data)).toBe(true);
    // Newest messages first: the last 3000 bytes by ranged reads.
    expect(equalBytes(await restored.read(37_000, 3000), data.subarray(37_000))).toBe(true);
    const list = await client.listBackups();
    expect(list.map((b) => b.backupId)).toEqual([r.backupId]);
    expect(list[0]!.latest).toBe(true);
  });

  it('Blob, ReadableStream and empty sources; S3 dialect', async () => {
    const { client } = await enabledClient({ dialect: 's3' });
    const data = testBytes(9_999, 5);
    await client.backup(new Blob([data]));
    expect(equalBytes(await readAll((await client.restore()).stream), data)).toBe(true);
    const streamed = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < data.length; i += 777) c.enqueue(data.slice(i, i + 777));
        c.close();
      },
    });
    await client.backup(streamed);
    expect(equalBytes(await readAll((await client.restore()).stream), data)).toBe(true);
    await client.backup(new Uint8Array(0));
    const empty = await client.restore();
    expect(empty.plaintextSize).toBe(0);
    expect((await readAll(empty.stream)).length).toBe(0);
  });

  it('without a keyring the client says NOT_ENABLED; a wrong code says WRONG_CODE', async () => {
    const { client, accountId, store, storage } = await enabledClient();
    const other = makeClient(vault, store, storage, { accountId });
    expect(isBackupError(await errorOf(other.backup(testBytes(10))), 'NOT_ENABLED')).toBe(true);
    const wrong = await errorOf(other.restore({ recoveryCode: new TextEncoder().encode('not the code') }));
    expect(isBackupError(wrong, 'WRONG_CODE')).toBe(true);
    client.close();
  });
});

describe('faults on the blob store', () => {
  const kinds: readonly Fault[] = [
    { kind: 'drop' },
    { kind: 'drop-response' },
    { kind: 'status', status: 503 },
    { kind: 'status', status: 500 },
    { kind: 'status', status: 429, retryAfter: '0' },
    { kind: 'hang' },
    { kind: 'slow-body', chunkSize: 512, delayMs: 0 },
    { kind: 'cut-request' },
    { kind: 'cut-response' },
  ];

  for (const fault of kinds) {
    it(`every part's first attempt hit by ${fault.kind}${'status' in fault ? ' ' + fault.status : ''}: completes, byte-identical`, async () => {
      const { client, faulty } = await enabledClient({
        faults: { schedule: (c) => (c.method === 'PUT' && c.index % 2 === 0 ? fault : undefined) },
      });
      const data = testBytes(30_000, 9);
      await client.backup(data);
      expect(faulty.log.some((e) => e.fault !== undefined)).toBe(true);
      expect(equalBytes(await readAll((await client.restore()).stream), data)).toBe(true);
    });
  }

  const startFaults: readonly Fault[] = [{ kind: 'drop' }, { kind: 'drop-response' }, { kind: 'status', status: 503 }, { kind: 'hang' }];
  for (const fault of startFaults) {
    it(`starting the upload hit by ${fault.kind}${'status' in fault ? ' ' + fault.status : ''}: retried, completes, byte-identical`, async () => {
      const isCreate = (c: { method: string; url: string }) => c.method === 'POST' && !c.url.includes('uploadId=');
      let hit = 0;
      const { client, server, faulty } = await enabledClient({
        faults: { schedule: (c) => (isCreate(c) && hit++ === 0 ? fault : undefined) },
      });
      const data = testBytes(20_000, 3);
      await client.backup(data);
      const creates = faulty.log.filter(isCreate);
      expect(creates.length).toBe(2);
      expect(creates[0]!.fault).toEqual(fault);
      expect(equalBytes(await readAll((await client.restore()).stream), data)).toBe(true);
      // A lost answer leaves at most an empty upload that was never completed: one archive only.
      const archives = await server.backing.list('archives/');
      expect(archives.length).toBe(1);
    });
  }

  it('a seeded random mix of every fault on every call: completes or fails typed; a re-run finishes', async () => {
    for (const seed of [1, 2, 3]) {
      const { client, server, recoveryCode, accountId, storage } = await enabledClient({ faults: { seed, rate: 0.25 } });
      const data = testBytes(25_000, seed);
      let done = false;
      for (let attempt = 0; attempt < 6 && !done; attempt++) {
        try {
          await client.backup(data);
          done = true;
        } catch (e) {
          expect(isBackupError(e)).toBe(true);
        }
      }
      expect(done).toBe(true);
      // Restore through a clean connection.
      const clean = makeClient(vault, blobClient(server).store, storage, { accountId });
      expect(equalBytes(await readAll((await clean.restore({ recoveryCode })).stream), data)).toBe(true);
    }
  });

  it('a connection that keeps failing mid-part: typed error, then the next backup() resumes from the confirmed parts', async () => {
    let broken = false;
    const { client, faulty } = await enabledClient({
      faults: { schedule: (c) => (broken && c.method === 'PUT' ? { kind: 'cut-request', afterBytes: 100 } : undefined) },
    });
    const data = testBytes(60_000, 4);
    let parts = 0;
    const err = await errorOf(
      client.backup(data, {
        onProgress: () => {
          if (++parts === 5) broken = true;
        },
      }),
    );
    expect(isBackupError(err)).toBe(true);
    broken = false;
    const before = faulty.log.length;
    const r = await client.backup(data);
    expect(r.resumed).toBe(true);
    const putsAfter = faulty.log.slice(before).filter((e) => e.method === 'PUT' && e.url.includes('partNumber=')).length;
    expect(putsAfter).toBeGreaterThan(0);
    const totalParts = Math.ceil(r.archiveSize / (4 * 1040));
    expect(putsAfter).toBeLessThan(totalParts);
    expect(equalBytes(await readAll((await client.restore()).stream), data)).toBe(true);
  });
});

describe('source changes between attempts', () => {
  it('bytes changed inside an already-sent part: the upload starts over with a fresh salt', async () => {
    const { client, store } = await enabledClient();
    const data = testBytes(50_000, 11);
    const ac = new AbortController();
    let n = 0;
    await errorOf(client.backup(data, { signal: ac.signal, onProgress: () => ++n === 3 && ac.abort() }));
    const changed = new Uint8Array(data);
    changed[100]! ^= 0xff; // inside part 1, which was sent
    const r = await client.backup(changed);
    expect(r.resumed).toBe(false);
    expect(equalBytes(await readAll((await client.restore()).stream), changed)).toBe(true);
    // The abandoned upload's archive never appeared.
    expect((await store.list('archives/')).length).toBe(1);
  });

  it('a stream whose content changed under the same version is refused with INVALID_ARGUMENT, nothing reused', async () => {
    const { client } = await enabledClient();
    const data = testBytes(50_000, 12);
    const streamOf = (d: Uint8Array<ArrayBuffer>) => new Blob([d]).stream() as ReadableStream<Uint8Array>;
    const ac = new AbortController();
    let n = 0;
    await errorOf(client.backup(streamOf(data), { version: 'v7', signal: ac.signal, onProgress: () => ++n === 3 && ac.abort() }));
    const changed = new Uint8Array(data);
    changed[10]! ^= 1;
    const err = await errorOf(client.backup(streamOf(changed), { version: 'v7' }));
    expect(isBackupError(err, 'INVALID_ARGUMENT')).toBe(true);
    // The next call starts clean.
    const r = await client.backup(streamOf(changed), { version: 'v8' });
    expect(r.resumed).toBe(false);
    expect(equalBytes(await readAll((await client.restore()).stream), changed)).toBe(true);
  });

  it('an unchanged stream with the same version resumes', async () => {
    const { client } = await enabledClient();
    const data = testBytes(50_000, 13);
    const ac = new AbortController();
    let n = 0;
    await errorOf(client.backup(new Blob([data]).stream() as ReadableStream<Uint8Array>, { version: 'r1', signal: ac.signal, onProgress: () => ++n === 4 && ac.abort() }));
    const r = await client.backup(new Blob([data]).stream() as ReadableStream<Uint8Array>, { version: 'r1' });
    expect(r.resumed).toBe(true);
    expect(equalBytes(await readAll((await client.restore()).stream), data)).toBe(true);
  });
});

describe('concurrency and tampering', () => {
  it('two clients of one account back up at once: one waits, both complete; wait:false says BACKUP_IN_PROGRESS', async () => {
    const { client, store, storage, accountId, recoveryCode } = await enabledClient();
    const second = makeClient(vault, store, storage, { accountId });
    await second.unlock({ recoveryCode });
    const events: string[] = [];
    client.on('backup-started', () => events.push('a-start'));
    client.on('backup-completed', () => events.push('a-done'));
    second.on('backup-started', () => events.push('b-start'));
    second.on('backup-completed', () => events.push('b-done'));
    const a = testBytes(20_000, 21);
    const b = testBytes(20_000, 22);
    await Promise.all([client.backup(a), second.backup(b)]);
    expect(events).toEqual(['a-start', 'a-done', 'b-start', 'b-done']);
    expect((await client.listBackups()).length).toBe(2);
    expect(equalBytes(await readAll((await client.restore()).stream), b)).toBe(true);

    const impatient = makeClient(vault, store, storage, { accountId, waitForLock: false });
    await impatient.unlock({ recoveryCode });
    // Try while the first backup certainly holds the lock: from inside its progress callback.
    let attempt: Promise<unknown> | undefined;
    await client.backup(testBytes(30_000, 23), { onProgress: () => (attempt ??= errorOf(impatient.backup(a))) });
    expect(isBackupError(await attempt, 'BACKUP_IN_PROGRESS')).toBe(true);
  });

  it('a byte flipped in storage: restore fails ARCHIVE_AUTH_FAILED and releases nothing past the bad chunk', async () => {
    const { client, server } = await enabledClient();
    const data = testBytes(20_000, 31);
    const r = await client.backup(data);
    const key = `archives/${r.backupId}`;
    const stored = await server.backing.get(key);
    const bad = Uint8Array.from(stored);
    const chunk = 7; // plaintext bytes [7168, 8192)
    bad[100 + chunk * 1040 + 5]! ^= 0x01;
    await server.backing.put(key, bad);
    const restored = await client.restore();
    const { chunks: got, error: err } = await readUntilError(restored.stream.getReader());
    expect(isBackupError(err, 'ARCHIVE_AUTH_FAILED')).toBe(true);
    const released = got.reduce((a, g) => a + g.length, 0);
    expect(released).toBeLessThanOrEqual(chunk * 1024);
    expect(isBackupError(await errorOf(restored.read(chunk * 1024, 10)), 'ARCHIVE_AUTH_FAILED')).toBe(true);
    // A truncated archive fails the same way, at open.
    await server.backing.put(key, stored.subarray(0, stored.length - 1));
    expect(isBackupError(await errorOf(client.restore()), 'ARCHIVE_AUTH_FAILED')).toBe(true);
  });

  it('a manifest swapped for another backup of ours is refused', async () => {
    const { client, server } = await enabledClient();
    const r1 = await client.backup(testBytes(3000, 41));
    const r2 = await client.backup(testBytes(3000, 42));
    const m1 = await server.backing.get(`manifests/${r1.backupId}`);
    const m2 = await server.backing.get(`manifests/${r2.backupId}`);
    await server.backing.put(`manifests/${r2.backupId}`, m1);
    expect(isBackupError(await errorOf(client.restore({ backupId: r2.backupId })), 'ARCHIVE_AUTH_FAILED')).toBe(true);
    // The archive under a manifest's name must be the one it names (salt binding), even though
    // the substitute is an authentic archive of ours of the same size.
    await server.backing.put(`manifests/${r2.backupId}`, m2);
    const a1 = await server.backing.get(`archives/${r1.backupId}`);
    await server.backing.put(`archives/${r2.backupId}`, a1);
    expect(isBackupError(await errorOf(client.restore({ backupId: r2.backupId })), 'ARCHIVE_AUTH_FAILED')).toBe(true);
  });
});

describe('list, prune, status, disable, device cache', () => {
  it('prune keeps the newest and never the latest', async () => {
    let t = 1_000;
    const server = makeBlobServer();
    const { store } = blobClient(server);
    const client = makeClient(vault, store, createMemoryStore(), { accountId: nextAccount(), now: () => (t += 1000) });
    await client.enable();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await client.backup(testBytes(2000, 50 + i))).backupId);
    const deleted = await client.pruneBackups({ keep: 2 });
    expect(deleted.sort()).toEqual([ids[0], ids[1]].sort());
    const left = await client.listBackups();
    expect(left.map((b) => b.backupId)).toEqual([ids[3], ids[2]]);
    expect((await store.list('archives/')).length).toBe(2);
    expect(equalBytes(await readAll((await client.restore()).stream), testBytes(2000, 53))).toBe(true);
  });

  it('device cache: a new client on the same device backs up with no code; disable clears everything', async () => {
    const server = makeBlobServer();
    const { store } = blobClient(server);
    const storage = createMemoryStore();
    const accountId = nextAccount();
    const first = makeClient(vault, store, storage, { accountId, deviceCache: deviceCacheSupport() });
    await first.enable();
    first.close();
    const nightly = makeClient(vault, store, storage, { accountId, deviceCache: deviceCacheSupport() });
    const r = await nightly.backup(testBytes(5000, 61));
    expect(r.plaintextSize).toBe(5000);
    const st = await nightly.status();
    expect(st).toMatchObject({ unlocked: true, deviceCached: true, uploadPending: false, fleetTrusted: true });
    expect(st.vault.state).toBe('enrolled');
    await nightly.disable({ deleteBackups: true });
    expect((await store.list('')).length).toBe(0);
    const after = await nightly.status();
    expect(after).toMatchObject({ unlocked: false, deviceCached: false });
    expect(after.vault.state).toBe('not-enrolled');
  });

  it('device cache is an opt-in: deviceCache: true names deviceCacheSupport; disable() without it still clears a cached keyring', async () => {
    const server = makeBlobServer();
    const { store } = blobClient(server);
    const storage = createMemoryStore();
    const accountId = nextAccount();
    let e: unknown;
    try {
      makeClient(vault, store, storage, { accountId, deviceCache: true as unknown as false });
    } catch (x) {
      e = x;
    }
    expect(isBackupError(e, 'INVALID_ARGUMENT') && e.details.option).toBe('deviceCache');
    expect((e as Error).message).toMatch(/deviceCacheSupport\(\) from e2ee-backup\/keys/);
    // A keyring cached by an earlier client with the cache on; this one runs without it.
    const cached = makeClient(vault, store, storage, { accountId, deviceCache: deviceCacheSupport() });
    await cached.enable();
    cached.close();
    const plain = makeClient(vault, store, storage, { accountId, deviceCache: false });
    expect((await storage.keys()).some((k) => k.startsWith('device-cache/'))).toBe(true);
    await plain.disable();
    expect((await storage.keys()).some((k) => k.startsWith('device-cache/'))).toBe(false);
  });

  it('enable() without the cache removes a record left by an earlier client: it holds the replaced keyring', async () => {
    const server = makeBlobServer();
    const { store } = blobClient(server);
    const storage = createMemoryStore();
    const accountId = nextAccount();
    const cached = makeClient(vault, store, storage, { accountId, deviceCache: deviceCacheSupport() });
    await cached.enable();
    await cached.backup(testBytes(2000, 71));
    cached.close();
    expect(await storage.get(`device-cache/v1/${accountId}`)).toBeDefined();
    // A reset on this device by a client without the cache: the old keyring (which still opens the
    // backups made before the reset) must not stay sealed under a key any script on the origin can use.
    const plain = makeClient(vault, store, storage, { accountId, deviceCache: false });
    await plain.enable({ reset: true });
    expect(await storage.get(`device-cache/v1/${accountId}`)).toBeUndefined();
    plain.close();
  });

  it('enable(): a device cache that fails to save after the enrollment loses nothing: the code is returned, the keyring held, the failure reported', async () => {
    const server = makeBlobServer();
    const { store } = blobClient(server);
    const inner = createMemoryStore();
    // The device's storage refuses the cache record (a full quota, private browsing), nothing else.
    const storage: KeyValueStore = {
      ...inner,
      get: (k) => inner.get(k),
      delete: (k) => inner.delete(k),
      update: (k, f) => inner.update(k, f),
      keys: (p) => inner.keys(p),
      set: async (k, v) => {
        if (k.startsWith('device-cache/')) throw new DOMException('quota exceeded', 'QuotaExceededError');
        await inner.set(k, v);
      },
    };
    const accountId = nextAccount();
    const client = makeClient(vault, store, storage, { accountId, deviceCache: deviceCacheSupport() });
    const failures: unknown[] = [];
    client.on('device-cache-failed', (e) => failures.push(e.error));
    // Before: enable() threw after the vault had enrolled the account, and the only copy of the
    // generated code was gone with it.
    const { recoveryCode } = await client.enable();
    expect(recoveryCode).toMatch(/^[0-9A-Z-]{20,}$/);
    expect(failures).toHaveLength(1);
    expect((failures[0] as DOMException).name).toBe('QuotaExceededError');
    expect(await client.status()).toMatchObject({ unlocked: true, deviceCached: false });
    await client.backup(testBytes(3000, 81));
    client.close();
    // The code the user was shown opens the account on a new device.
    const fresh = makeClient(vault, store, createMemoryStore(), { accountId });
    await fresh.unlock({ recoveryCode: recoveryCode! });
    const restored = await readAll((await fresh.restore()).stream);
    expect(equalBytes(restored, testBytes(3000, 81))).toBe(true);
  });

  it('misuse at the edge throws TypeError/RangeError naming the argument', async () => {
    const { client } = await enabledClient();
    await expect(client.pruneBackups({ keep: 0 })).rejects.toThrow(/keep/);
    await expect(client.backup(42 as unknown as Uint8Array)).rejects.toThrow(TypeError);
    await expect(client.restore({ backupId: 'nope' })).rejects.toThrow(/backupId/);
  });
});
