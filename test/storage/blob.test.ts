// One contract suite for every BlobStore: the memory store, the presigned-HTTP adapter and the S3
// adapter against the reference handler in-process, and the HTTP and S3 adapters over real HTTP
// (node:http on 127.0.0.1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createS3BlobStore } from '../../lib/storage/blob/s3.js';
import type { BlobStore, BlobStoreLimits } from '../../lib/storage/blob/types.js';
import { createBlobPresigner, createBlobStoreHandler } from '../../lib/server/blob-store.js';
import { serveHandler, type ServedHandler } from '../../lib/server/index.js';
import { equalBytes, isBytes, concatBytes } from '../../lib/util/bytes.js';
import { isBackupError, type BackupErrorCode } from '../../lib/errors.js';

const LIMITS: BlobStoreLimits = { maxObjectSize: 64 * 1024, minPartSize: 16, maxPartSize: 16 * 1024, maxParts: 100 };
const signingKey = new Uint8Array(32).fill(7);

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

async function rejectsWith(p: Promise<unknown>, code: BackupErrorCode): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isBackupError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
}

interface Fixture {
  readonly store: BlobStore;
  readonly close?: () => Promise<void>;
}

/** The body path the adapters take: Node's own (`'bytes'`, the default here) or the browsers' (`'blob'`). */
type Bodies = 'bytes' | 'blob';

function inProcess(dialect: 'http' | 's3', bodies: Bodies = 'bytes'): Fixture {
  // Small pages, so listing follows several of them.
  const handler = createBlobStoreHandler({ limits: LIMITS, signingKey, basePath: '/blobs', pageSize: 7 });
  const presigner = createBlobPresigner({ baseUrl: 'http://blobs.test/blobs', signingKey });
  const make = dialect === 'http' ? createHttpBlobStore : createS3BlobStore;
  return {
    store: make({
      fetch: handler,
      presign: async (op) => (dialect === 'http' ? presigner.http(op) : presigner.s3(op)),
      limits: LIMITS,
      retry: { retries: 2, baseDelayMs: 1 },
      bodies,
    }),
  };
}

async function overHttp(dialect: 'http' | 's3', bodies: Bodies = 'bytes'): Promise<Fixture> {
  const handler = createBlobStoreHandler({ limits: LIMITS, signingKey, basePath: '/blobs', pageSize: 7 });
  const served: ServedHandler = await serveHandler(handler);
  const presigner = createBlobPresigner({ baseUrl: `${served.url}/blobs`, signingKey });
  const make = dialect === 'http' ? createHttpBlobStore : createS3BlobStore;
  return {
    store: make({
      fetch: (r) => fetch(r),
      presign: async (op) => (dialect === 'http' ? presigner.http(op) : presigner.s3(op)),
      limits: LIMITS,
      retry: { retries: 2, baseDelayMs: 1 },
      bodies,
    }),
    close: () => served.close(),
  };
}

