/**
 * {@link BlobStore} over S3 through presigned URLs (docs/STORAGE.md §S3 subset). The app backend
 * holds the AWS credentials and presigns one URL per operation; the SDK sends exactly the
 * requests S3 documents: PutObject, GetObject (Range), HeadObject, DeleteObject, ListObjectsV2,
 * CreateMultipartUpload, UploadPart, ListParts, CompleteMultipartUpload, AbortMultipartUpload.
 * S3's XML answers are read with a small capped reader (./xml.ts) and checked field by field.
 *
 * @module
 */
import { assertOptionsObject, checkingOptions } from '../../util/options.js';
import { BackupError, isBackupError } from '../../errors.js';
import { fromUtf8, utf8 } from '../../util/bytes.js';
import { checkCompletedParts, checkUploadRef, listingParts } from './checks.js';
import { createPresignedCaller, presignedObjectOps, storeError } from './http.js';
import type { PresignedBlobStoreOptions } from './presigned.js';
import { childText, childrenNamed, escapeXml, parseXml, requireInt, requireText, type XmlElement } from './xml.js';
import {
  assertBlobKey,
  assertBlobPrefix,
  isBlobKey,
  listCap,
  type BlobListEntry,
  type BlobStore,
  type BlobStoreLimits,
  type UploadedPart,
} from './types.js';

/** Options of {@link createS3BlobStore}. */
export type S3BlobStoreOptions = PresignedBlobStoreOptions;

/** Cap on an XML answer: a 1000-entry page of ~1 KiB keys is ~1.3 MiB. */
const MAX_XML_BYTES = 4 * 2 ** 20;
/** Pages followed at most (ListObjectsV2, ListParts). */
const MAX_PAGES = 1000;


function protocol(what: string): BackupError {
  return new BackupError('PROTOCOL', `S3 sent ${what}`);
}

