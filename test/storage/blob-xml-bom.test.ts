// A byte-order mark in S3 XML, on both sides: the blob server's CompleteMultipartUpload body and
// the S3 adapter's reading of S3's answers. The rest of the project refuses U+FEFF in every parsed
// format (issue 13, finding 6; test/trust/review-13.test.ts): the same bytes must never read as
// two different documents to two parsers, and `BOM ‖ doc` must not parse as `doc`. Real S3 sends
// no BOM (its answers start with `<?xml version="1.0" encoding="UTF-8"?>`), nor does s3rver or
// the AWS SDK's request builder, so refusing it costs no interoperability.
// Every test here failed against the code before the fix (the reader skipped a leading U+FEFF).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseXml, escapeXml } from '../../lib/storage/blob/xml.js';
import { parseInitiate, parseListObjects, parseListParts, parseS3Xml } from '../../lib/storage/blob/s3.js';
import { createBlobStoreHandler } from '../../lib/server/blob-store.js';
import { createS3BlobStore } from '../../lib/storage/blob/s3.js';
import { concatBytes, copyBytes, utf8 } from '../../lib/util/bytes.js';
import { isBackupError } from '../../lib/errors.js';
import type { BlobStoreLimits } from '../../lib/storage/blob/types.js';
import { errorCode, expectCode } from '../support/errors.js';

const BOM = Uint8Array.of(0xef, 0xbb, 0xbf);
const LIMITS: BlobStoreLimits = { maxObjectSize: 5 * 2 ** 40, minPartSize: 5 << 20, maxPartSize: 5 * 2 ** 30, maxParts: 10_000 };
const DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';
const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
const INITIATE = `${DECL}<InitiateMultipartUploadResult ${NS}><Bucket>b</Bucket><Key>k</Key><UploadId>abc</UploadId></InitiateMultipartUploadResult>`;
const LIST_PARTS = `${DECL}<ListPartsResult ${NS}><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber><ETag>"e1"</ETag><Size>5</Size></Part></ListPartsResult>`;
const LIST_OBJECTS = `${DECL}<ListBucketResult ${NS}><IsTruncated>false</IsTruncated><Contents><Key>p/a</Key><ETag>"e"</ETag><Size>3</Size></Contents></ListBucketResult>`;
const COMPLETED = `${DECL}<CompleteMultipartUploadResult ${NS}><Bucket>b</Bucket><Key>k</Key><ETag>"x-1"</ETag></CompleteMultipartUploadResult>`;

