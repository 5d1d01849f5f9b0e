import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { backupIncremental, listSnapshots, openSnapshot } from '../../lib/incremental/index.js';
import { concatBytes, equalBytes } from '../../lib/util/bytes.js';
import { chatBytes, collect, testContext } from './support.js';

/** An edit of a chat export. */
type Edit =
  | { kind: 'append'; n: number }
  | { kind: 'insert'; at: number; n: number }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'rewrite'; at: number; n: number };

function apply(data: Uint8Array, e: Edit, seed: number): Uint8Array {
  const at = data.length === 0 ? 0 : Math.floor(e.kind === 'append' ? data.length : (data.length * (e as { at: number }).at) / 1000);
  const fresh = chatBytes(e.n, seed);
  switch (e.kind) {
    case 'append':
      return concatBytes(data, fresh);
    case 'insert':
      return concatBytes(data.subarray(0, at), fresh, data.subarray(at));
    case 'delete':
      return concatBytes(data.subarray(0, at), data.subarray(Math.min(data.length, at + e.n)));
    case 'rewrite': {
      const out = Uint8Array.from(data);
      out.set(fresh.subarray(0, Math.max(0, Math.min(e.n, out.length - at))), at);
      return out;
    }
  }
}

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), n: fc.integer({ min: 0, max: 200_000 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.integer({ min: 0, max: 1000 }), n: fc.integer({ min: 1, max: 50_000 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.integer({ min: 0, max: 1000 }), n: fc.integer({ min: 1, max: 100_000 }) }),
  fc.record({ kind: fc.constant('rewrite' as const), at: fc.integer({ min: 0, max: 1000 }), n: fc.integer({ min: 1, max: 5_000 }) }),
);

describe('incremental backup round trips', () => {
  it('restores every snapshot of a random edit sequence byte-identical (stream and random access)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 600_000 }), fc.array(edit, { minLength: 1, maxLength: 4 }), fc.integer(), async (initial, edits, seed) => {
        const ctx = testContext({ seed: seed | 1 });
        const versions: Uint8Array[] = [chatBytes(initial, seed)];
        for (const [i, e] of edits.entries()) versions.push(apply(versions[versions.length - 1]!, e, seed + i + 1));
        const ids: string[] = [];
        for (const v of versions) {
          ctx.clock.t += 1000;
          const r = await backupIncremental(ctx, v, { packSize: 256 * 1024 });
          expect(r.plaintextSize).toBe(v.length);
          expect(r.newBytes + r.skippedBytes).toBe(v.length);
          ids.push(r.backupId);
        }
        for (const [i, v] of versions.entries()) {
          const snap = await openSnapshot(ctx, ids[i]);
          expect(equalBytes(await collect(snap.stream()), v)).toBe(true);
          if (v.length > 0) {
            const off = Math.floor(v.length / 3);
            const len = Math.min(v.length - off, 70_000);
            expect(equalBytes(await snap.read(off, len), v.subarray(off, off + len))).toBe(true);
          }
          snap.close();
        }
        const latest = await openSnapshot(ctx);
        expect(latest.backupId).toBe(ids[ids.length - 1]);
        latest.close();
        expect((await listSnapshots(ctx)).length).toBe(versions.length);
      }),
      { numRuns: 12 },
    );
  });

  it('an unchanged source uploads no pack, and an append uploads about the appended bytes', async () => {
    const ctx = testContext();
    const base = chatBytes(4 << 20, 3);
    const first = await backupIncremental(ctx, base);
    expect(first.newBytes).toBe(base.length);
    const again = await backupIncremental(ctx, base);
    expect(again.newBytes).toBe(0);
    expect(again.packs).toBe(0);
    const grown = concatBytes(base, chatBytes(40_000, 4));
    const third = await backupIncremental(ctx, grown);
    // The last chunk of `base` is re-cut plus the appended bytes: at most one max chunk more.
    expect(third.newBytes).toBeLessThanOrEqual(40_000 + 256 * 1024);
    expect(third.skippedBytes).toBeGreaterThan(base.length - 256 * 1024);
  });

  it('reads a Blob and a ReadableStream source the same as bytes', async () => {
    const data = chatBytes(300_000, 9);
    const a = testContext();
    const b = testContext();
    const ra = await backupIncremental(a, new Blob([data as Uint8Array<ArrayBuffer>]));
    let o = 0;
    const rb = await backupIncremental(
      b,
      new ReadableStream<Uint8Array>({
        pull(c) {
          if (o >= data.length) return c.close();
          c.enqueue(data.slice(o, o + 777));
          o += 777;
        },
      }),
    );
    expect(ra.chunkCount).toBe(rb.chunkCount);
    const s = await openSnapshot(b);
    expect(equalBytes(await collect(s.stream()), data)).toBe(true);
  });
});

describe('incremental backup resume', () => {
  it('a run cut off after some packs resumes: the next run skips the chunks of those packs', async () => {
    const ctx = testContext();
    const data = chatBytes(2 << 20, 5);
    let puts = 0;
    const inner = ctx.blobs;
    const dying = {
      ...ctx,
      blobs: {
        limits: inner.limits,
        createUpload: inner.createUpload.bind(inner),
        putPart: inner.putPart.bind(inner),
        listParts: inner.listParts.bind(inner),
        completeUpload: inner.completeUpload.bind(inner),
        abortUpload: inner.abortUpload.bind(inner),
        get: inner.get.bind(inner),
        head: inner.head.bind(inner),
        delete: inner.delete.bind(inner),
        list: inner.list.bind(inner),
        put: async (k: string, b: Uint8Array) => {
          if (++puts > 4) throw new Error('tab closed');
          return inner.put(k, b);
        },
      },
    };
    await expect(backupIncremental(dying, data, { packSize: 256 * 1024, concurrency: 1 })).rejects.toThrow('tab closed');
    const r = await backupIncremental(ctx, data, { packSize: 256 * 1024 });
    expect(r.resumedChunks).toBeGreaterThan(0);
    expect(r.newBytes).toBeLessThan(data.length - 3 * 200 * 1024);
    const s = await openSnapshot(ctx, r.backupId);
    expect(equalBytes(await collect(s.stream()), data)).toBe(true);
  });
});
