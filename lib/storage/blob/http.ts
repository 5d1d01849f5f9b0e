/**
 * {@link BlobStore} over the simple presigned-URL HTTP protocol (docs/STORAGE.md §Presigned HTTP):
 * plain PUT / GET with Range / HEAD / DELETE on objects, and a small JSON multipart protocol that
 * the reference server (lib/server/blob-store.ts) and any app backend can implement.
 *
 * @module
 */
import { assertOptionsObject, checkingOptions } from '../../util/options.js';
import { BackupError, throwIfAborted } from '../../errors.js';
import { abytes, fromUtf8, utf8 } from '../../util/bytes.js';
import { createTransport, type Transport, type TransportRequest, type TransportResponse } from '../../transport/http.js';
import { BLOB_PARTS, RANGE_REQUEST, blobParts, requestBody, resolveBodyPath, type BlobParts, type RangeRequest, type ResolvedBodyPath } from './body.js';
import { checkCompletedParts, checkPartNumber, checkRange, checkUploadRef, listingParts, resolveLimits } from './checks.js';
import { resolvePresigned, type BlobOp, type PresignedBlobStoreOptions } from './presigned.js';
import {
  assertBlobKey,
  assertBlobPrefix,
  isBlobKey,
  listCap,
  type BlobCallOptions,
  type BlobListEntry,
  type BlobStore,
  type BlobStoreLimits,
  type UploadedPart,
  type UploadRef,
} from './types.js';

/** Options of {@link createHttpBlobStore}. */
export type HttpBlobStoreOptions = PresignedBlobStoreOptions;

/** Cap on a JSON answer (lists, parts): 10 000 entries of ~1 KiB keys fit. */
const MAX_JSON_BYTES = 16 * 2 ** 20;
/** Cap on list pages followed, so a server cannot keep us paging forever. */
const MAX_LIST_PAGES = 1000;
/** Cap on an ETag header. */
const MAX_ETAG = 1024;

/** @internal The request helper both presigned adapters share. */
export interface PresignedCaller {
  readonly limits: BlobStoreLimits;
  /** How large bodies travel on this platform (./body.ts). */
  readonly bodies: ResolvedBodyPath;
  /** The ranged GET a worker may send itself (browsers only: see body.ts RANGE_REQUEST). */
  readonly rangeRequest?: RangeRequest;
  call(
    op: BlobOp,
    req: Omit<TransportRequest, 'url' | 'headers'> & { readonly headers?: Readonly<Record<string, string>>; readonly transferBytes?: number },
  ): Promise<TransportResponse>;
}

/** Statuses whose error code the adapters read from the body (several distinct errors share 400). */
const READ_ERROR_STATUS = [400, 409];

/**
 * @internal Map an error code in S3's vocabulary (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html),
 * which the simple protocol's JSON errors reuse, to a {@link BackupError}.
 */
export function storeError(status: number, code: string | undefined, peer: string): BackupError {
  const safe = code !== undefined && /^[A-Za-z]{1,64}$/.test(code) ? code : 'unknown error';
  const msg = `the ${peer} answered ${status} ${safe}`;
  switch (code) {
    case 'EntityTooSmall':
    case 'InvalidPart':
    case 'InvalidPartOrder':
    case 'InvalidArgument':
    case 'InvalidRange':
      return new BackupError('INVALID_ARGUMENT', msg, { status });
    case 'EntityTooLarge':
      return new BackupError('QUOTA_EXCEEDED', msg, { status });
    case 'NoSuchKey':
    case 'NoSuchUpload':
      return new BackupError('NOT_FOUND', msg, { status });
    case 'PreconditionFailed':
    case 'ConditionalRequestConflict':
      return new BackupError('PRECONDITION_FAILED', msg, { status });
    case 'AccessDenied':
    case 'ExpiredToken':
      return new BackupError('UNAUTHORIZED', msg, { status });
    default:
      return new BackupError('BLOB_STORE_FAILED', msg, { status });
  }
}

