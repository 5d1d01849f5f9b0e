// The S3 adapter's XML reading: S3-shaped documents parse to the right values; anything else,
// however malformed, ends in BackupError('PROTOCOL') (never a crash, never another error type).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseXml, escapeXml } from '../../lib/storage/blob/xml.js';
import { parseInitiate, parseListObjects, parseListParts, parseS3Xml } from '../../lib/storage/blob/s3.js';
import { isBackupError } from '../../lib/errors.js';
import { utf8 } from '../../lib/util/bytes.js';
import type { BlobStoreLimits } from '../../lib/storage/blob/types.js';

const LIMITS: BlobStoreLimits = { maxObjectSize: 5 * 2 ** 40, minPartSize: 5 << 20, maxPartSize: 5 * 2 ** 30, maxParts: 10_000 };

/** Run `f`; it must return, or throw a PROTOCOL BackupError. */
function protocolOrValue(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!isBackupError(e, 'PROTOCOL')) throw e;
  }
}

// Shapes as the S3 API reference documents them (responses of CreateMultipartUpload, ListParts,
// ListObjectsV2), written out for this test.
const INITIATE = `<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
   <Bucket>example-bucket</Bucket>
   <Key>example-object</Key>
   <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>`;

const LIST_PARTS = `<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket>
  <Key>example-object</Key>
  <UploadId>XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA</UploadId>
  <Initiator><ID>arn:aws:iam::111122223333:user/some-user-11116a31-17b5-4fb7-9df5-b288870f11xx</ID><DisplayName>umat-user-11116a31-17b5-4fb7-9df5-b288870f11xx</DisplayName></Initiator>
  <StorageClass>STANDARD</StorageClass>
  <PartNumberMarker>1</PartNumberMarker>
  <NextPartNumberMarker>3</NextPartNumberMarker>
  <MaxParts>2</MaxParts>
  <IsTruncated>true</IsTruncated>
  <Part>
    <PartNumber>2</PartNumber>
    <LastModified>2010-11-10T20:48:34.000Z</LastModified>
    <ETag>&quot;7778aef83f66abc1fa1e8477f296d394&quot;</ETag>
    <Size>10485760</Size>
  </Part>
  <Part>
    <PartNumber>3</PartNumber>
    <LastModified>2010-11-10T20:48:33.000Z</LastModified>
    <ETag>"aaaa18db4cc2f85cedef654fccc4a4x8"</ETag>
    <Size>10485760</Size>
  </Part>
</ListPartsResult>`;

const LIST_OBJECTS = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Prefix>backups/</Prefix>
  <KeyCount>2</KeyCount>
  <MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>backups/a</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>"fba9dede5f27731c9771645a39863328"</ETag>
    <Size>434234</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>backups/b</Key>
    <ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>
    <Size>0</Size>
  </Contents>