/** Parse an XML body and check its root element's name. */
export function parseS3Xml(body: Uint8Array, root: string): XmlElement {
  let text: string;
  try {
    text = fromUtf8(body);
  } catch (e) {
    throw new BackupError('PROTOCOL', 'S3 sent XML that is not UTF-8', { cause: e });
  }
  if (/^\s*[{[]/.test(text)) {
    // The presigned-HTTP protocol (the reference blob server's `http` URLs) answers JSON.
    throw new BackupError('PROTOCOL', 'the blob store sent JSON where S3 answers XML: URLs of the presigned-HTTP protocol need createHttpBlobStore (createS3BlobStore speaks S3, docs/STORAGE.md)');
  }
  const doc = parseXml(text, { maxLength: MAX_XML_BYTES, maxDepth: 8 });
  if (doc.name === 'Error') throw s3Error(200, doc);
  if (doc.name !== root) throw protocol(`<${doc.name}> where <${root}> was expected`);
  return doc;
}

/** Map an S3 `<Error>` document (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html). */
function s3Error(status: number, doc: XmlElement | undefined): BackupError {
  return storeError(status, doc === undefined ? undefined : childText(doc, 'Code'), 'S3 store');
}

/** The `<Code>` of an S3 error body, if it is one. */
function errorCodeOf(body: Uint8Array): string | undefined {
  const doc = parseXml(fromUtf8(body), { maxLength: MAX_XML_BYTES, maxDepth: 8 });
  return doc.name === 'Error' ? childText(doc, 'Code') : undefined;
}

function parseBool(el: XmlElement, name: string): boolean {
  const t = childText(el, name);
  if (t === undefined) return false;
  if (t === 'true') return true;
  if (t === 'false') return false;
  throw protocol(`a bad <${name}>`);
}

function etagOf(el: XmlElement): string {
  const e = requireText(el, 'ETag');
  if (e.length === 0 || e.length > 1024) throw protocol('a bad ETag');
  return e;
}

/** Parse InitiateMultipartUploadResult → UploadId. */
export function parseInitiate(body: Uint8Array): string {
  const doc = parseS3Xml(body, 'InitiateMultipartUploadResult');
  const id = requireText(doc, 'UploadId');
  if (!/^[\x21-\x7e]{1,1024}$/.test(id)) throw protocol('a bad UploadId');
  return id;
}

/** Parse one ListPartsResult page. */
export function parseListParts(body: Uint8Array, limits: BlobStoreLimits): { parts: UploadedPart[]; next: number | undefined } {
  const doc = parseS3Xml(body, 'ListPartsResult');
  const parts = childrenNamed(doc, 'Part').map((p) => ({
    partNumber: requireInt(p, 'PartNumber', 1, limits.maxParts),
    etag: etagOf(p),
    size: requireInt(p, 'Size', 0, limits.maxPartSize),
  }));
  for (let i = 1; i < parts.length; i++) if (parts[i]!.partNumber <= parts[i - 1]!.partNumber) throw protocol('parts out of order');
  const truncated = parseBool(doc, 'IsTruncated');
  if (!truncated) return { parts, next: undefined };
  const next = requireInt(doc, 'NextPartNumberMarker', 1, limits.maxParts);
  if (parts.length === 0 || next < parts[parts.length - 1]!.partNumber) throw protocol('a NextPartNumberMarker that does not advance');
  return { parts, next };
}

/** Parse one ListBucketResult (ListObjectsV2) page. */
export function parseListObjects(
  body: Uint8Array,
  prefix: string,
  maxObjectSize: number,
): { objects: BlobListEntry[]; next: string | undefined } {
  const doc = parseS3Xml(body, 'ListBucketResult');
  const objects = childrenNamed(doc, 'Contents').map((c) => {
    const key = requireText(c, 'Key');
    if (!isBlobKey(key) || !key.startsWith(prefix)) throw protocol('a key outside the asked prefix');
    return { key, size: requireInt(c, 'Size', 0, maxObjectSize), etag: etagOf(c) };
  });
  if (!parseBool(doc, 'IsTruncated')) return { objects, next: undefined };
  const next = requireText(doc, 'NextContinuationToken');
  if (next.length === 0 || next.length > 4096) throw protocol('a bad NextContinuationToken');
  return { objects, next };
}

/**
 * A {@link BlobStore} over S3 (or an S3-compatible service) through presigned URLs.
 *
 * The browser needs the bucket's CORS rules to expose the `ETag` header (S3 CORS
 * `ExposeHeaders`), or part ETags cannot be read.
 *
 * @example
 * ```ts
 * const store = createS3BlobStore({
 *   fetch: globalThis.fetch.bind(globalThis),
 *   presign: (op) => api.presignS3(op), // the app backend runs getSignedUrl(...) for op
 * });
 * const up = await store.createUpload('backups/acct/archive-1');
 * ```
 */
export function createS3BlobStore(options: S3BlobStoreOptions): BlobStore {
  assertOptionsObject(options, 'createS3BlobStore');
  const c = checkingOptions(() => createPresignedCaller(options, 'S3 store', errorCodeOf));
  const limits = c.limits;
  const small = 64 * 1024;

  const store: BlobStore = {
    limits,
    ...presignedObjectOps(c),

    async createUpload(key, opts = {}) {
      assertBlobKey(key);
      const len = opts.contentLength;
      if (len !== undefined && (!Number.isSafeInteger(len) || len < 0)) {
        throw new RangeError('options.contentLength must be a non-negative safe integer');
      }
      if (len !== undefined && len > limits.maxObjectSize) {
        throw new BackupError('QUOTA_EXCEEDED', 'the blob is over the store\'s size limit', { limit: limits.maxObjectSize });
      }
      // CreateMultipartUpload is a POST that makes a new UploadId each time: never retried.
      const res = await c.call(
        { op: 'createUpload', key, ...(len === undefined ? {} : { contentLength: len }) },
        { method: 'POST', idempotent: false, signal: opts.signal, maxResponseBytes: small },
      );
      return { key, uploadId: parseInitiate(res.body) };
    },

    async listParts(upload, opts = {}) {
      checkUploadRef(upload);
      const out: UploadedPart[] = [];
      let marker: number | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const res = await listingParts('S3 store', () =>
          c.call(
            { op: 'listParts', key: upload.key, uploadId: upload.uploadId, ...(marker === undefined ? {} : { partNumberMarker: marker }) },
            { method: 'GET', idempotent: true, signal: opts.signal, maxResponseBytes: MAX_XML_BYTES },
          ),
        );
        const { parts, next } = parseListParts(res.body, limits);
        for (const p of parts) {
          if (out.length > 0 && p.partNumber <= out[out.length - 1]!.partNumber) throw protocol('parts out of order');
          out.push(p);
        }
        if (next === undefined) return out;
        marker = next;
      }
      throw protocol('too many ListParts pages');
    },

    async completeUpload(upload, parts, opts = {}) {
      checkUploadRef(upload);
      checkCompletedParts(parts, limits);
      const body = utf8(
        '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
          parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`).join('') +
          '</CompleteMultipartUpload>',
      );
      try {
        // Repeating CompleteMultipartUpload with the same part list cannot produce a different
        // object, and AWS's SDKs retry it; a repeat after a lost success answers NoSuchUpload,
        // handled below.
        const res = await c.call(
          { op: 'completeUpload', key: upload.key, uploadId: upload.uploadId },
          {
            method: 'POST',
            idempotent: true,
            headers: { 'content-type': 'application/xml' },
            body,
            signal: opts.signal,
            maxResponseBytes: small,
          },
        );
        // S3 may answer 200 and then report a failure in the body (API_CompleteMultipartUpload):
        // parseS3Xml turns an <Error> root into a BackupError.
        const doc = parseS3Xml(res.body, 'CompleteMultipartUploadResult');
        const etag = etagOf(doc);
        const head = await store.head(upload.key, opts);
        if (head === undefined) throw protocol('a completed upload whose object is missing');
        return { size: head.size, etag };
      } catch (e) {
        // The upload is gone: either an earlier attempt completed it (its answer lost), or it was
        // aborted. Keys of archives are unique per upload, so an object present now is ours.
        if (isBackupError(e, 'NOT_FOUND')) {
          const head = await store.head(upload.key, opts);
          if (head !== undefined) return head;
        }
        throw e;
      }
    },

    async list(prefix, opts = {}) {
      assertBlobPrefix(prefix);
      const cap = listCap(opts);
      const out: BlobListEntry[] = [];
      let token: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const res = await c.call(
          { op: 'list', prefix, ...(token === undefined ? {} : { continuationToken: token }) },
          { method: 'GET', idempotent: true, signal: opts.signal, maxResponseBytes: MAX_XML_BYTES },
        );
        const { objects, next } = parseListObjects(res.body, prefix, limits.maxObjectSize);
        for (const o of objects) {
          if (out.length > 0 && o.key <= out[out.length - 1]!.key) throw protocol('keys out of order');
          out.push(o);
        }
        cap(out.length);
        if (next === undefined) return out;
        token = next;
      }
      throw protocol('too many ListObjectsV2 pages');
    },
  };
  return store;
}