describe('S3 XML: a byte-order mark is refused (client side)', () => {
  it('the documents parse as written', () => {
    expect(parseInitiate(utf8(INITIATE))).toBe('abc');
    expect(parseListParts(utf8(LIST_PARTS), LIMITS).parts).toHaveLength(1);
    expect(parseListObjects(utf8(LIST_OBJECTS), 'p/', LIMITS.maxObjectSize).objects).toHaveLength(1);
    expect(parseS3Xml(utf8(COMPLETED), 'CompleteMultipartUploadResult').name).toBe('CompleteMultipartUploadResult');
  });

  it('BOM ‖ answer is PROTOCOL for every S3 answer the adapter reads', () => {
    expectCode(() => parseInitiate(concatBytes(BOM, utf8(INITIATE))), 'PROTOCOL');
    expectCode(() => parseListParts(concatBytes(BOM, utf8(LIST_PARTS)), LIMITS), 'PROTOCOL');
    expectCode(() => parseListObjects(concatBytes(BOM, utf8(LIST_OBJECTS)), 'p/', LIMITS.maxObjectSize), 'PROTOCOL');
    expectCode(() => parseS3Xml(concatBytes(BOM, utf8(COMPLETED)), 'CompleteMultipartUploadResult'), 'PROTOCOL');
    expectCode(() => parseXml('\uFEFF<a/>'), 'PROTOCOL');
  });

  it('U+FEFF anywhere else (after the declaration, inside text, as a character reference) is PROTOCOL', () => {
    expectCode(() => parseInitiate(utf8(INITIATE.replace('\n', '\n\uFEFF'))), 'PROTOCOL');
    expectCode(() => parseInitiate(utf8(INITIATE.replace('abc', '\uFEFFabc'))), 'PROTOCOL');
    expectCode(() => parseListParts(utf8(LIST_PARTS.replace('"e1"', '\uFEFF"e1"')), LIMITS), 'PROTOCOL');
    expectCode(() => parseListParts(utf8(LIST_PARTS.replace('"e1"', '&#xFEFF;"e1"')), LIMITS), 'PROTOCOL');
    expectCode(() => parseListParts(utf8(LIST_PARTS.replace('"e1"', '&#65279;"e1"')), LIMITS), 'PROTOCOL');
  });

  it('an S3 adapter fed BOM ‖ answer by the store fails with PROTOCOL (createUpload, listParts, list)', async () => {
    const bodies: Record<string, string> = { createUpload: INITIATE, listParts: LIST_PARTS, list: LIST_OBJECTS };
    const store = createS3BlobStore({
      presign: async (op) => `http://s3.test/${op.op}`,
      fetch: async (r) => {
        const op = new URL(typeof r === 'string' ? r : r instanceof URL ? r.href : r.url).pathname.slice(1);
        return new Response(copyBytes(concatBytes(BOM, utf8(bodies[op]!))), { status: 200, headers: { 'content-type': 'application/xml' } });
      },
    });
    const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isBackupError(e) ? e.code : String(e)));
    expect(await codeOf(store.createUpload('k'))).toBe('PROTOCOL');
    expect(await codeOf(store.listParts({ key: 'k', uploadId: 'abc' }))).toBe('PROTOCOL');
    expect(await codeOf(store.list('p/'))).toBe('PROTOCOL');
  });

  it('property: BOM ‖ any document, or U+FEFF inserted anywhere, never parses', () => {
    const docs = [INITIATE, LIST_PARTS, LIST_OBJECTS, COMPLETED];
    fc.assert(
      fc.property(fc.nat(docs.length - 1), fc.nat(), fc.boolean(), (d, pos, raw) => {
        const src = docs[d]!;
        const at = pos % (src.length + 1);
        const mark = raw ? '\uFEFF' : '&#xfeff;';
        // Raw anywhere; as a character reference in text, an attribute value or the declaration
        // (elsewhere, in a tag name say, the document is malformed anyway).
        const mutated = src.slice(0, at) + mark + src.slice(at);
        expect(errorCode(() => parseXml(mutated))).toBe('PROTOCOL');
        expect(errorCode(() => parseXml('\uFEFF' + src))).toBe('PROTOCOL');
      }),
      { numRuns: 1000 },
    );
  });

  it('property: whatever parseXml accepts contains no U+FEFF', () => {
    const tok = fc.constantFrom('<a>', '</a>', '<b/>', 'x', ' ', '\uFEFF', '&#xFEFF;', '&#65279;', '&amp;', DECL);
    fc.assert(
      fc.property(fc.array(tok, { maxLength: 12 }), (a) => {
        const s = a.join('');
        let ok = true;
        try {
          parseXml(s);
        } catch (e) {
          if (!isBackupError(e, 'PROTOCOL')) throw e;
          ok = false;
        }
        if (ok) expect(/\uFEFF|&#xFEFF;|&#65279;/i.test(s)).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('blob server: a CompleteMultipartUpload body with a byte-order mark is 400 MalformedXML', () => {
  async function upload() {
    const handler = createBlobStoreHandler({ limits: { minPartSize: 1 } });
    const base = 'http://s.test/s3/backups/k';
    const up = await handler(new Request(`${base}?uploads`, { method: 'POST' }));
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(await up.text())![1]!;
    const part = await handler(new Request(`${base}?partNumber=1&uploadId=${uploadId}`, { method: 'PUT', body: new Uint8Array([1, 2, 3]) }));
    const etag = part.headers.get('etag')!;
    const body = `<CompleteMultipartUpload ${NS}><Part><PartNumber>1</PartNumber><ETag>${escapeXml(etag)}</ETag></Part></CompleteMultipartUpload>`;
    const complete = (b: Uint8Array) => handler(new Request(`${base}?uploadId=${uploadId}`, { method: 'POST', body: copyBytes(b) }));
    return { handler, base, body, complete };
  }

  for (const [name, mangle] of [
    ['BOM ‖ body', (b: string) => concatBytes(BOM, utf8(b))],
    ['BOM ‖ declaration ‖ body', (b: string) => concatBytes(BOM, utf8(DECL + b))],
    ['U+FEFF inside an ETag', (b: string) => utf8(b.replace('<ETag>', '<ETag>\uFEFF'))],
  ] as const) {
    it(`${name}: refused, the upload stays open and completes with the clean body`, async () => {
      const { handler, base, body, complete } = await upload();
      const res = await complete(mangle(body));
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('<Code>MalformedXML</Code>');
      expect((await handler(new Request(base, { method: 'HEAD' }))).status).toBe(404);
      expect((await complete(utf8(body))).status).toBe(200);
      expect((await handler(new Request(base, { method: 'HEAD' }))).headers.get('content-length')).toBe('3');
    });
  }
});