/** @internal */
export function createPresignedCaller(
  options: PresignedBlobStoreOptions,
  peerName: string,
  readErrorCode: (body: Uint8Array) => string | undefined,
): PresignedCaller {
  if (typeof options?.presign !== 'function') {
    throw new TypeError('options.presign must be a function: (op) => the presigned URL your backend made for op (docs/STORAGE.md)');
  }
  const limits = resolveLimits(options.limits);
  const bodies = resolveBodyPath(options.bodies);
  const minRate = options.minBytesPerSecond ?? 65_536;
  if (!(minRate > 0)) throw new RangeError('options.minBytesPerSecond must be > 0');
  const baseTimeout = options.timeoutMs ?? 30_000;
  const transport: Transport = createTransport({ ...options, peerName, failureCode: 'BLOB_STORE_FAILED' });
  return {
    limits,
    bodies,
    ...(bodies.upload === 'blob' && {
      rangeRequest: async (key, range, signal) => {
        const p = await resolvePresigned(options.presign, { op: 'get', key }, signal);
        return {
          url: p.url,
          headers: { ...(p.headers ?? {}), range: `bytes=${range.offset}-${range.offset + range.length - 1}` },
          timeoutMs: baseTimeout + Math.ceil((range.length / minRate) * 1000),
          read: bodies.read,
        };
      },
    }),
    async call(op, req) {
      throwIfAborted(req.signal);
      const p = await resolvePresigned(options.presign, op, req.signal);
      const extra = req.transferBytes ? Math.ceil((req.transferBytes / minRate) * 1000) : 0;
      const res = await transport.request({
        ...req,
        url: p.url,
        headers: { ...(p.headers ?? {}), ...(req.headers ?? {}) },
        timeoutMs: baseTimeout + extra,
        passStatuses: [...(req.passStatuses ?? []), ...READ_ERROR_STATUS],
      });
      if (READ_ERROR_STATUS.includes(res.status) && !(req.passStatuses ?? []).includes(res.status)) {
        let code: string | undefined;
        try {
          code = readErrorCode(res.body);
        } catch {
          code = undefined;
        }
        throw storeError(res.status, code, peerName);
      }
      return res;
    },
  };
}

/** @internal An ETag header, required and sane. */
export function requireEtag(res: TransportResponse): string {
  const etag = res.headers.get('etag');
  if (etag === null || etag.length === 0 || etag.length > MAX_ETAG) {
    throw new BackupError('PROTOCOL', 'the blob store sent no usable ETag');
  }
  return etag;
}

/** @internal Check a ranged answer (RFC 9110 §14.4 Content-Range) and return the bytes. */
export function rangedBody(res: TransportResponse, offset: number, length: number): Uint8Array {
  if (res.status === 200) {
    // The server ignored Range (RFC 9110 §14.2 allows it) and sent the whole blob, within our cap.
    return res.body.subarray(offset, offset + length);
  }
  const cr = res.headers.get('content-range');
  const m = cr === null ? null : /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/.exec(cr.trim());
  if (m === null) throw new BackupError('PROTOCOL', 'the blob store sent a 206 without a valid Content-Range');
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (first !== offset || last < first || last - first + 1 > length || res.body.length !== last - first + 1) {
    throw new BackupError('PROTOCOL', 'the blob store sent a range other than the one asked for');
  }
  return res.body;
}

/** @internal Parse a JSON answer within its cap. */
function parseJson(body: Uint8Array): unknown {
  let text: string | undefined;
  try {
    text = fromUtf8(body);
    return JSON.parse(text);
  } catch (e) {
    // An S3 endpoint (presigned S3 URLs) answers XML: the app paired the wrong adapter.
    const hint = text?.trimStart().startsWith('<')
      ? ': it sent XML, as S3 does; presigned S3 URLs need createS3BlobStore (createHttpBlobStore speaks the presigned-HTTP protocol, docs/STORAGE.md)'
      : '';
    throw new BackupError('PROTOCOL', `the blob store sent malformed JSON${hint}`, { cause: e });
  }
}