function contract(name: string, setup: () => Fixture | Promise<Fixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let fx: Fixture;
    let s: BlobStore;
    beforeAll(async () => {
      fx = await setup();
      s = fx.store;
    });
    afterAll(async () => {
      await fx.close?.();
    });

    it('put, get, head and delete round-trip; absent keys behave', async () => {
      const data = bytes(1000);
      const info = await s.put('t/rt/a', data);
      expect(info.size).toBe(1000);
      expect(typeof info.etag).toBe('string');
      const got = await s.get('t/rt/a');
      expect(isBytes(got) && equalBytes(got, data)).toBe(true);
      expect(await s.head('t/rt/a')).toEqual(info);
      await s.delete('t/rt/a');
      expect(await s.head('t/rt/a')).toBeUndefined();
      await rejectsWith(s.get('t/rt/a'), 'NOT_FOUND');
      await s.delete('t/rt/a'); // idempotent
      const empty = await s.put('t/rt/empty', new Uint8Array(0));
      expect(empty.size).toBe(0);
      expect((await s.get('t/rt/empty')).length).toBe(0);
    });

    it('stores what a view with a non-zero offset holds, and keeps its own copy', async () => {
      const backing = bytes(300, 3);
      const view = backing.subarray(17, 217);
      const want = view.slice();
      await s.put('t/view', view);
      view.fill(0);
      expect(equalBytes(await s.get('t/view'), want)).toBe(true);
    });

    it('ranged reads equal slices (property)', async () => {
      const data = bytes(5000, 5);
      await s.put('t/range', data);
      await fc.assert(
        fc.asyncProperty(fc.nat(4999), fc.nat(6000), async (offset, length) => {
          const got = await s.get('t/range', { range: { offset, length } });
          expect(equalBytes(got, data.subarray(offset, offset + length))).toBe(true);
        }),
        { numRuns: 25 },
      );
      await rejectsWith(s.get('t/range', { range: { offset: 5000, length: 1 } }), 'INVALID_ARGUMENT');
      expect((await s.get('t/range', { range: { offset: 9999, length: 0 } })).length).toBe(0);
      await expect(s.get('t/range', { range: { offset: -1, length: 2 } })).rejects.toThrow(RangeError);
    });

    it('conditional puts: If-None-Match * and If-Match', async () => {
      const first = await s.put('t/cond', bytes(10, 1), { ifNoneMatch: '*' });
      await rejectsWith(s.put('t/cond', bytes(10, 2), { ifNoneMatch: '*' }), 'PRECONDITION_FAILED');
      const second = await s.put('t/cond', bytes(10, 3), { ifMatch: first.etag });
      expect(second.etag).not.toBe(first.etag);
      await rejectsWith(s.put('t/cond', bytes(10, 4), { ifMatch: first.etag }), 'PRECONDITION_FAILED');
      await rejectsWith(s.put('t/cond-absent', bytes(10, 4), { ifMatch: first.etag }), 'PRECONDITION_FAILED');
      expect(equalBytes(await s.get('t/cond'), bytes(10, 3))).toBe(true);
    });

    it('multipart: parts in any order, replaced parts, listParts, atomic completion', async () => {
      const up = await s.createUpload('t/mp/a', { contentLength: 100 });
      expect(up.key).toBe('t/mp/a');
      const p = [bytes(40, 11), bytes(40, 12), bytes(20, 13)];
      const e3 = await s.putPart(up, 3, p[2]!);
      await s.putPart(up, 1, bytes(40, 99)); // replaced below
      const e1 = await s.putPart(up, 1, p[0]!);
      expect(await s.head('t/mp/a')).toBeUndefined(); // nothing visible before completion
      const e2 = await s.putPart(up, 2, p[1]!);
      const listed = await s.listParts(up);
      expect(listed).toEqual([
        { partNumber: 1, etag: e1.etag, size: 40 },
        { partNumber: 2, etag: e2.etag, size: 40 },
        { partNumber: 3, etag: e3.etag, size: 20 },
      ]);
      const parts = listed.map(({ partNumber, etag }) => ({ partNumber, etag }));
      const info = await s.completeUpload(up, parts);
      expect(info.size).toBe(100);
      expect(equalBytes(await s.get('t/mp/a'), concatBytes(...p))).toBe(true);
      // Ranges inside one part, across part boundaries, spanning all parts, clipped at the end.
      const whole = concatBytes(...p);
      for (const [offset, length] of [[0, 40], [5, 10], [39, 2], [30, 50], [40, 40], [79, 21], [1, 98], [90, 50], [99, 1]] as const) {
        const got = await s.get('t/mp/a', { range: { offset, length } });
        expect(equalBytes(got, whole.subarray(offset, Math.min(100, offset + length)))).toBe(true);
      }
      // Repeating the completion (its answer lost) reports the same blob.
      const again = await s.completeUpload(up, parts);
      expect(again.size).toBe(100);
      await rejectsWith(s.listParts(up), 'NOT_FOUND');
    });

    it('multipart: refuses small middle parts, unknown etags, foreign keys', async () => {
      const up = await s.createUpload('t/mp/b');
      const small = await s.putPart(up, 1, bytes(8));
      const last = await s.putPart(up, 2, bytes(30));
      await rejectsWith(s.completeUpload(up, [{ partNumber: 1, etag: small.etag }, { partNumber: 2, etag: last.etag }]), 'INVALID_ARGUMENT');
      await rejectsWith(s.completeUpload(up, [{ partNumber: 2, etag: '"nope"' }]), 'INVALID_ARGUMENT');
      await rejectsWith(s.listParts({ key: 't/mp/other', uploadId: up.uploadId }), 'NOT_FOUND');
      // Completing with just the last part works (a single part may be small).
      const info = await s.completeUpload(up, [{ partNumber: 2, etag: last.etag }]);
      expect(info.size).toBe(30);
    });

    it('listParts follows pages', async () => {
      const up = await s.createUpload('t/mp/many');
      const etags: string[] = [];
      for (let i = 1; i <= 17; i++) etags.push((await s.putPart(up, i, bytes(16, i))).etag);
      const listed = await s.listParts(up);
      expect(listed.map((p) => p.partNumber)).toEqual(Array.from({ length: 17 }, (_, i) => i + 1));
      expect(listed.map((p) => p.etag)).toEqual(etags);
      await s.abortUpload(up);
    });

    it('abort drops the upload, and is idempotent', async () => {
      const up = await s.createUpload('t/mp/c');
      await s.putPart(up, 1, bytes(20));
      await s.abortUpload(up);
      await rejectsWith(s.listParts(up), 'NOT_FOUND');
      await rejectsWith(s.putPart(up, 2, bytes(20)), 'NOT_FOUND');
      await s.abortUpload(up);
      expect(await s.head('t/mp/c')).toBeUndefined();
    });

    it('over-cap sizes are refused with QUOTA_EXCEEDED', async () => {
      await rejectsWith(s.put('t/big', new Uint8Array(LIMITS.maxObjectSize + 1)), 'QUOTA_EXCEEDED');
      await rejectsWith(s.createUpload('t/big', { contentLength: LIMITS.maxObjectSize + 1 }), 'QUOTA_EXCEEDED');
      const up = await s.createUpload('t/big2');
      await rejectsWith(s.putPart(up, 1, new Uint8Array(LIMITS.maxPartSize + 1)), 'QUOTA_EXCEEDED');
      for (let i = 1; i <= 4; i++) await s.putPart(up, i, new Uint8Array(LIMITS.maxPartSize));
      await rejectsWith(s.putPart(up, 5, new Uint8Array(1)), 'QUOTA_EXCEEDED');
      await s.abortUpload(up);
    });

    it('list returns keys under a prefix in order', async () => {
      for (const k of ['t/list/b', 't/list/a', 't/list/c/d', 't/listx']) await s.put(k, bytes(3));
      const l = await s.list('t/list/');
      expect(l.map((e) => e.key)).toEqual(['t/list/a', 't/list/b', 't/list/c/d']);
      expect(l.every((e) => e.size === 3 && typeof e.etag === 'string')).toBe(true);
      expect(await s.list('t/none/')).toEqual([]);
    });

    it('list follows pages (the servers here answer 7 entries per page)', async () => {
      const keys: string[] = [];
      for (let i = 0; i < 30; i++) keys.push(`t/page/${String(i).padStart(5, '0')}`);
      for (const k of keys) await s.put(k, new Uint8Array(1));
      expect((await s.list('t/page/')).map((e) => e.key)).toEqual(keys);
    });

    it('misuse throws TypeError / RangeError naming the argument', async () => {
      await expect(s.put('../x', bytes(1))).rejects.toThrow(RangeError);
      await expect(s.put('a//b', bytes(1))).rejects.toThrow(/key/);
      await expect(s.put('a', 'text' as unknown as Uint8Array)).rejects.toThrow(TypeError);
      await expect(s.get(42 as unknown as string)).rejects.toThrow(TypeError);
      const up = await s.createUpload('t/misuse');
      await expect(s.putPart(up, 0, bytes(1))).rejects.toThrow(/partNumber/);
      await expect(s.putPart(up, LIMITS.maxParts + 1, bytes(1))).rejects.toThrow(RangeError);
      await expect(s.completeUpload(up, [])).rejects.toThrow(RangeError);
      await expect(
        s.completeUpload(up, [{ partNumber: 2, etag: 'a' }, { partNumber: 1, etag: 'b' }]),
      ).rejects.toThrow(/ascending/);
      await expect(s.list('bad prefix')).rejects.toThrow(RangeError);
    });

    it('an aborted signal rejects with ABORTED', async () => {
      const ctrl = new AbortController();
      ctrl.abort();
      await rejectsWith(s.get('t/rt/empty', { signal: ctrl.signal }), 'ABORTED');
      await rejectsWith(s.put('t/abort', bytes(3), { signal: ctrl.signal }), 'ABORTED');
    });
  });
}

contract('memory', () => ({ store: createMemoryBlobStore({ limits: LIMITS }) }));
contract('presigned HTTP → reference handler (in-process)', () => inProcess('http'));
contract('S3 → reference handler (in-process)', () => inProcess('s3'));
contract('presigned HTTP over node:http on 127.0.0.1', () => overHttp('http'));
contract('S3 over node:http on 127.0.0.1', () => overHttp('s3'));
// The browsers' body path (Blob request bodies, blob() reads), run here on Node's fetch and
// through the in-process handler; test/storage/blob-browser.test.ts runs it in Chromium.
contract('presigned HTTP, Blob bodies → reference handler (in-process)', () => inProcess('http', 'blob'));
contract('S3, Blob bodies over node:http on 127.0.0.1', () => overHttp('s3', 'blob'));
contract('presigned HTTP, Blob bodies over node:http on 127.0.0.1', () => overHttp('http', 'blob'));
