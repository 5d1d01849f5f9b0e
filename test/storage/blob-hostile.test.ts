// A hostile or broken blob server: whatever it answers (any status, headers, body), every adapter
// call resolves or rejects with a BackupError; it never throws anything else and never hangs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createS3BlobStore } from '../../lib/storage/blob/s3.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { isBackupError } from '../../lib/errors.js';
import { utf8 } from '../../lib/util/bytes.js';
import { faultyFetch } from '../support/faulty-fetch.js';

interface Answer {
  status: number;
  etag: string | undefined;
  contentRange: string | undefined;
  contentLength: string | undefined;
  body: Uint8Array;
}

const bodyArb = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.constantFrom(
    '{"uploadId":"u1"}', '{"uploadId":""}', '{"parts":[{"partNumber":1,"etag":"e","size":3}]}', '{"parts":[{"partNumber":2},{"partNumber":1}]}',
    '{"objects":[{"key":"p/a","size":1,"etag":"e"}],"nextContinuationToken":"p/a"}', '{"objects":[{"key":"../x","size":1,"etag":"e"}]}',
    '{"size":-1,"etag":"e"}', '{"size":3,"etag":"e"}', 'null', '[]', '{"error":"NoSuchUpload"}', '{"error":"<script>"}',
    '<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>',
    '<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>1</NextPartNumberMarker><Part><PartNumber>1</PartNumber><ETag>e</ETag><Size>3</Size></Part></ListPartsResult>',
    '<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken></ListBucketResult>',
    '<CompleteMultipartUploadResult><ETag>e</ETag></CompleteMultipartUploadResult>', '<Error><Code>InternalError</Code></Error>',
  ).map((s) => utf8(s)),
);

const answerArb: fc.Arbitrary<Answer> = fc.record({
  status: fc.constantFrom(200, 201, 204, 206, 301, 400, 401, 403, 404, 409, 412, 413, 416, 429, 500, 503, 507, 599),
  etag: fc.option(fc.constantFrom('"e1"', '', 'x'.repeat(2000)), { nil: undefined }),
  contentRange: fc.option(fc.constantFrom('bytes 0-2/10', 'bytes 5-9/10', 'bytes */10', 'bytes 0-99999999999999999/1', 'garbage'), { nil: undefined }),
  contentLength: fc.option(fc.constantFrom('3', '0', '-1', '99999999999999999999', 'abc'), { nil: undefined }),
  body: bodyArb,
});

function hostile(answers: Answer[]): (r: Request) => Promise<Response> {
  let i = 0;
  return async (req) => {
    await req.body?.cancel();
    const a = answers[i++ % answers.length]!;
    const headers = new Headers();
    if (a.etag !== undefined) headers.set('etag', a.etag);
    if (a.contentRange !== undefined) headers.set('content-range', a.contentRange);
    if (a.contentLength !== undefined) headers.set('content-length', a.contentLength);
    const nullBody = a.status === 204 || req.method === 'HEAD';
    return new Response(nullBody ? null : (a.body as Uint8Array<ArrayBuffer>), { status: a.status, headers });
  };
}

async function everyCall(s: BlobStore): Promise<void> {
  const up = { key: 'p/k', uploadId: 'u1' };
  const calls: (() => Promise<unknown>)[] = [
    () => s.createUpload('p/k'),
    () => s.putPart(up, 1, new Uint8Array(3)),
    () => s.listParts(up),
    () => s.completeUpload(up, [{ partNumber: 1, etag: 'e' }]),
    () => s.abortUpload(up),
    () => s.put('p/k', new Uint8Array(3), { ifNoneMatch: '*' }),
    () => s.get('p/k'),
    () => s.get('p/k', { range: { offset: 5, length: 3 } }),
    () => s.head('p/k'),
    () => s.delete('p/k'),
    () => s.list('p/'),
  ];
  for (const call of calls) {
    try {
      await call();
    } catch (e) {
      if (!isBackupError(e)) throw e;
    }
  }
}

describe('adapters against a hostile server (fast-check)', () => {
  for (const [make, bodies] of [[createHttpBlobStore, 'bytes'], [createS3BlobStore, 'bytes'], [createHttpBlobStore, 'blob'], [createS3BlobStore, 'blob']] as const) {
    it(`${make.name}, ${bodies} bodies: any answer ends in a value or a BackupError`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(answerArb, { minLength: 1, maxLength: 6 }), async (answers) => {
          const s = make({
            fetch: hostile(answers),
            presign: async (op) => `http://hostile.test/${op.op}`,
            limits: { minPartSize: 1, maxObjectSize: 1 << 20 },
            sleep: async () => undefined,
            retry: { retries: 1 },
            timeoutMs: 200,
            bodies,
          });
          await everyCall(s);
        }),
        { numRuns: 80 },
      );
    });
  }

  it('blob reads: a body longer than its declared Content-Length and over the cap is refused, not returned', async () => {
    // An in-process answer whose header understates its body (a compressed body would do the same
    // to a browser): the declared length passes the early check, the actual one fails the cap.
    const long = new Uint8Array(64);
    const s = createHttpBlobStore({
      fetch: async () => new Response(long, { status: 206, headers: { 'content-length': '3', 'content-range': 'bytes 5-7/100' } }),
      presign: async (op) => `http://hostile.test/${op.op}`,
      retry: { retries: 0 },
      bodies: 'blob',
    });
    let err: unknown;
    await s.get('p/k', { range: { offset: 5, length: 3 } }).catch((e: unknown) => (err = e));
    expect(isBackupError(err, 'PROTOCOL')).toBe(true);
    // Declared over the cap: refused before any of it is read.
    const t = createHttpBlobStore({
      fetch: async () => new Response(long, { status: 206, headers: { 'content-length': '64', 'content-range': 'bytes 5-7/100' } }),
      presign: async (op) => `http://hostile.test/${op.op}`,
      retry: { retries: 0 },
      bodies: 'blob',
    });
    err = undefined;
    await t.get('p/k', { range: { offset: 5, length: 3 } }).catch((e: unknown) => (err = e));
    expect(isBackupError(err, 'PROTOCOL')).toBe(true);
  });

  it('faultyFetch is deterministic for a seed', async () => {
    const run = async (seed: number) => {
      const f = faultyFetch(async () => new Response('ok'), { seed, rate: 0.5, kinds: [{ kind: 'drop' }, { kind: 'status', status: 503 }] });
      for (let i = 0; i < 40; i++) await f.fetch(new Request('http://x.test/')).catch(() => undefined);
      return f.log.map((e) => e.fault?.kind ?? '-').join(',');
    };
    expect(await run(5)).toBe(await run(5));
    expect(await run(5)).not.toBe(await run(6));
  });
});
