// The reference blob server on its own: URL signatures, bearer tokens, Range, caps, both dialects.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createBlobPresigner, createBlobStoreHandler } from '../../lib/server/blob-store.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createS3BlobStore } from '../../lib/storage/blob/s3.js';
import { isBackupError } from '../../lib/errors.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { equalBytes } from '../../lib/util/bytes.js';

const signingKey = new Uint8Array(32).fill(9);
const T0 = Date.parse('2026-01-01T00:00:00Z');

function signed(now = () => T0) {
  const handler = createBlobStoreHandler({ signingKey, now, basePath: '/b', limits: { maxObjectSize: 1000, minPartSize: 1, maxPartSize: 500 } });
  const presigner = createBlobPresigner({ baseUrl: 'http://srv.test/b', signingKey, now: () => T0, expiresInSeconds: 60 });
  return { handler, presigner };
}

describe('reference blob server: authorization', () => {
  it('accepts its own signed URLs and refuses any change to method, path or query', async () => {
    const { handler, presigner } = signed();
    const put = presigner.http({ op: 'put', key: 'a/b', contentLength: 3 });
    expect((await handler(new Request(put, { method: 'PUT', body: new Uint8Array([1, 2, 3]) }))).status).toBe(200);
    const get = presigner.http({ op: 'get', key: 'a/b' });
    expect((await handler(new Request(get))).status).toBe(200);
    // Same URL, other method: the method is signed.
    expect((await handler(new Request(get, { method: 'DELETE' }))).status).toBe(403);
    // Other key, same signature.
    expect((await handler(new Request(get.replace('/o/a/b', '/o/a/c')))).status).toBe(403);
    // An added query parameter, or a changed expiry.
    expect((await handler(new Request(`${get}&x=1`))).status).toBe(403);
    const u = new URL(get);
    u.searchParams.set('X-Expires', String(Number(u.searchParams.get('X-Expires')) + 1000));
    expect((await handler(new Request(u))).status).toBe(403);
    // No signature at all; a garbage signature.
    expect((await handler(new Request('http://srv.test/b/o/a/b'))).status).toBe(403);
    u.searchParams.set('X-Signature', '!!!');
    expect((await handler(new Request(u))).status).toBe(403);
  });

  it('refuses expired URLs', async () => {
    let now = T0;
    const { handler, presigner } = signed(() => now);
    const get = presigner.s3({ op: 'head', key: 'x' });
    expect((await handler(new Request(get, { method: 'HEAD' }))).status).toBe(404);
    now = T0 + 61_000;
    expect((await handler(new Request(get, { method: 'HEAD' }))).status).toBe(403);
  });

  it('accepts a bearer token that verifyToken approves, and nothing else', async () => {
    const seen: string[] = [];
    const handler = createBlobStoreHandler({
      verifyToken: (token, r) => {
        seen.push(`${r.method} ${r.path}`);
        return token === 'good-token';
      },
    });
    const store = (token: string) =>
      createHttpBlobStore({
        fetch: handler,
        presign: async (op) => ({ url: `http://srv.test/${op.op === 'put' || op.op === 'get' ? `o/${op.key}` : 'list'}`, headers: { authorization: `Bearer ${token}` } }),
        limits: { minPartSize: 1 },
      });
    await store('good-token').put('k', new Uint8Array([5]));
    expect((await store('good-token').get('k'))[0]).toBe(5);
    expect(isBackupError(await store('bad').get('k').catch((e: unknown) => e), 'UNAUTHORIZED')).toBe(true);
    expect(seen).toContain('PUT /o/k');
  });

  it('refuses short signing keys and bad bucket names', () => {
    expect(() => createBlobStoreHandler({ signingKey: new Uint8Array(16) })).toThrow(RangeError);
    expect(() => createBlobPresigner({ baseUrl: 'http://x', signingKey: new Uint8Array(8) })).toThrow(RangeError);
    expect(() => createBlobStoreHandler({ bucket: 'Bad_Bucket' })).toThrow(RangeError);
  });
});

describe('reference blob server: Range (RFC 9110 §14)', () => {
  const handler = createBlobStoreHandler({ limits: { minPartSize: 1 } });
  const ten = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const ready = handler(new Request('http://s.test/o/r', { method: 'PUT', body: ten }));
  const get = async (range: string) => {
    await ready;
    const res = await handler(new Request('http://s.test/o/r', { headers: { range } }));
    return { status: res.status, cr: res.headers.get('content-range'), body: [...new Uint8Array(await res.arrayBuffer())] };
  };

  it('serves first-last, open-ended and suffix ranges with 206 and Content-Range', async () => {
    expect(await get('bytes=2-4')).toMatchObject({ status: 206, cr: 'bytes 2-4/10', body: [2, 3, 4] });
    expect(await get('bytes=7-')).toMatchObject({ status: 206, cr: 'bytes 7-9/10', body: [7, 8, 9] });
    expect(await get('bytes=-2')).toMatchObject({ status: 206, cr: 'bytes 8-9/10', body: [8, 9] });
    expect(await get('bytes=8-100')).toMatchObject({ status: 206, cr: 'bytes 8-9/10', body: [8, 9] });
  });

  it('answers 416 with bytes */size when unsatisfiable; ignores invalid or multiple ranges', async () => {
    expect(await get('bytes=10-')).toMatchObject({ status: 416, cr: 'bytes */10' });
    expect(await get('bytes=-0')).toMatchObject({ status: 416 });
    expect((await get('bytes=5-2')).status).toBe(200);
    expect((await get('bytes=0-1,4-5')).body.length).toBe(10);
    expect((await get('items=0-1')).status).toBe(200);
  });

  it('agrees with a slice for any single range (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(12), fc.option(fc.nat(12), { nil: undefined }), async (first, last) => {
        const r = await get(`bytes=${first}-${last ?? ''}`);
        if (last !== undefined && last < first) expect(r.status).toBe(200); // invalid: ignored (§14.1.1)
        else if (first >= 10) expect(r.status).toBe(416);
        else expect(r.body).toEqual([...ten.subarray(first, last === undefined ? 10 : last + 1)]);
      }),
      { numRuns: 60 },
    );
  });
});