function protocol(what: string): BackupError {
  return new BackupError('PROTOCOL', `the blob store sent ${what}`);
}

function asRecord(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw protocol(`a malformed ${what}`);
  return v as Record<string, unknown>;
}

function asInt(v: unknown, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw protocol(`a bad ${what}`);
  return v;
}

function asString(v: unknown, max: number, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw protocol(`a bad ${what}`);
  return v;
}

/** @internal Content-Length of a HEAD answer. */
export function headSize(res: TransportResponse, maxObjectSize: number): number {
  const cl = res.headers.get('content-length');
  if (cl === null || !/^\d{1,16}$/.test(cl) || Number(cl) > maxObjectSize) {
    throw protocol('a HEAD answer without a valid Content-Length');
  }
  return Number(cl);
}

/**
 * @internal The calls both presigned adapters make the same way (the protocols differ only in
 * how uploads are created, listed and completed, and in listing): a part upload, an abort, and
 * the single-object operations. Each checks its arguments before any request.
 */
export function presignedObjectOps(
  c: PresignedCaller,
): Pick<BlobStore, 'putPart' | 'abortUpload' | 'put' | 'get' | 'head' | 'delete'> & { [BLOB_PARTS]?: BlobParts; [RANGE_REQUEST]?: RangeRequest } {
  const limits = c.limits;
  /** Cap on the body of an answer that carries none worth reading (an error's code at most). */
  const small = 64 * 1024;
  /** A part from its bytes, or (`built`: the backup's Blob parts, {@link BLOB_PARTS}) a `Blob`. */
  const putPart = async (upload: UploadRef, partNumber: number, bytes: Uint8Array | Blob, opts: BlobCallOptions = {}, built = false): Promise<{ etag: string }> => {
    checkUploadRef(upload);
    checkPartNumber(partNumber, limits);
    if (!built) abytes(bytes, 'bytes');
    const length = built ? (bytes as Blob).size : (bytes as Uint8Array).length;
    if (length > limits.maxPartSize) {
      throw new BackupError('QUOTA_EXCEEDED', 'the part is over the store\'s part size limit', { limit: limits.maxPartSize });
    }
    // Putting a part number again replaces the part: safe to repeat.
    const body = built ? (bytes as Blob) : await requestBody(bytes as Uint8Array, c.bodies);
    const res = await c.call(
      { op: 'putPart', key: upload.key, uploadId: upload.uploadId, partNumber, contentLength: length },
      { method: 'PUT', idempotent: true, body, signal: opts.signal, maxResponseBytes: small, transferBytes: length },
    );
    return { etag: requireEtag(res) };
  };
  return {
    ...(c.rangeRequest && { [RANGE_REQUEST]: c.rangeRequest }),
    ...(c.bodies.upload === 'blob' && {
      [BLOB_PARTS]: { parts: blobParts, put: (upload: UploadRef, partNumber: number, body: Blob, opts?: BlobCallOptions) => putPart(upload, partNumber, body, opts, true) },
    }),
    putPart: (upload, partNumber, bytes, opts) => putPart(upload, partNumber, bytes, opts),

    async abortUpload(upload, opts = {}) {
      checkUploadRef(upload);
      await c.call(
        { op: 'abortUpload', key: upload.key, uploadId: upload.uploadId },
        { method: 'DELETE', idempotent: true, signal: opts.signal, maxResponseBytes: small, passStatuses: [404] },
      );
    },

    async put(key, bytes, opts = {}) {
      assertBlobKey(key);
      abytes(bytes, 'bytes');
      if (opts.ifMatch !== undefined && typeof opts.ifMatch !== 'string') throw new TypeError('options.ifMatch must be a string');
      if (opts.ifNoneMatch !== undefined && opts.ifNoneMatch !== '*') throw new TypeError("options.ifNoneMatch must be '*'");
      if (bytes.length > limits.maxObjectSize) {
        throw new BackupError('QUOTA_EXCEEDED', 'the blob is over the store\'s size limit', { limit: limits.maxObjectSize });
      }
      // Conditional writes: If-None-Match: * and If-Match (RFC 9110 §13.1; S3 supports both).
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
      if (opts.ifMatch !== undefined) headers['if-match'] = opts.ifMatch;
      if (opts.ifNoneMatch !== undefined) headers['if-none-match'] = opts.ifNoneMatch;
      const body = await requestBody(bytes, c.bodies);
      const res = await c.call(
        { op: 'put', key, contentLength: bytes.length },
        { method: 'PUT', idempotent: true, headers, body, signal: opts.signal, maxResponseBytes: small, transferBytes: bytes.length },
      );
      return { size: bytes.length, etag: requireEtag(res) };
    },

    async get(key, opts = {}) {
      assertBlobKey(key);
      const range = opts.range;
      if (range !== undefined) checkRange(range);
      throwIfAborted(opts.signal);
      if (range !== undefined && range.length === 0) return new Uint8Array(0);
      const cap = range === undefined ? limits.maxObjectSize : Math.min(range.length, limits.maxObjectSize);
      const res = await c.call(
        { op: 'get', key },
        {
          method: 'GET',
          idempotent: true,
          ...(range === undefined ? {} : { headers: { range: `bytes=${range.offset}-${range.offset + range.length - 1}` } }),
          signal: opts.signal,
          // A server that ignores Range (allowed, RFC 9110 §14.2) may answer 200 with the whole
          // blob; within `cap` that is still correct, beyond it we refuse rather than buffer it.
          maxResponseBytes: cap,
          readAs: c.bodies.read,
          transferBytes: range?.length ?? 0,
        },
      );
      return range === undefined ? res.body : rangedBody(res, range.offset, range.length);
    },

    async head(key, opts = {}) {
      assertBlobKey(key);
      const res = await c.call(
        { op: 'head', key },
        { method: 'HEAD', idempotent: true, signal: opts.signal, maxResponseBytes: 0, passStatuses: [404] },
      );
      if (res.status === 404) return undefined;
      return { size: headSize(res, limits.maxObjectSize), etag: requireEtag(res) };
    },

    async delete(key, opts = {}) {
      assertBlobKey(key);
      await c.call(
        { op: 'delete', key },
        { method: 'DELETE', idempotent: true, signal: opts.signal, maxResponseBytes: small, passStatuses: [404] },
      );
    },

  };
}

