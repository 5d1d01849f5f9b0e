// The full-restore stream (OpenedBackup.stream, RestoredBackup.stream/openStream): windows of whole
// chunks, one ranged read each, a bounded number in flight, released in order and only verified;
// abort and consumer cancel stop the reads. Run against the memory blob store and the reference
// blob server behind the real HTTP adapter, with a blob store wrapper that counts archive reads.
import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTORE_READ_AHEAD, MAX_RESTORE_READ_AHEAD, MAX_RESTORE_WINDOW } from '../../lib/client/restore.js';
import { BackupError, isBackupError } from '../../lib/errors.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobGetOptions, BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { errorOf } from '../support/errors.js';
import { blobClient, makeBlobServer, makeClient, makeVault, readAll, readUntilError, testBytes } from './harness.js';

const CHUNK = 1024; // the harness's chunk size
const vault = makeVault();
let accountSeq = 0;

/** Counts ranged reads of archives: started, in flight, the most in flight, aborted. */
interface Instruments {
  started: number;
  inFlight: number;
  maxInFlight: number;
  aborted: number;
  ranges: { offset: number; length: number }[];
  /** Called as each archive read starts (after counting). */
  onStart?: (n: number) => void;
  reset(): void;
}

function instrument(base: BlobStore): { store: BlobStore; inst: Instruments } {
  const inst: Instruments = {
    started: 0,
    inFlight: 0,
    maxInFlight: 0,
    aborted: 0,
    ranges: [],
    reset() {
      this.started = 0;
      this.maxInFlight = this.inFlight;
      this.aborted = 0;
      this.ranges = [];
    },
  };
  const get = async (key: string, opts: BlobGetOptions = {}): Promise<Uint8Array> => {
    if (!key.startsWith('archives/') || opts.range === undefined) return base.get(key, opts);
    inst.started++;
    inst.inFlight++;
    inst.maxInFlight = Math.max(inst.maxInFlight, inst.inFlight);
    inst.ranges.push(opts.range);
    inst.onStart?.(inst.started);
    try {
      // A request that takes a moment, and stops when its signal aborts (as fetch does).
      await new Promise<void>((resolve, reject) => {
        const signal = opts.signal;
        const onAbort = () => {
          clearTimeout(timer);
          inst.aborted++;
          reject(new BackupError('ABORTED', 'operation was aborted', { cause: signal?.reason }));
        };
        const timer = setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }, 1);
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
      });
      return await base.get(key, opts);
    } finally {
      inst.inFlight--;
    }
  };
  const store = new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === 'get') return get;
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store, inst };
}

type Backend = 'memory' | 'server';

async function setup(backend: Backend) {
  let base: BlobStore;
  let backing: BlobStore;
  if (backend === 'memory') {
    base = createMemoryBlobStore({ limits: { minPartSize: 1 } });
    backing = base;
  } else {
    const server = makeBlobServer();
    base = blobClient(server).store;
    backing = server.backing;
  }
  const { store, inst } = instrument(base);
  const client = makeClient(vault, store, createMemoryStore(), { accountId: `rs${++accountSeq}` });
  await client.enable();
  return { client, inst, backing };
}

/** A backup of `testBytes(size, seed)` by a fresh client, opened for restore; the read counters reset after the open. */
async function restoredBackup(backend: Backend, size: number, seed: number) {
  const { client, inst } = await setup(backend);
  const data = testBytes(size, seed);
  await client.backup(data);
  const restored = await client.restore();
  inst.reset();
  return { inst, data, restored };
}

/** Windows of `windowSize` (a multiple of CHUNK) over `size` plaintext bytes that need a read (not only the final chunk, which is cached at open). */
function expectedReads(size: number, windowSize: number): number {
  const last = size === 0 ? 0 : Math.floor((size - 1) / CHUNK);
  let n = 0;
  for (let off = 0; off < size; off += windowSize) if (off / CHUNK < last) n++;
  return n;
}

async function waitIdle(inst: Instruments): Promise<void> {
  for (let i = 0; i < 1000 && inst.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 1));
  // A few more turns: anything about to start a read would have by now.
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 0));
}

