import { describe, expect, it } from 'vitest';
import { backupIncremental, openSnapshot, pruneIncremental } from '../../lib/incremental/index.js';
import { isBackupError } from '../../lib/errors.js';
import { concatBytes } from '../../lib/util/bytes.js';
import { chatBytes, collect, testContext } from './support.js';

const DAY = 24 * 3600 * 1000;

async function restoreCode(ctx: ReturnType<typeof testContext>, id?: string): Promise<string> {
  try {
    const s = await openSnapshot(ctx, id);
    await collect(s.stream());
    s.close();
    return 'OK';
  } catch (e) {
    if (isBackupError(e)) return e.code;
    throw e;
  }
}

async function setup() {
  const ctx = testContext();
  const data = chatBytes(600_000, 11);
  const r = await backupIncremental(ctx, data, { packSize: 128 * 1024 });
  const packs = (await ctx.blobs.list('packs/')).map((e) => e.key);
  return { ctx, data, r, packs };
}

describe('incremental tamper resistance', () => {
  it('a swapped pack (another pack of the same account under its name) is refused', async () => {
    const { ctx, r, packs } = await setup();
    expect(packs.length).toBeGreaterThan(2);
    const a = await ctx.blobs.get(packs[0]!);
    const b = await ctx.blobs.get(packs[1]!);
    await ctx.blobs.put(packs[0]!, b);
    await ctx.blobs.put(packs[1]!, a);
    expect(await restoreCode(ctx, r.backupId)).toBe('ARCHIVE_AUTH_FAILED');
  });

  it('a dropped chunk (a pack deleted or truncated) is refused', async () => {
    const { ctx, r, packs } = await setup();
    await ctx.blobs.delete(packs[1]!);
    expect(await restoreCode(ctx, r.backupId)).toBe('ARCHIVE_AUTH_FAILED');
    const c = testContext();
    const r2 = await backupIncremental(c, chatBytes(600_000, 11), { packSize: 128 * 1024 });
    const p = (await c.blobs.list('packs/'))[0]!.key;
    const bytes = await c.blobs.get(p);
    await c.blobs.put(p, bytes.subarray(0, 1000));
    expect(await restoreCode(c, r2.backupId)).toBe('ARCHIVE_AUTH_FAILED');
  });

  it('a flipped bit in a chunk is refused, and no plaintext of that chunk is released', async () => {
    const { ctx, r, packs } = await setup();
    for (const p of packs) {
      const bytes = Uint8Array.from(await ctx.blobs.get(p));
      bytes[200]! ^= 1; // inside the first chunk of every pack
      await ctx.blobs.put(p, bytes);
    }
    const s = await openSnapshot(ctx, r.backupId);
    await expect(s.read(0, 10)).rejects.toMatchObject({ code: 'ARCHIVE_AUTH_FAILED' });
  });

  it('a replayed old index (pointing at a repacked, deleted pack) is refused', async () => {
    const ctx = testContext();
    const base = chatBytes(400_000, 12);
    await backupIncremental(ctx, base, { packSize: 1024 * 1024 });
    ctx.clock.t += 3 * DAY;
    // Rewrite most of the export: the old pack becomes mostly garbage once the first snapshot goes.
    const next = concatBytes(base.subarray(0, 40_000), chatBytes(400_000, 13));
    const r2 = await backupIncremental(ctx, next, { packSize: 1024 * 1024 });
    const oldIndex = new Map<string, Uint8Array>();
    for (const e of await ctx.blobs.list('index/')) oldIndex.set(e.key, await ctx.blobs.get(e.key));
    ctx.clock.t += 3 * DAY;
    const p1 = await pruneIncremental(ctx, { keep: 1, graceMs: DAY });
    expect(p1.repackedPacks).toBe(1);
    ctx.clock.t += 3 * DAY;
    const p2 = await pruneIncremental(ctx, { keep: 1, graceMs: DAY });
    expect(p2.deletedPacks).toBeGreaterThan(0);
    expect(await restoreCode(ctx, r2.backupId)).toBe('OK');
    // The store rolls the index back: the new segments disappear, the old ones come back.
    for (const e of await ctx.blobs.list('index/')) await ctx.blobs.delete(e.key);
    for (const [k, v] of oldIndex) await ctx.blobs.put(k, v);
    expect(await restoreCode(ctx, r2.backupId)).toBe('ARCHIVE_AUTH_FAILED');
  });

  it('an index segment or snapshot moved to another name is refused', async () => {
    const { ctx, r } = await setup();
    const [seg] = await ctx.blobs.list('index/');
    await ctx.blobs.put('index/' + '0'.repeat(32), await ctx.blobs.get(seg!.key));
    expect(await restoreCode(ctx, r.backupId)).toBe('ARCHIVE_AUTH_FAILED');
    const c = testContext();
    const r1 = await backupIncremental(c, chatBytes(100_000, 1));
    const other = 'f'.repeat(32);
    await c.blobs.put(`manifests/${other}`, await c.blobs.get(`manifests/${r1.backupId}`));
    expect(await restoreCode(c, other)).toBe('ARCHIVE_AUTH_FAILED');
  });

  it('a snapshot of another account is refused', async () => {
    const { ctx, r } = await setup();
    const mallory = { ...ctx, accountId: 'mallory' };
    expect(await restoreCode(mallory, r.backupId)).toBe('ARCHIVE_AUTH_FAILED');
  });
});
