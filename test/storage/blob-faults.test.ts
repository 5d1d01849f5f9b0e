// Faults between the adapters and the reference server: every kind ends with the blob complete
// and byte-identical, or with a typed error and nothing half-written.
import { describe, expect, it } from 'vitest';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createS3BlobStore } from '../../lib/storage/blob/s3.js';
import type { BlobStore, BlobStoreLimits, CompletedPart } from '../../lib/storage/blob/types.js';
import { createBlobPresigner, createBlobStoreHandler } from '../../lib/server/blob-store.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { BackupError } from '../../lib/errors.js';
import { concatBytes, equalBytes } from '../../lib/util/bytes.js';
import { isBackupError } from '../../lib/errors.js';
import { faultyFetch, type Fault, type FaultyFetchOptions } from '../support/faulty-fetch.js';
import { serveHandler } from '../../lib/server/index.js';

const LIMITS: BlobStoreLimits = { maxObjectSize: 1 << 20, minPartSize: 1024, maxPartSize: 64 * 1024, maxParts: 1000 };
const signingKey = new Uint8Array(32).fill(3);
const noSleep = async (): Promise<void> => undefined;

function data(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

function setup(dialect: 'http' | 's3', faults: FaultyFetchOptions, handler = createBlobStoreHandler({ limits: LIMITS, signingKey })) {
  const presigner = createBlobPresigner({ baseUrl: 'http://blobs.test/', signingKey });
  const f = faultyFetch(handler, faults);
  const make = dialect === 'http' ? createHttpBlobStore : createS3BlobStore;
  const store = (fetch = f.fetch): BlobStore =>
    make({
      fetch,
      presign: async (op) => (dialect === 'http' ? presigner.http(op) : presigner.s3(op)),
      limits: LIMITS,
      timeoutMs: 100,
      sleep: noSleep,
      retry: { retries: 6 },
    });
  return { handler, f, store };
}

/** Upload `parts` as a multipart upload, then read it back whole and in ranges. */
async function roundTrip(s: BlobStore, key: string, parts: Uint8Array[]): Promise<void> {
  const up = await s.createUpload(key);
  const done: CompletedPart[] = [];
  for (let i = 0; i < parts.length; i++) done.push({ partNumber: i + 1, ...(await s.putPart(up, i + 1, parts[i]!)) });
  await s.completeUpload(up, done);
  const whole = concatBytes(...parts);
  expect(equalBytes(await s.get(key), whole)).toBe(true);
  const r = await s.get(key, { range: { offset: 1500, length: 3000 } });
  expect(equalBytes(r, whole.subarray(1500, 4500))).toBe(true);
}

const KINDS: Fault[] = [
  { kind: 'drop' },
  { kind: 'drop-response' },
  { kind: 'status', status: 500 },
  { kind: 'status', status: 503 },
  { kind: 'status', status: 429, retryAfter: '0' },
  { kind: 'hang' },
  { kind: 'slow-body', chunkSize: 700, delayMs: 1 },
  { kind: 'cut-request', afterBytes: 1000 },
  { kind: 'cut-response', afterBytes: 500 },
];

describe.each(['http', 's3'] as const)('blob store under faults (%s)', (dialect) => {
  for (const fault of KINDS) {
    const label = fault.kind === 'status' ? `${fault.kind} ${fault.status}` : fault.kind;
    it(`${label} on every idempotent call's first attempt: upload and reads still byte-identical`, async () => {
      // Fault the first attempt of every PUT/GET/HEAD/DELETE (and S3's completion POST with an
      // uploadId); createUpload (a non-idempotent POST) goes through untouched.
      const seen = new Set<string>();
      const { store, f } = setup(dialect, {
        match: (r) => !(r.method === 'POST' && !new URL(r.url).searchParams.has('uploadId')),
        schedule: (call) => {
          const k = `${call.method} ${call.url}`;
          if (seen.has(k)) return undefined;
          seen.add(k);
          return fault;
        },
      });
      await roundTrip(store(), `faults/${label.replace(/ /g, '-')}`, [data(4096, 1), data(4096, 2), data(1000, 3)]);
      expect(f.log.filter((e) => e.fault !== undefined).length).toBeGreaterThan(3);
    });
  }

  it('a seeded random mix of faults: completes byte-identical', async () => {
    const { store, f } = setup(dialect, {
      seed: dialect === 'http' ? 11 : 12,
      rate: 0.35,
      kinds: KINDS,
      match: (r) => !(r.method === 'POST' && !new URL(r.url).searchParams.has('uploadId')),
    });
    const parts = Array.from({ length: 8 }, (_, i) => data(2048 + i, i));
    await roundTrip(store(), 'faults/random', parts);
    expect(f.log.some((e) => e.fault !== undefined)).toBe(true);
  });

  it('createUpload is not retried: a dropped answer is OFFLINE, one call', async () => {
    const { store, f } = setup(dialect, { schedule: [{ kind: 'drop-response' }] });
    const err = await store().createUpload('faults/create').catch((e: unknown) => e);
    expect(isBackupError(err, 'OFFLINE')).toBe(true);
    expect(f.log.length).toBe(1);
  });

  it('a reload mid-upload resumes from the parts the server confirmed', async () => {
    const { store, f, handler } = setup(dialect, {});
    const parts = [data(2048, 1), data(2048, 2), data(2048, 3), data(100, 4)];
    const first = store();
    const up = await first.createUpload('faults/resume');
    await first.putPart(up, 1, parts[0]!);
    // Part 2's body is cut mid-flight, and the tab "reloads" (no retry in this client).
    const cutting = faultyFetch(handler, { schedule: [{ kind: 'cut-request', afterBytes: 700 }] });
    const dying = dialect === 'http'
      ? createHttpBlobStore({ fetch: cutting.fetch, presign: async (op) => createBlobPresigner({ baseUrl: 'http://blobs.test/', signingKey }).http(op), limits: LIMITS, retry: { retries: 0 } })
      : createS3BlobStore({ fetch: cutting.fetch, presign: async (op) => createBlobPresigner({ baseUrl: 'http://blobs.test/', signingKey }).s3(op), limits: LIMITS, retry: { retries: 0 } });
    expect(isBackupError(await dying.putPart(up, 2, parts[1]!).catch((e: unknown) => e), 'OFFLINE')).toBe(true);
    // A new client with the persisted UploadRef asks what is confirmed: only part 1, whole.
    const second = store();
    const confirmed = await second.listParts(structuredClone(up));
    expect(confirmed.map((p) => [p.partNumber, p.size])).toEqual([[1, 2048]]);
    const done: CompletedPart[] = confirmed.map(({ partNumber, etag }) => ({ partNumber, etag }));
    for (let i = confirmed.length; i < parts.length; i++) done.push({ partNumber: i + 1, ...(await second.putPart(up, i + 1, parts[i]!)) });
    await second.completeUpload(up, done);
    expect(equalBytes(await second.get('faults/resume'), concatBytes(...parts))).toBe(true);
    expect(f.log.every((e) => e.fault === undefined)).toBe(true);
  });

  it('a lost completion answer is recovered by retrying: the blob is there once', async () => {
    let dropped = 0;
    const { store } = setup(dialect, {
      schedule: (call) => {
        if (call.method !== 'POST' || !new URL(call.url).searchParams.has('uploadId') || dropped > 0) return undefined;
        dropped++;
        return { kind: 'drop-response' };
      },
    });
    const s = store();
    const up = await s.createUpload('faults/complete');
    const p1 = await s.putPart(up, 1, data(3000, 9));
    const info = await s.completeUpload(up, [{ partNumber: 1, ...p1 }]);
    expect(info.size).toBe(3000);
    expect(equalBytes(await s.get('faults/complete'), data(3000, 9))).toBe(true);
    expect(dropped).toBe(1);
  });

  it('a store that forgets completed uploads (NoSuchUpload on repeat): the adapter finds the blob', async () => {
    // Some S3-compatible stores answer a repeated CompleteMultipartUpload with NoSuchUpload.
    const mem = createMemoryBlobStore({ limits: LIMITS });
    const forgetful: BlobStore = {
      ...mem,
      completeUpload: async (up, parts, o) => {
        if (completed.has(up.uploadId)) throw new BackupError('NOT_FOUND', 'no such upload');
        completed.add(up.uploadId);
        return mem.completeUpload(up, parts, o);
      },
    };
    const completed = new Set<string>();
    let dropped = 0;
    const { store } = setup(
      dialect,
      {
        schedule: (call) => {
          if (call.method !== 'POST' || !new URL(call.url).searchParams.has('uploadId') || dropped > 0) return undefined;
          dropped++;
          return { kind: 'drop-response' };
        },
      },
      createBlobStoreHandler({ store: forgetful, signingKey }),
    );
    const s = store();
    const up = await s.createUpload('faults/forgetful');
    const p1 = await s.putPart(up, 1, data(3000, 5));
    const result = await s.completeUpload(up, [{ partNumber: 1, ...p1 }]).catch((e: unknown) => e);
    if (dialect === 's3') {
      expect((result as { size: number }).size).toBe(3000);
    } else {
      // The simple protocol requires idempotent completion; a server that breaks it yields NOT_FOUND.
      expect(isBackupError(result, 'NOT_FOUND')).toBe(true);
    }
    expect(equalBytes(await s.get('faults/forgetful'), data(3000, 5))).toBe(true);
  });
});

describe('faults over real HTTP (node:http on 127.0.0.1)', () => {
  it('parts cut mid-body on a real socket are never confirmed; retries complete the blob byte-identical', async () => {
    const backing = createMemoryBlobStore({ limits: LIMITS });
    const served = await serveHandler(createBlobStoreHandler({ store: backing, signingKey, basePath: '/b' }));
    try {
      const presigner = createBlobPresigner({ baseUrl: `${served.url}/b`, signingKey });
      // Every part's first attempt is cut after 3000 bytes (the socket is torn down mid-upload),
      // every first GET answer is cut after 1000 bytes.
      const seen = new Set<string>();
      const f = faultyFetch((r) => fetch(r), {
        schedule: (call) => {
          if (seen.has(call.url) || (call.method !== 'PUT' && call.method !== 'GET')) return undefined;
          seen.add(call.url);
          return call.method === 'PUT' ? { kind: 'cut-request', afterBytes: 3000 } : { kind: 'cut-response', afterBytes: 1000 };
        },
      });
      // Between a cut attempt and its retry (in the backoff sleep), look at what the server holds.
      const between: number[][] = [];
      let up = { key: 'real/cut', uploadId: '' };
      const sleep = async (): Promise<void> => {
        await new Promise((resolve) => setTimeout(resolve, 20)); // let the server finish with the torn socket
        const listed = up.uploadId === '' ? undefined : await backing.listParts(up).catch(() => undefined); // gone once completed
        if (listed !== undefined) between.push(listed.map((p) => p.size));
      };
      const s = createS3BlobStore({ fetch: f.fetch, presign: async (op) => presigner.s3(op), limits: LIMITS, sleep });
      const parts = [data(8192, 1), data(8192, 2), data(5000, 3)];
      up = await s.createUpload('real/cut');
      const done: CompletedPart[] = [];
      for (let i = 0; i < parts.length; i++) {
        done.push({ partNumber: i + 1, ...(await s.putPart(up, i + 1, parts[i]!)) });
        // Whatever the server saw of the cut attempt, it confirmed only the whole part.
        const listed = await backing.listParts(up);
        expect(listed.map((p) => p.size)).toEqual(parts.slice(0, i + 1).map((p) => p.length));
      }
      await s.completeUpload(up, done);
      expect(equalBytes(await s.get('real/cut'), concatBytes(...parts))).toBe(true);
      expect(f.log.filter((e) => e.fault?.kind === 'cut-request').length).toBe(3);
      // After each cut, the server held only the earlier, whole parts.
      expect(between).toEqual([[], [8192], [8192, 8192]]);
    } finally {
      await served.close();
    }
  });
});