describe.each<Backend>(['memory', 'server'])('restore stream (%s blob store)', (backend) => {
  it('byte-identical for 0, 1, chunk-1, chunk, chunk+1 and many-window sizes; one read per window, at most readAhead in flight; progress monotonic', async () => {
    const { client, inst } = await setup(backend);
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * 4096, 50_007]) {
      const data = testBytes(size, size + 3);
      await client.backup(data);
      const restored = await client.restore();
      for (const [windowSize, readAhead] of [
        [4096, 3],
        [4096 + 100, 2], // rounded down to 4 chunks
        [1, 1], // one chunk
        [undefined, undefined],
      ] as const) {
        inst.reset();
        const progress: number[] = [];
        const stream = restored.openStream({
          ...(windowSize === undefined ? {} : { windowSize, readAhead }),
          onProgress: (p) => {
            expect(p.total).toBe(size);
            progress.push(p.bytes);
          },
        });
        const got = await readAll(stream);
        expect(equalBytes(got, data), `size ${size} window ${windowSize}`).toBe(true);
        const w = windowSize === undefined ? 4 << 20 : Math.max(1, Math.floor(windowSize / CHUNK)) * CHUNK;
        expect(inst.started).toBe(expectedReads(size, w));
        expect(inst.maxInFlight).toBeLessThanOrEqual(readAhead ?? DEFAULT_RESTORE_READ_AHEAD);
        expect(progress).toEqual([...progress].sort((a, b) => a - b));
        expect(new Set(progress).size).toBe(progress.length);
        if (size > 0) expect(progress.at(-1)).toBe(size);
      }
      restored.close();
    }
  });

  it('reads in flight reach but never exceed readAhead, and a consumer that stops reading stops the reads', async () => {
    const { inst, data, restored } = await restoredBackup(backend, 200_000, 9);
    for (const readAhead of [1, 2, 4]) {
      inst.reset();
      expect(equalBytes(await readAll(restored.openStream({ windowSize: 2048, readAhead })), data)).toBe(true);
      expect(inst.maxInFlight).toBe(readAhead);
      expect(inst.started).toBe(expectedReads(data.length, 2048));
    }
    // A consumer that reads one window and then waits: at most readAhead more windows are read.
    inst.reset();
    const reader = restored.openStream({ windowSize: 2048, readAhead: 3 }).getReader();
    expect(inst.started).toBe(0); // nothing is read before the consumer asks
    const first = await reader.read();
    expect(equalBytes(first.value!, data.subarray(0, 2048))).toBe(true);
    await waitIdle(inst);
    expect(inst.started).toBe(1 + 3);
    await reader.cancel();
    restored.close();
  });

  it('the whole-backup path (BackupClient.restore().stream) uses the windowed stream', async () => {
    const { inst, data, restored } = await restoredBackup(backend, 300_001, 4);
    expect(equalBytes(await readAll(restored.stream), data)).toBe(true);
    // 293 chunks of 1 KiB fit one 4 MiB window: one ranged read, not one per chunk.
    expect(inst.started).toBe(1);
    restored.close();
  });

  it('a byte flipped in the middle: ARCHIVE_AUTH_FAILED, every window before it released intact, nothing from it or after', async () => {
    const { client, inst, backing } = await setup(backend);
    const data = testBytes(100_000, 31);
    const r = await client.backup(data);
    const key = `archives/${r.backupId}`;
    const bad = Uint8Array.from(await backing.get(key));
    const chunk = 45; // in window 5 of 8-chunk windows: chunks 40..47
    const headerLength = bad.length - (Math.ceil(data.length / CHUNK) * 16 + data.length);
    bad[headerLength + chunk * (CHUNK + 16) + 7]! ^= 0x01;
    await backing.put(key, bad);
    const restored = await client.restore();
    inst.reset();
    const { chunks: got, error: err } = await readUntilError(restored.openStream({ windowSize: 8 * CHUNK, readAhead: 3 }).getReader());
    expect(isBackupError(err, 'ARCHIVE_AUTH_FAILED')).toBe(true);
    const released = got.reduce((a, g) => a + g.length, 0);
    expect(released).toBe(40 * CHUNK);
    let o = 0;
    for (const g of got) {
      expect(equalBytes(g, data.subarray(o, o + g.length))).toBe(true);
      o += g.length;
    }
    await waitIdle(inst);
    // The failure stopped the read-ahead: no window past bad + readAhead was ever requested.
    expect(inst.started).toBeLessThanOrEqual(5 + 1 + 3);
    const after = inst.started;
    await waitIdle(inst);
    expect(inst.started).toBe(after);
    restored.close();
  });

  it('abort mid-stream: the read rejects with the abort, reads in flight are cancelled, none start afterwards', async () => {
    const { inst, data, restored } = await restoredBackup(backend, 100_000, 8);
    const ac = new AbortController();
    const reason = new Error('user left');
    inst.onStart = (n) => {
      if (n === 5) ac.abort(reason);
    };
    const reader = restored.openStream({ windowSize: 4 * CHUNK, readAhead: 3, signal: ac.signal }).getReader();
    const { chunks, error: err } = await readUntilError(reader);
    const released = chunks.reduce((a, c) => a + c.length, 0);
    inst.onStart = undefined;
    expect(isBackupError(err, 'ABORTED')).toBe(true);
    expect((err as BackupError).cause).toBe(reason);
    expect(released).toBeLessThan(data.length);
    await waitIdle(inst);
    expect(inst.aborted).toBeGreaterThan(0); // the reads in flight saw the abort
    expect(inst.started).toBe(5);
    expect(inst.inFlight).toBe(0);
    // Aborted from the progress callback (between a release and the next read-ahead): no read
    // starts after the abort, and the next read rejects with it.
    inst.reset();
    const ac2 = new AbortController();
    let startedAtAbort = -1;
    const reader2 = restored
      .openStream({
        windowSize: 4 * CHUNK,
        readAhead: 3,
        signal: ac2.signal,
        onProgress: (p) => {
          if (p.bytes === 8 * CHUNK) {
            startedAtAbort = inst.started;
            ac2.abort(reason);
          }
        },
      })
      .getReader();
    expect((await reader2.read()).value!.length).toBe(4 * CHUNK);
    expect((await reader2.read()).value!.length).toBe(4 * CHUNK);
    const err2 = await errorOf(reader2.read());
    expect(isBackupError(err2, 'ABORTED')).toBe(true);
    expect((err2 as BackupError).cause).toBe(reason);
    await waitIdle(inst);
    expect(inst.started).toBe(startedAtAbort);
    expect(inst.inFlight).toBe(0);
    // An already aborted signal reads nothing.
    inst.reset();
    const dead = restored.openStream({ signal: ac.signal });
    expect(isBackupError(await errorOf(readAll(dead)), 'ABORTED')).toBe(true);
    expect(inst.started).toBe(0);
    restored.close();
  });

  it('a consumer that cancels the stream stops the reads', async () => {
    const { inst, data, restored } = await restoredBackup(backend, 100_000, 12);
    const reader = restored.openStream({ windowSize: 2 * CHUNK, readAhead: 4 }).getReader();
    const a = await reader.read();
    const b = await reader.read();
    expect(equalBytes(a.value!, data.subarray(0, 2 * CHUNK))).toBe(true);
    expect(equalBytes(b.value!, data.subarray(2 * CHUNK, 4 * CHUNK))).toBe(true);
    expect(inst.inFlight).toBeGreaterThan(0); // the read-ahead is running
    await reader.cancel();
    const atCancel = inst.started;
    await waitIdle(inst);
    expect(inst.aborted).toBeGreaterThan(0);
    expect(inst.started).toBe(atCancel);
    expect(inst.started).toBeLessThanOrEqual(2 + 4);
    restored.close();
  });
});

describe('restore stream options', () => {
  it('windowSize and readAhead outside their range are RangeErrors', async () => {
    const { client } = await setup('memory');
    await client.backup(testBytes(10));
    const restored = await client.restore();
    expect(() => restored.openStream({ windowSize: 0 })).toThrow(RangeError);
    expect(() => restored.openStream({ windowSize: MAX_RESTORE_WINDOW + 1 })).toThrow(RangeError);
    expect(() => restored.openStream({ readAhead: 0 })).toThrow(RangeError);
    expect(() => restored.openStream({ readAhead: MAX_RESTORE_READ_AHEAD + 1 })).toThrow(RangeError);
    expect(() => restored.openStream({ readAhead: 1.5 })).toThrow(RangeError);
    expect(equalBytes(await readAll(restored.openStream({ windowSize: MAX_RESTORE_WINDOW, readAhead: MAX_RESTORE_READ_AHEAD })), testBytes(10))).toBe(true);
    restored.close();
  });
});