describe('reference blob server: caps', () => {
  it('refuses over-cap bodies with 413 even when the client believes otherwise', async () => {
    const handler = createBlobStoreHandler({ maxObjectSize: 1000, limits: { minPartSize: 1, maxPartSize: 400 } });
    for (const make of [createHttpBlobStore, createS3BlobStore]) {
      const presigner = createBlobPresigner({ baseUrl: 'http://s.test/', signingKey });
      const open = make({
        fetch: handler,
        presign: async (op) => (make === createHttpBlobStore ? presigner.http(op) : presigner.s3(op)),
        limits: { minPartSize: 1 }, // the client thinks 5 GiB is fine
      });
      expect(isBackupError(await open.put('big', new Uint8Array(1001)).catch((e: unknown) => e), 'QUOTA_EXCEEDED')).toBe(true);
      const up = await open.createUpload('big2');
      expect(isBackupError(await open.putPart(up, 1, new Uint8Array(401)).catch((e: unknown) => e), 'QUOTA_EXCEEDED')).toBe(true);
      await open.putPart(up, 1, new Uint8Array(400));
      await open.putPart(up, 2, new Uint8Array(400));
      expect(isBackupError(await open.putPart(up, 3, new Uint8Array(201)).catch((e: unknown) => e), 'QUOTA_EXCEEDED')).toBe(true);
      expect(await open.head('big')).toBeUndefined();
    }
  });

  it('refuses by Content-Length before reading, and caps the total it holds', async () => {
    const handler = createBlobStoreHandler({ maxObjectSize: 100, maxTotalBytes: 250, limits: { minPartSize: 1 } });
    const res = await handler(new Request('http://s.test/o/k', { method: 'PUT', headers: { 'content-length': '5000' }, body: new Uint8Array(10) }));
    expect(res.status).toBe(413);
    for (const k of ['a', 'b']) expect((await handler(new Request(`http://s.test/o/${k}`, { method: 'PUT', body: new Uint8Array(100) }))).status).toBe(200);
    expect((await handler(new Request('http://s.test/o/c', { method: 'PUT', body: new Uint8Array(100) }))).status).toBe(413);
    // Replacing an object frees its old bytes.
    expect((await handler(new Request('http://s.test/o/a', { method: 'PUT', body: new Uint8Array(100) }))).status).toBe(200);
  });

  it('stores a body only when it is exactly as long as its Content-Length (or has none)', async () => {
    const backing = createMemoryBlobStore({ limits: { minPartSize: 1, maxObjectSize: 100 } });
    const handler = createBlobStoreHandler({ store: backing });
    const put = (key: string, body: BodyInit, headers: Record<string, string> = {}) =>
      handler(new Request(`http://s.test/o/${key}`, { method: 'PUT', headers, body, duplex: 'half' } as RequestInit));
    expect((await put('short', new Uint8Array(10), { 'content-length': '50' })).status).toBe(400);
    expect((await put('long', new Uint8Array(60), { 'content-length': '50' })).status).toBe(400);
    expect(await backing.head('short')).toBeUndefined();
    expect(await backing.head('long')).toBeUndefined();
    const bytes = Uint8Array.from({ length: 50 }, (_, i) => i);
    expect((await put('exact', bytes, { 'content-length': '50' })).status).toBe(200);
    expect(equalBytes(await backing.get('exact'), bytes)).toBe(true);
    // No Content-Length (a streamed body): gathered, capped at maxObjectSize.
    const streamOf = (n: number) => new Blob([new Uint8Array(n).fill(1)]).stream();
    expect((await put('streamed', streamOf(100))).status).toBe(200);
    expect((await backing.head('streamed'))?.size).toBe(100);
    expect((await put('streamed-big', streamOf(101))).status).toBe(413);
  });

  it('answers malformed requests with 4xx, never 5xx (property)', async () => {
    const handler = createBlobStoreHandler({ limits: { minPartSize: 1 } });
    const up = await handler(new Request('http://s.test/s3/backups/k?uploads', { method: 'POST' }));
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(await up.text())![1]!;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'PATCH'),
        fc.constantFrom('o/', 'u/', 's3/backups/', 's3/other/', 'list', 's3/backups', ''),
        fc.string({ maxLength: 20 }),
        fc.constantFrom('', '?uploads', `?uploadId=${uploadId}`, `?uploadId=${uploadId}&partNumber=0`, '?partNumber=x&uploadId=1', '?list-type=2&continuation-token=%%%'),
        fc.string({ maxLength: 200 }),
        async (method, prefix, key, query, body) => {
          const res = await handler(
            new Request(`http://s.test/${prefix}${encodeURIComponent(key)}${query}`, {
              method,
              ...(method === 'GET' || method === 'HEAD' ? {} : { body }),
            }),
          );
          expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: 300 },
    );
  });
});