/** The part limits a server announced in its createUpload answer (optional; malformed is PROTOCOL). */
function announcedLimits(v: unknown): UploadRef['serverLimits'] {
  if (v === undefined) return undefined;
  const o = asRecord(v, 'createUpload limits');
  const int = (name: string, min: number, max: number): number => {
    const n = o[name];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) throw protocol(`a bad limits.${name}`);
    return n;
  };
  return { minPartSize: int('minPartSize', 0, 2 ** 40), maxPartSize: int('maxPartSize', 1, 2 ** 40), maxParts: int('maxParts', 1, 10_000) };
}

/**
 * A {@link BlobStore} over the simple presigned HTTP protocol.
 *
 * @example
 * ```ts
 * const store = createHttpBlobStore({
 *   fetch: globalThis.fetch.bind(globalThis),
 *   presign: (op) => myBackend.blobUrl(op), // resolves to a short-lived URL
 *   limits: { minPartSize: 5 << 20 },
 * });
 * const info = await store.head('backups/acct/latest');
 * ```
 */
export function createHttpBlobStore(options: HttpBlobStoreOptions): BlobStore {
  assertOptionsObject(options, 'createHttpBlobStore');
  const c = checkingOptions(() => createPresignedCaller(options, 'blob store', (body) => {
    const o = parseJson(body) as { error?: unknown } | null;
    return typeof o?.error === 'string' ? o.error : undefined;
  }));
  const limits = c.limits;

  return {
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
      const res = await c.call(
        { op: 'createUpload', key, ...(len === undefined ? {} : { contentLength: len }) },
        {
          method: 'POST',
          // Not idempotent: every POST makes a new upload, so a lost answer is not retried.
          idempotent: false,
          ...(len === undefined ? {} : { headers: { 'x-upload-content-length': String(len) } }),
          signal: opts.signal,
          maxResponseBytes: 64 * 1024,
        },
      );
      const o = asRecord(parseJson(res.body), 'createUpload answer');
      const uploadId = asString(o.uploadId, 1024, 'uploadId');
      if (!/^[\x21-\x7e]+$/.test(uploadId)) throw protocol('a bad uploadId');
      const serverLimits = announcedLimits(o.limits);
      return { key, uploadId, ...(serverLimits === undefined ? {} : { serverLimits }) };
    },

    async listParts(upload, opts = {}) {
      checkUploadRef(upload);
      const res = await listingParts('blob store', () =>
        c.call(
          { op: 'listParts', key: upload.key, uploadId: upload.uploadId },
          { method: 'GET', idempotent: true, signal: opts.signal, maxResponseBytes: MAX_JSON_BYTES },
        ),
      );
      const o = asRecord(parseJson(res.body), 'listParts answer');
      if (!Array.isArray(o.parts) || o.parts.length > limits.maxParts) throw protocol('a bad part list');
      const out: UploadedPart[] = [];
      let prev = 0;
      for (const raw of o.parts as unknown[]) {
        const p = asRecord(raw, 'part');
        const partNumber = asInt(p.partNumber, limits.maxParts, 'partNumber');
        if (partNumber <= prev) throw protocol('parts out of order');
        prev = partNumber;
        out.push({ partNumber, etag: asString(p.etag, MAX_ETAG, 'etag'), size: asInt(p.size, limits.maxPartSize, 'part size') });
      }
      return out;
    },

    async completeUpload(upload, parts, opts = {}) {
      checkUploadRef(upload);
      checkCompletedParts(parts, limits);
      const body = utf8(JSON.stringify({ parts: parts.map((p) => ({ partNumber: p.partNumber, etag: p.etag })) }));
      const res = await c.call(
        { op: 'completeUpload', key: upload.key, uploadId: upload.uploadId },
        {
          method: 'POST',
          // The protocol requires completion to be idempotent: repeating it with the same part
          // list returns the same result (docs/STORAGE.md), so a lost answer is safe to retry.
          idempotent: true,
          headers: { 'content-type': 'application/json' },
          body,
          signal: opts.signal,
          maxResponseBytes: 64 * 1024,
        },
      );
      const o = asRecord(parseJson(res.body), 'completeUpload answer');
      return { size: asInt(o.size, limits.maxObjectSize, 'size'), etag: asString(o.etag, MAX_ETAG, 'etag') };
    },

    async list(prefix, opts = {}) {
      assertBlobPrefix(prefix);
      const cap = listCap(opts);
      const out: BlobListEntry[] = [];
      let token: string | undefined;
      for (let page = 0; page < MAX_LIST_PAGES; page++) {
        const res = await c.call(
          { op: 'list', prefix, ...(token === undefined ? {} : { continuationToken: token }) },
          { method: 'GET', idempotent: true, signal: opts.signal, maxResponseBytes: MAX_JSON_BYTES },
        );
        const o = asRecord(parseJson(res.body), 'list answer');
        if (!Array.isArray(o.objects) || o.objects.length > 10_000) throw protocol('a bad object list');
        for (const raw of o.objects as unknown[]) {
          const e = asRecord(raw, 'list entry');
          const key = asString(e.key, 1024, 'key');
          if (!isBlobKey(key) || !key.startsWith(prefix)) throw protocol('a key outside the asked prefix');
          const prev = out[out.length - 1];
          if (prev !== undefined && prev.key >= key) throw protocol('keys out of order');
          out.push({ key, size: asInt(e.size, limits.maxObjectSize, 'size'), etag: asString(e.etag, MAX_ETAG, 'etag') });
        }
        cap(out.length);
        if (o.nextContinuationToken === undefined || o.nextContinuationToken === null) return out;
        token = asString(o.nextContinuationToken, 2048, 'continuation token');
      }
      throw protocol('too many list pages');
    },
  };
}
