// Review of 7a242d3 (a 405/501 to ListParts starts over under a fresh salt; a transient failure
// keeps the session) as a malicious or flaky store or proxy: ListParts answered with a subset of
// the parts, with a part number twice (wrong size, wrong ETag), with a part this device never
// started, with 405 on one resume and a listing on the next, or OFFLINE; between runs the source
// changes inside a part the store already holds (same size, same fingerprint). Whatever the
// listing says, no (upload, part number) may carry two bodies: every body is recorded by the
// store wrapper before the store answers (harness recordingStore).
import { describe, expect, it } from 'vitest';
import { BackupError, isBackupError } from '../../lib/errors.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import type { BlobStore, UploadedPart } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { makeClient, makeVault, readAll, recordingStore, testBytes } from './harness.js';

const vault = makeVault();
let seq = 0;
const SIZE = 400 * 1024; // an edit between the first and last 64 KiB keeps the fingerprint
const PART = 4 * 1040; // harness: 1 KiB chunks, 4 per part

type Lie = (honest: UploadedPart[]) => UploadedPart[];
const lies: Record<string, Lie | 'http405' | 'http501' | 'offline'> = {
  'a subset (hides every other part)': (l) => l.filter((p) => p.partNumber % 2 === 1),
  'nothing at all': () => [],
  'a part number twice, wrong size and ETag': (l) => [...l, ...l.slice(0, 3).map((p) => ({ ...p, size: p.size + 1, etag: '"bogus"' }))],
  'wrong sizes for every part': (l) => l.map((p) => ({ ...p, size: p.size - 16 })),
  'wrong ETags for every part': (l) => l.map((p) => ({ ...p, etag: `"x${p.partNumber}"` })),
  'a part this device never started': (l) => [...l, { partNumber: 90, size: PART, etag: '"planted"' }],
  'HTTP 405': 'http405',
  'HTTP 501': 'http501',
  OFFLINE: 'offline',
};

function edited(data: Uint8Array, offset: number): Uint8Array<ArrayBuffer> {
  const out = Uint8Array.from(data);
  for (let i = 0; i < 8; i++) out[offset + i] = out[offset + i]! ^ 0x5a;
  return out;
}

describe('a lying ListParts never makes the client reuse a salt with another body (7a242d3)', () => {
  for (const [name, lie] of Object.entries(lies)) {
    it(`ListParts answers ${name}, the source changed in a part already sent`, async () => {
      const rec = recordingStore(createMemoryBlobStore({ limits: { minPartSize: 1 } }));
      let lying = false;
      const store: BlobStore = {
        ...rec.store,
        async listParts(upload, options) {
          const honest = await rec.store.listParts(upload, options);
          if (!lying) return honest;
          if (lie === 'http405' || lie === 'http501') {
            const status = lie === 'http405' ? 405 : 501;
            throw new BackupError('BLOB_STORE_FAILED', `answered ${status}`, { status });
          }
          if (lie === 'offline') throw new BackupError('OFFLINE', 'no network');
          return lie(honest);
        },
      };
      const client = makeClient(vault, store, createMemoryStore(), { accountId: `lp${++seq}` });
      const { recoveryCode } = await client.enable();
      let data = testBytes(SIZE, 21);
      let cut = 25;
      rec.setHook((n) => {
        if (n >= cut) throw new BackupError('UNAUTHORIZED', 'cut off');
      });
      expect(isBackupError(await client.backup(data).catch((e: unknown) => e), 'UNAUTHORIZED')).toBe(true);
      // Three resumes under the lie, each with the source changed inside a part already sent
      // (parts 18, 19, 20), each cut off a little further on.
      lying = true;
      for (let i = 0; i < 3; i++) {
        data = edited(data, (17 + i) * PART + 200);
        cut += 10;
        await client.backup(data).catch((e: unknown) => e);
        expect(rec.violations()).toEqual([]);
      }
      // Then an honest store and no cut: the backup completes and restores the latest source.
      lying = false;
      rec.setHook(undefined);
      data = edited(data, 40 * PART + 3);
      await client.backup(data);
      expect(rec.violations()).toEqual([]);
      client.close();
      const restored = await client.restore({ recoveryCode });
      expect(Buffer.compare(await readAll(restored.stream), data)).toBe(0);
    }, 60_000);
  }
});