</ListBucketResult>`;

describe('S3 XML: documented shapes', () => {
  it('reads InitiateMultipartUploadResult, ListPartsResult and ListBucketResult', () => {
    expect(parseInitiate(utf8(INITIATE))).toBe('VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA');
    expect(parseListParts(utf8(LIST_PARTS), LIMITS)).toEqual({
      parts: [
        { partNumber: 2, etag: '"7778aef83f66abc1fa1e8477f296d394"', size: 10485760 },
        { partNumber: 3, etag: '"aaaa18db4cc2f85cedef654fccc4a4x8"', size: 10485760 },
      ],
      next: 3,
    });
    expect(parseListObjects(utf8(LIST_OBJECTS), 'backups/', LIMITS.maxObjectSize)).toEqual({
      objects: [
        { key: 'backups/a', size: 434234, etag: '"fba9dede5f27731c9771645a39863328"' },
        { key: 'backups/b', size: 0, etag: '"3858f62230ac3c915f300c664312c11f-9"' },
      ],
      next: '1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=',
    });
  });

  it('turns an <Error> body (even under 200) into a typed error', () => {
    const err = (() => {
      try {
        parseS3Xml(utf8('<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>'), 'CompleteMultipartUploadResult');
      } catch (e) {
        return e;
      }
    })();
    expect(isBackupError(err, 'BLOB_STORE_FAILED')).toBe(true);
  });

  it('refuses DOCTYPE (no entity expansion), comments, CDATA, deep nesting and too many elements', () => {
    const bombs = [
      '<!DOCTYPE lolz [<!ENTITY lol "lol">]><ListPartsResult>&lol;</ListPartsResult>',
      '<ListPartsResult><!-- x --></ListPartsResult>',
      '<ListPartsResult><![CDATA[x]]></ListPartsResult>',
      '<a>'.repeat(20) + '</a>'.repeat(20),
      `<ListPartsResult>${'<Part/>'.repeat(50_000)}</ListPartsResult>`,
      '<ListPartsResult>&xxe;</ListPartsResult>',
      '<ListPartsResult>&#0;</ListPartsResult>',
      '<ListPartsResult>&#x110000;</ListPartsResult>',
      '<a></b>',
      '<a>',
      '<a></a><b></b>',
      'text<a></a>',
    ];
    for (const b of bombs) expect(() => parseXml(b)).toThrow(/XML/);
  });

  it('refuses out-of-range numbers, disordered parts and a non-advancing marker', () => {
    const bad = [
      LIST_PARTS.replace('<PartNumber>3</PartNumber>', '<PartNumber>10001</PartNumber>'),
      LIST_PARTS.replace('<PartNumber>3</PartNumber>', '<PartNumber>2</PartNumber>'),
      LIST_PARTS.replace('<Size>10485760</Size>', '<Size>-1</Size>'),
      LIST_PARTS.replace('<Size>10485760</Size>', '<Size>99999999999999999</Size>'),
      LIST_PARTS.replace('<NextPartNumberMarker>3</NextPartNumberMarker>', '<NextPartNumberMarker>1</NextPartNumberMarker>'),
      LIST_PARTS.replace('<IsTruncated>true</IsTruncated>', '<IsTruncated>yes</IsTruncated>'),
      LIST_PARTS.replace('<NextPartNumberMarker>3</NextPartNumberMarker>', ''),
    ];
    for (const b of bad) expect(() => parseListParts(utf8(b), LIMITS)).toThrow(/S3 sent|XML/);
    expect(() => parseListObjects(utf8(LIST_OBJECTS), 'other/', LIMITS.maxObjectSize)).toThrow(/prefix/);
    expect(() => parseListObjects(utf8(LIST_OBJECTS.replace('backups/a', '../a')), 'backups/', LIMITS.maxObjectSize)).toThrow(/prefix/);
  });
});

describe('S3 XML: fuzz (fast-check)', () => {
  it('any string: parseXml returns or throws PROTOCOL', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => protocolOrValue(() => parseXml(s))), { numRuns: 2000 });
  });

  it('XML-ish token soup: parseXml returns or throws PROTOCOL', () => {
    const tok = fc.constantFrom('<', '>', '/', '</', '/>', '<?xml version="1.0"?>', '<!DOCTYPE a>', 'Part', 'ETag', ' ', '"', "'", '=', 'a="b"', '&amp;', '&', ';', '&#x41;', '&#99999999;', '\n', 'x:', ':y');
    fc.assert(fc.property(fc.array(tok, { maxLength: 60 }), (a) => protocolOrValue(() => parseXml(a.join('')))), { numRuns: 3000 });
  });

  it('mutated S3 answers: every parser returns or throws PROTOCOL', () => {
    const docs = [INITIATE, LIST_PARTS, LIST_OBJECTS];
    fc.assert(
      fc.property(fc.nat(2), fc.nat(), fc.nat(40), fc.string({ maxLength: 8 }), (d, pos, del, ins) => {
        const src = docs[d]!;
        const at = pos % (src.length + 1);
        const mutated = utf8(src.slice(0, at) + ins + src.slice(at + del));
        protocolOrValue(() => parseInitiate(mutated));
        protocolOrValue(() => parseListParts(mutated, LIMITS));
        protocolOrValue(() => parseListObjects(mutated, 'backups/', LIMITS.maxObjectSize));
      }),
      { numRuns: 3000 },
    );
  });

  it('random bytes (not even UTF-8): PROTOCOL', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        protocolOrValue(() => parseListParts(b, LIMITS));
        protocolOrValue(() => parseListObjects(b, '', LIMITS.maxObjectSize));
      }),
      { numRuns: 1000 },
    );
  });

  it('generated ListPartsResult documents round-trip, escaping included', () => {
    const part = fc.record({
      etag: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.trim() === s && [...s].every((c) => c.charCodeAt(0) >= 0x20 && !/[\ud800-\udfff\ufffe\uffff]/.test(c))),
      size: fc.nat(LIMITS.maxPartSize),
    });
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { maxLength: 20 }), fc.array(part, { minLength: 20, maxLength: 20 }), (nums, ps) => {
        const sorted = [...nums].sort((a, b) => a - b);
        const want = sorted.map((partNumber, i) => ({ partNumber, etag: ps[i]!.etag, size: ps[i]!.size }));
        const doc =
          `<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated>` +
          want.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(p.etag)}</ETag><Size>${p.size}</Size></Part>`).join('') +
          '</ListPartsResult>';
        expect(parseListParts(utf8(doc), LIMITS)).toEqual({ parts: want, next: undefined });
      }),
      { numRuns: 300 },
    );
  });
});
