// The demo's sample chat archive (demo/archive.ts), in Node: the stream is exactly the planned
// size and the same bytes however it is consumed; the tail index finds every conversation, newest
// first, by random access.
import { describe, expect, it } from 'vitest';
import { archiveStream, FOOTER_LENGTH, planArchive, readIndex, readLastMessages, SIZES, type ReadAt } from '../../demo/archive.js';
import { readAll } from '../support/streams.js';

const NOW = 1_800_000_000_000;

describe('demo chat archive', () => {
  it.each([
    ['16k', false],
    ['16k', true],
    ['1m', true],
  ])('size %s, media %s: exact size, index at the tail, newest first, messages by random access', async (sizeId, media) => {
    const plan = planArchive({ sizeId, media, seed: 42, now: NOW });
    const bytes = await readAll(archiveStream(plan));
    expect(bytes.length).toBe(plan.totalBytes);
    const target = SIZES.find((s) => s.id === sizeId)!.bytes;
    expect(bytes.length).toBeGreaterThan(target * 0.5);
    expect(bytes.length).toBeLessThan(target * 1.5);
    let reads = 0;
    const read: ReadAt = async (offset, length) => {
      reads += length;
      return bytes.slice(offset, offset + length);
    };
    const index = await readIndex(read, bytes.length);
    expect(index.conversations.length).toBe(plan.index.conversations.length);
    const times = index.conversations.map((c) => c.lastAt);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    // The newest conversation's last message is the one stamped with its lastAt.
    const newest = index.conversations[0]!;
    const last = await readLastMessages(read, newest, 3);
    expect(last.length).toBeGreaterThan(0);
    expect(last[last.length - 1]!.at).toBe(newest.lastAt);
    // Every conversation's text parses and ends at its lastAt; media sizes add up.
    for (const c of index.conversations) {
      const lines = new TextDecoder().decode(bytes.subarray(c.text[0], c.text[0] + c.text[1])).trim().split('\n');
      expect(lines.length).toBe(c.messages);
      const msgs = lines.map((l) => JSON.parse(l) as { at: number; media?: { size: number } });
      expect(msgs[msgs.length - 1]!.at).toBe(c.lastAt);
      expect(msgs.reduce((n, m) => n + (m.media?.size ?? 0), 0)).toBe(c.media[1]);
    }
    expect(plan.mediaCount > 0).toBe(media);
    // Random access read far less than the whole archive for the 1 MB one.
    if (sizeId === '1m') expect(reads).toBeLessThan(bytes.length / 4);
  });

  it('is deterministic: the same plan streams the same bytes (what resuming a backup relies on)', async () => {
    const plan = planArchive({ sizeId: '1m', media: true, seed: 7, now: NOW });
    const a = await readAll(archiveStream(plan));
    const b = await readAll(archiveStream(planArchive({ sizeId: '1m', media: true, seed: 7, now: NOW })));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const c = await readAll(archiveStream(planArchive({ sizeId: '1m', media: true, seed: 8, now: NOW })));
    expect(Buffer.from(a).equals(Buffer.from(c.subarray(0, a.length)))).toBe(false);
  });

  it('refuses bytes that are not a demo archive', async () => {
    const junk = new Uint8Array(100);
    await expect(readIndex(async (o, l) => junk.slice(o, o + l), junk.length)).rejects.toThrow(/not a demo chat archive/);
    await expect(readIndex(async (o, l) => junk.slice(o, o + l), FOOTER_LENGTH)).rejects.toThrow(/too short/);
  });

  it('plans 1 GB without generating it: text stays small, the rest is streamed media', () => {
    const plan = planArchive({ sizeId: '1g', media: false, seed: 1, now: NOW });
    expect(plan.mediaForced).toBe(true);
    expect(plan.totalBytes).toBeGreaterThan(0.9e9);
    const text = plan.conversations.reduce((n, c) => n + c.entry.text[1], 0);
    expect(text).toBeLessThan(5 * 2 ** 20);
  });
});
