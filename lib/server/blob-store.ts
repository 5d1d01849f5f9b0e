/**
 * The reference blob server: a fetch-style handler `(Request) => Promise<Response>` that speaks
 * the simple presigned-HTTP protocol and the S3 multipart subset (docs/STORAGE.md), over any
 * {@link BlobStore} (in memory by default). It runs in-process in tests, under `node:http`
 * (`serveHandler`) and inside the Vite dev server. Production deployments use real object storage;
 * this server is for the demo, tests and benchmarks.
 *
 * Authorization: URLs signed with {@link createBlobPresigner} (HMAC-SHA-256 over method, path,
 * query and expiry; a stand-in for S3's SigV4 presigning), and/or a bearer token checked by
 * `verifyToken`. With neither configured the server is open (tests only).
 *
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { BackupError, isBackupError } from '../errors.js';
import { LABELS } from '../labels.js';
import { bodyStream } from '../util/body.js';
import { abytes, concatChunks, equalBytes, fromBase64, fromUtf8, toBase64Url, utf8 } from '../util/bytes.js';
import { createMemoryBlobStore } from '../storage/blob/memory.js';
import { escapeXml, childrenNamed, parseXml, requireInt, requireText } from '../storage/blob/xml.js';
import { isBlobKey, type BlobStore, type BlobStoreLimits, type ByteRange } from '../storage/blob/types.js';
import type { BlobOp } from '../storage/blob/presigned.js';

/** Options of {@link createBlobStoreHandler}. */
export interface BlobStoreHandlerOptions {
  /** The backing store [an in-memory store with `limits`]. */
  readonly store?: BlobStore;
  /** Limits of the default in-memory store (ignored when `store` is given). */
  readonly limits?: Partial<BlobStoreLimits>;
  /** Shorthand for `limits.maxObjectSize`. */
  readonly maxObjectSize?: number;
  /** Cap on all bytes the default in-memory store holds [1 GiB]. */
  readonly maxTotalBytes?: number;
  /** Path the handler is mounted at, e.g. `/blobs` [`/`]. Requests outside it get 404. */
  readonly basePath?: string;
  /** Key of HMAC-signed URLs (at least 32 bytes); share it with {@link createBlobPresigner}. */
  readonly signingKey?: Uint8Array;
  /** Bearer-token check, an alternative to signed URLs. */
  readonly verifyToken?: (token: string, request: { readonly method: string; readonly path: string }) => boolean | Promise<boolean>;
  /** Clock for URL expiry, ms since the epoch [Date.now]. */
  readonly now?: () => number;
  /** The S3 bucket name in S3-dialect paths [`backups`]. */
  readonly bucket?: string;
  /**
   * Allow browser pages from this origin (e.g. `http://127.0.0.1:5173`, or `*`) to call the server
   * cross-origin: answers CORS preflights and exposes `ETag` and `Content-Range`, which the SDK
   * must read (Fetch standard, CORS protocol). Omit when the page and the server share an origin.
   */
  readonly corsOrigin?: string;
  /** Entries per page of a list or ListParts answer, 1-1000 [1000, S3's maximum]; small in tests. */
  readonly pageSize?: number;
}

/** Options of {@link createBlobPresigner}. */
export interface BlobPresignerOptions {
  /** Absolute URL the handler is served at, including its `basePath`, e.g. `http://127.0.0.1:8080/blobs`. */
  readonly baseUrl: string;
  /** Same key as the handler's `signingKey`. */
  readonly signingKey: Uint8Array;
  /** Lifetime of a URL [900 s]. */
  readonly expiresInSeconds?: number;
  /** Clock, ms since the epoch [Date.now]. */
  readonly now?: () => number;
  /** The S3 bucket name [`backups`]. */
  readonly bucket?: string;
}

/** Signs URLs for the reference blob server; what an app backend would do with S3 credentials. */
export interface BlobPresigner {
  /** A URL for `op` in the simple presigned-HTTP protocol. */
  http(op: BlobOp): string;
  /** A URL for `op` in the S3 subset (paths and queries as S3 forms them). */
  s3(op: BlobOp): string;
}

const SIG_PARAM = 'X-Signature';
const EXP_PARAM = 'X-Expires';
/** Cap on XML / JSON request bodies (a CompleteMultipartUpload of 10 000 parts is ~1 MiB). */
const MAX_SMALL_BODY = 2 * 2 ** 20;
/** S3's default and maximum page size (ListObjectsV2 MaxKeys, ListParts MaxParts). */
const MAX_PAGE = 1000;

function trimSlashes(p: string): string {
  return p.replace(/^\/+|\/+$/g, '');
}

function checkBucket(b: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(b)) throw new RangeError('bucket must be a valid S3 bucket name');
  return b;
}

/** The string a URL signature covers: label, method, path below the mount point, sorted query. */
function canonical(method: string, relPath: string, params: URLSearchParams): Uint8Array {
  const pairs: [string, string][] = [];
  params.forEach((v, k) => {
    if (k !== SIG_PARAM) pairs.push([k, v]);
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const q = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return utf8(`${LABELS.blobPresign}\n${method}\n/${relPath}\n${q}`);
}

/** Method, relative path and query of an operation in either dialect. */
function route(op: BlobOp, dialect: 'http' | 's3', bucket: string): { method: string; path: string; query: [string, string][] } {
  const s3 = dialect === 's3';
  const obj = (key: string): string => (s3 ? `s3/${bucket}/${key}` : `o/${key}`);
  const up = (key: string): string => (s3 ? `s3/${bucket}/${key}` : `u/${key}`);
  switch (op.op) {
    case 'put': return { method: 'PUT', path: obj(op.key), query: [] };
    case 'get': return { method: 'GET', path: obj(op.key), query: [] };
    case 'head': return { method: 'HEAD', path: obj(op.key), query: [] };
    case 'delete': return { method: 'DELETE', path: obj(op.key), query: [] };
    case 'list': {
      const query: [string, string][] = [['prefix', op.prefix]];
      if (s3) query.push(['list-type', '2']);
      if (op.continuationToken !== undefined) query.push(['continuation-token', op.continuationToken]);
      return { method: 'GET', path: s3 ? `s3/${bucket}` : 'list', query };
    }
    case 'createUpload': return { method: 'POST', path: up(op.key), query: s3 ? [['uploads', '']] : [] };
    case 'putPart':
      return { method: 'PUT', path: up(op.key), query: [['partNumber', String(op.partNumber)], ['uploadId', op.uploadId]] };
    case 'listParts': {
      const query: [string, string][] = [['uploadId', op.uploadId]];
      if (op.partNumberMarker !== undefined) query.push(['part-number-marker', String(op.partNumberMarker)]);
      return { method: 'GET', path: up(op.key), query };
    }
    case 'completeUpload': return { method: 'POST', path: up(op.key), query: [['uploadId', op.uploadId]] };
    case 'abortUpload': return { method: 'DELETE', path: up(op.key), query: [['uploadId', op.uploadId]] };
  }
}

/**
 * Create the URL signer an app backend (or the demo's fake backend) uses to hand the SDK
 * short-lived URLs for the reference blob server. Authorize the user for `op.key` before calling it.
 *
 * @example
 * ```ts
 * const presigner = createBlobPresigner({ baseUrl: served.url, signingKey });
 * const store = createS3BlobStore({ fetch, presign: async (op) => presigner.s3(op) });
 * ```
 */
export function createBlobPresigner(options: BlobPresignerOptions): BlobPresigner {
  const key = abytes(options?.signingKey, 'options.signingKey');
  if (key.length < 32) throw new RangeError('options.signingKey must be at least 32 bytes');
  if (typeof options.baseUrl !== 'string') throw new TypeError('options.baseUrl must be a string');
  const base = new URL(options.baseUrl);
  const ttl = options.expiresInSeconds ?? 900;
  if (!Number.isSafeInteger(ttl) || ttl <= 0) throw new RangeError('options.expiresInSeconds must be a positive integer');
  const now = options.now ?? Date.now;
  const bucket = checkBucket(options.bucket ?? 'backups');
  const basePath = trimSlashes(base.pathname);
  const sign = (op: BlobOp, dialect: 'http' | 's3'): string => {
    const r = route(op, dialect, bucket);
    const params = new URLSearchParams(r.query);
    params.set(EXP_PARAM, String(Math.floor(now() / 1000) + ttl));
    const mac = hmac(sha256, key, canonical(r.method, r.path, params));
    params.set(SIG_PARAM, toBase64Url(mac));
    const url = new URL(base.origin);
    url.pathname = `/${basePath === '' ? '' : `${basePath}/`}${r.path}`;
    url.search = params.toString();
    return url.toString();
  };
  return { http: (op) => sign(op, 'http'), s3: (op) => sign(op, 's3') };
}

/** A parsed single byte range, or `unsatisfiable` (RFC 9110 §14.1.2). */
function parseRange(h: string | null, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (h === null) return undefined;
  let m = /^bytes=(\d{1,16})-(\d{0,16})$/.exec(h.trim());
  if (m !== null) {
    const first = Number(m[1]);
    const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < first) return undefined; // invalid: ignore the header (§14.2)
    if (first >= size) return 'unsatisfiable';
    return { offset: first, length: last - first + 1 };
  }
  m = /^bytes=-(\d{1,16})$/.exec(h.trim());
  if (m !== null) {
    const n = Math.min(Number(m[1]), size);
    if (n === 0) return 'unsatisfiable';
    return { offset: size - n, length: n };
  }
  return undefined; // multiple ranges or other units: served whole, as §14.2 allows
}

type Dialect = 'http' | 's3';

/** Error answer in the dialect's shape: S3's `<Error>` XML, or `{ "error": code }` JSON. */
function errorResponse(dialect: Dialect, status: number, s3Code: string, extra: Record<string, string> = {}): Response {
  if (dialect === 's3') {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(s3Code)}</Code><Message>${escapeXml(s3Code)}</Message></Error>`;
    return new Response(body, { status, headers: { 'content-type': 'application/xml', ...extra } });
  }
  return new Response(JSON.stringify({ error: s3Code }), { status, headers: { 'content-type': 'application/json', ...extra } });
}

/** Map a failure of the backing store (or of input checks) to a status and an S3 error code. */
function failure(dialect: Dialect, e: unknown, notFound: string): Response {
  if (isBackupError(e)) {
    switch (e.code) {
      case 'NOT_FOUND': return errorResponse(dialect, 404, notFound);
      case 'PRECONDITION_FAILED': return errorResponse(dialect, 412, 'PreconditionFailed');
      case 'QUOTA_EXCEEDED': return errorResponse(dialect, 413, 'EntityTooLarge');
      case 'INVALID_ARGUMENT':
        return e.details.status === 416 ? errorResponse(dialect, 416, 'InvalidRange') : errorResponse(dialect, 400, 'InvalidPart');
      case 'PROTOCOL': return errorResponse(dialect, 400, 'MalformedXML');
      default: return errorResponse(dialect, 500, 'InternalError');
    }
  }
  if (e instanceof TypeError || e instanceof RangeError) return errorResponse(dialect, 400, 'InvalidArgument');
  return errorResponse(dialect, 500, 'InternalError');
}

/** Largest declared body {@link readBody} allocates up front. */
const PREALLOCATE_MAX = 64 * 2 ** 20;

/**
 * Read a request body of at most `cap` bytes; `undefined` when it is over the cap; throws if cut.
 * With a Content-Length of at most {@link PREALLOCATE_MAX} (the usual case: a part) the body is
 * copied once, straight into a buffer of that size, as it arrives; a larger one is gathered first,
 * so a header alone cannot make the server allocate gigabytes.
 */
async function readBody(req: Request, cap: number): Promise<Uint8Array | undefined> {
  const cl = req.headers.get('content-length');
  if (cl !== null && (!/^\d{1,16}$/.test(cl) || Number(cl) > cap)) return undefined;
  const body = bodyStream(req);
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const declared = cl === null ? undefined : Number(cl);
  const out = declared === undefined || declared > PREALLOCATE_MAX ? undefined : new Uint8Array(declared);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total + value.length > (declared ?? cap)) {
      await reader.cancel().catch(() => undefined);
      if (declared !== undefined) throw new BackupError('PROTOCOL', 'request body longer than its Content-Length');
      return undefined;
    }
    if (out !== undefined) out.set(value, total);
    else chunks.push(value);
    total += value.length;
  }
  if (declared !== undefined && total !== declared) throw new BackupError('PROTOCOL', 'request body shorter than its Content-Length');
  return out ?? concatChunks(chunks);
}

function json(status: number, value: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json', ...headers } });
}

function xml(status: number, body: string): Response {
  return new Response(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`, { status, headers: { 'content-type': 'application/xml' } });
}

const S3NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

/**
 * Create the reference blob-store handler.
 *
 * @example
 * ```ts
 * const signingKey = crypto.getRandomValues(new Uint8Array(32));
 * const handler = createBlobStoreHandler({ signingKey, maxObjectSize: 1 << 30, basePath: '/blobs' });
 * const served = await serveHandler(handler);
 * const presigner = createBlobPresigner({ baseUrl: `${served.url}/blobs`, signingKey });
 * ```
 */
export function createBlobStoreHandler(options: BlobStoreHandlerOptions = {}): (request: Request) => Promise<Response> {
  const store =
    options.store ??
    createMemoryBlobStore({
      limits: { ...options.limits, ...(options.maxObjectSize === undefined ? {} : { maxObjectSize: options.maxObjectSize }) },
      ...(options.maxTotalBytes === undefined ? {} : { maxTotalBytes: options.maxTotalBytes }),
    });
  const limits = store.limits;
  const signingKey = options.signingKey === undefined ? undefined : abytes(options.signingKey, 'options.signingKey');
  if (signingKey !== undefined && signingKey.length < 32) throw new RangeError('options.signingKey must be at least 32 bytes');
  const verifyToken = options.verifyToken;
  const now = options.now ?? Date.now;
  const basePath = trimSlashes(options.basePath ?? '/');
  const bucket = checkBucket(options.bucket ?? 'backups');
  const pageSize = options.pageSize ?? MAX_PAGE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE) throw new RangeError('options.pageSize must be 1-1000');
  const corsOrigin = options.corsOrigin;
  if (corsOrigin !== undefined && (typeof corsOrigin !== 'string' || !/^(\*|https?:\/\/[^\s/]+)$/.test(corsOrigin))) {
    throw new RangeError('options.corsOrigin must be "*" or an origin like http://host:port');
  }
  const corsHeaders: Record<string, string> =
    corsOrigin === undefined
      ? {}
      : {
          'access-control-allow-origin': corsOrigin,
          'access-control-expose-headers': 'etag, content-range, content-length, retry-after',
          ...(corsOrigin === '*' ? {} : { vary: 'origin' }),
        };

  async function authorized(req: Request, url: URL, rel: string): Promise<boolean> {
    if (signingKey === undefined && verifyToken === undefined) return true;
    const sig = url.searchParams.get(SIG_PARAM);
    if (signingKey !== undefined && sig !== null) {
      const exp = url.searchParams.get(EXP_PARAM);
      if (exp === null || !/^\d{1,12}$/.test(exp) || Number(exp) * 1000 < now()) return false;
      let given: Uint8Array;
      try {
        given = fromBase64(sig);
      } catch {
        return false;
      }
      const want = hmac(sha256, signingKey, canonical(req.method, rel, url.searchParams));
      return equalBytes(given, want);
    }
    const auth = req.headers.get('authorization');
    if (verifyToken !== undefined && auth !== null && /^Bearer [\x21-\x7e]{1,4096}$/.test(auth)) {
      return (await verifyToken(auth.slice(7), { method: req.method, path: `/${rel}` })) === true;
    }
    return false;
  }

  return async function handle(req: Request): Promise<Response> {
    if (corsOrigin !== undefined && req.method === 'OPTIONS') {
      // CORS preflight: no credentials are sent with it, so it is answered before authorization.
      return new Response(null, {
        status: 204,
        headers: {
          ...corsHeaders,
          'access-control-allow-methods': 'GET, HEAD, PUT, POST, DELETE',
          'access-control-allow-headers': 'authorization, content-type, range, if-match, if-none-match, x-upload-content-length',
          'access-control-max-age': '600',
        },
      });
    }
    const res = await handleRequest(req);
    if (corsOrigin === undefined) return res;
    const headers = new Headers(res.headers);
    for (const [k, v] of Object.entries(corsHeaders)) headers.set(k, v);
    return new Response(res.body, { status: res.status, headers });
  };

  async function handleRequest(req: Request): Promise<Response> {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return errorResponse('http', 400, 'InvalidURI');
    }
    let path = trimSlashes(url.pathname);
    if (basePath !== '') {
      if (path !== basePath && !path.startsWith(`${basePath}/`)) return errorResponse('http', 404, 'NoSuchKey');
      path = trimSlashes(path.slice(basePath.length));
    }
    const dialect: Dialect = path === 's3' || path.startsWith('s3/') ? 's3' : 'http';
    let res: Response;
    try {
      if (!(await authorized(req, url, path))) res = errorResponse(dialect, 403, 'AccessDenied');
      else res = dialect === 's3' ? await s3(req, url, path) : await simple(req, url, path);
    } catch (e) {
      res = failure(dialect, e, 'NoSuchKey');
    }
    // A HEAD answer carries the headers a GET would, never a body (RFC 9110 §9.3.2).
    if (req.method === 'HEAD' && res.body !== null) {
      await res.body.cancel();
      return new Response(null, { status: res.status, headers: res.headers });
    }
    return res;
  }

  async function getObject(req: Request, key: string, dialect: Dialect): Promise<Response> {
    const info = await store.head(key);
    if (info === undefined) return errorResponse(dialect, 404, 'NoSuchKey');
    const common = { etag: info.etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    if (req.method === 'HEAD') {
      return new Response(null, { status: 200, headers: { ...common, 'content-length': String(info.size) } });
    }
    const range = parseRange(req.headers.get('range'), info.size);
    if (range === 'unsatisfiable') {
      return errorResponse(dialect, 416, 'InvalidRange', { 'content-range': `bytes */${info.size}` });
    }
    if (range === undefined) {
      const bytes = await store.get(key);
      return new Response(bytes as Uint8Array<ArrayBuffer>, { status: 200, headers: { ...common, 'content-length': String(bytes.length) } });
    }
    const bytes = await store.get(key, { range });
    return new Response(bytes as Uint8Array<ArrayBuffer>, {
      status: 206,
      headers: {
        ...common,
        'content-length': String(bytes.length),
        'content-range': `bytes ${range.offset}-${range.offset + bytes.length - 1}/${info.size}`,
      },
    });
  }

  async function putObject(req: Request, key: string, dialect: Dialect): Promise<Response> {
    const body = await readBody(req, limits.maxObjectSize);
    if (body === undefined) return errorResponse(dialect, 413, 'EntityTooLarge');
    const ifMatch = req.headers.get('if-match');
    const ifNoneMatch = req.headers.get('if-none-match');
    if (ifNoneMatch !== null && ifNoneMatch !== '*') return errorResponse(dialect, 400, 'InvalidArgument');
    const info = await store.put(key, body, {
      ...(ifMatch === null ? {} : { ifMatch }),
      ...(ifNoneMatch === null ? {} : { ifNoneMatch: '*' as const }),
    });
    return new Response(null, { status: 200, headers: { etag: info.etag } });
  }

  async function putPart(req: Request, key: string, url: URL, dialect: Dialect): Promise<Response> {
    const uploadId = url.searchParams.get('uploadId')!;
    const pn = url.searchParams.get('partNumber')!;
    if (!/^\d{1,5}$/.test(pn)) return errorResponse(dialect, 400, 'InvalidArgument');
    const body = await readBody(req, limits.maxPartSize);
    if (body === undefined) return errorResponse(dialect, 413, 'EntityTooLarge');
    const { etag } = await store.putPart({ key, uploadId }, Number(pn), body);
    return new Response(null, { status: 200, headers: { etag } });
  }

  async function simple(req: Request, url: URL, path: string): Promise<Response> {
    const m = req.method;
    if (path === 'list') {
      if (m !== 'GET') return errorResponse('http', 405, 'MethodNotAllowed');
      const prefix = url.searchParams.get('prefix') ?? '';
      const after = url.searchParams.get('continuation-token');
      const all = await store.list(prefix);
      const start = after === null ? 0 : all.findIndex((e) => e.key > after);
      const page = start < 0 ? [] : all.slice(start, start + pageSize);
      const more = start >= 0 && start + pageSize < all.length;
      return json(200, { objects: page, ...(more ? { nextContinuationToken: page[page.length - 1]!.key } : {}) });
    }
    const kind = path.slice(0, 2);
    const key = path.slice(2);
    if ((kind !== 'o/' && kind !== 'u/') || !isBlobKey(key)) return errorResponse('http', 400, 'InvalidURI');
    if (kind === 'o/') {
      if (m === 'GET' || m === 'HEAD') return getObject(req, key, 'http');
      if (m === 'PUT') return putObject(req, key, 'http');
      if (m === 'DELETE') {
        await store.delete(key);
        return new Response(null, { status: 204 });
      }
      return errorResponse('http', 405, 'MethodNotAllowed');
    }
    const uploadId = url.searchParams.get('uploadId');
    if (uploadId === null) {
      if (m !== 'POST') return errorResponse('http', 405, 'MethodNotAllowed');
      const cl = req.headers.get('x-upload-content-length');
      if (cl !== null && !/^\d{1,16}$/.test(cl)) return errorResponse('http', 400, 'InvalidArgument');
      const up = await store.createUpload(key, cl === null ? {} : { contentLength: Number(cl) });
      // The part limits travel with the answer, so a client configured with other limits plans
      // its parts within the server's before sending the first (issue 19).
      const { minPartSize, maxPartSize, maxParts } = store.limits;
      return json(201, { uploadId: up.uploadId, limits: { minPartSize, maxPartSize, maxParts } });
    }
    const upload = { key, uploadId };
    if (m === 'PUT' && url.searchParams.has('partNumber')) return putPart(req, key, url, 'http');
    if (m === 'GET') {
      try {
        return json(200, { parts: await store.listParts(upload) });
      } catch (e) {
        return failure('http', e, 'NoSuchUpload');
      }
    }
    if (m === 'POST') {
      const body = await readBody(req, MAX_SMALL_BODY);
      if (body === undefined) return errorResponse('http', 413, 'EntityTooLarge');
      let parts: unknown;
      try {
        parts = (JSON.parse(fromUtf8(body)) as { parts?: unknown }).parts;
      } catch {
        return errorResponse('http', 400, 'MalformedJSON');
      }
      try {
        const info = await store.completeUpload(upload, parts as never);
        return json(200, info);
      } catch (e) {
        return failure('http', e, 'NoSuchUpload');
      }
    }
    if (m === 'DELETE') {
      await store.abortUpload(upload);
      return new Response(null, { status: 204 });
    }
    return errorResponse('http', 405, 'MethodNotAllowed');
  }

  async function s3(req: Request, url: URL, path: string): Promise<Response> {
    const m = req.method;
    const rest = path.slice(3); // after "s3/"
    const slash = rest.indexOf('/');
    const b = slash < 0 ? rest : rest.slice(0, slash);
    if (b !== bucket) return errorResponse('s3', 404, 'NoSuchBucket');
    if (slash < 0) {
      // ListObjectsV2 (GET /bucket?list-type=2&prefix=…&continuation-token=…&max-keys=…)
      if (m !== 'GET' || url.searchParams.get('list-type') !== '2') return errorResponse('s3', 400, 'InvalidRequest');
      const prefix = url.searchParams.get('prefix') ?? '';
      const token = url.searchParams.get('continuation-token');
      const mk = url.searchParams.get('max-keys');
      const maxKeys = mk !== null && /^\d{1,4}$/.test(mk) ? Math.min(Number(mk), pageSize) : pageSize;
      let after: string | undefined;
      if (token !== null) {
        try {
          after = fromUtf8(fromBase64(token));
        } catch {
          return errorResponse('s3', 400, 'InvalidArgument');
        }
      }
      const all = await store.list(prefix);
      const start = after === undefined ? 0 : all.findIndex((e) => e.key > after);
      const page = start < 0 ? [] : all.slice(start, start + maxKeys);
      const more = start >= 0 && start + maxKeys < all.length;
      const contents = page
        .map((e) => `<Contents><Key>${escapeXml(e.key)}</Key><ETag>${escapeXml(e.etag)}</ETag><Size>${e.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`)
        .join('');
      return xml(
        200,
        `<ListBucketResult ${S3NS}><Name>${bucket}</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>${page.length}</KeyCount>` +
          `<MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${more}</IsTruncated>` +
          (more ? `<NextContinuationToken>${toBase64Url(utf8(page[page.length - 1]!.key))}</NextContinuationToken>` : '') +
          `${contents}</ListBucketResult>`,
      );
    }
    const key = rest.slice(slash + 1);
    if (!isBlobKey(key)) return errorResponse('s3', 400, 'InvalidURI');
    const uploadId = url.searchParams.get('uploadId');
    if (m === 'POST' && url.searchParams.has('uploads')) {
      const up = await store.createUpload(key);
      return xml(200, `<InitiateMultipartUploadResult ${S3NS}><Bucket>${bucket}</Bucket><Key>${escapeXml(key)}</Key><UploadId>${escapeXml(up.uploadId)}</UploadId></InitiateMultipartUploadResult>`);
    }
    if (uploadId === null) {
      if (m === 'GET' || m === 'HEAD') return getObject(req, key, 's3');
      if (m === 'PUT') return putObject(req, key, 's3');
      if (m === 'DELETE') {
        await store.delete(key);
        return new Response(null, { status: 204 });
      }
      return errorResponse('s3', 405, 'MethodNotAllowed');
    }
    const upload = { key, uploadId };
    try {
      if (m === 'PUT' && url.searchParams.has('partNumber')) return await putPart(req, key, url, 's3');
      if (m === 'GET') {
        // ListParts, paged by part-number-marker / max-parts as S3 does.
        const marker = url.searchParams.get('part-number-marker');
        const mp = url.searchParams.get('max-parts');
        const after = marker !== null && /^\d{1,5}$/.test(marker) ? Number(marker) : 0;
        const maxParts = mp !== null && /^\d{1,4}$/.test(mp) ? Math.max(1, Math.min(Number(mp), pageSize)) : pageSize;
        const all = (await store.listParts(upload)).filter((p) => p.partNumber > after);
        const page = all.slice(0, maxParts);
        const more = all.length > maxParts;
        const parts = page
          .map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(p.etag)}</ETag><Size>${p.size}</Size></Part>`)
          .join('');
        return xml(
          200,
          `<ListPartsResult ${S3NS}><Bucket>${bucket}</Bucket><Key>${escapeXml(key)}</Key><UploadId>${escapeXml(uploadId)}</UploadId>` +
            `<PartNumberMarker>${after}</PartNumberMarker>` +
            (more ? `<NextPartNumberMarker>${page[page.length - 1]!.partNumber}</NextPartNumberMarker>` : '') +
            `<MaxParts>${maxParts}</MaxParts><IsTruncated>${more}</IsTruncated>${parts}</ListPartsResult>`,
        );
      }
      if (m === 'POST') {
        const body = await readBody(req, MAX_SMALL_BODY);
        if (body === undefined) return errorResponse('s3', 413, 'EntityTooLarge');
        let parts: { partNumber: number; etag: string }[];
        try {
          const doc = parseXml(fromUtf8(body), { maxElements: 3 * limits.maxParts + 10 });
          if (doc.name !== 'CompleteMultipartUpload') throw new BackupError('PROTOCOL', 'not a CompleteMultipartUpload');
          parts = childrenNamed(doc, 'Part').map((p) => ({
            partNumber: requireInt(p, 'PartNumber', 1, limits.maxParts),
            etag: requireText(p, 'ETag'),
          }));
        } catch {
          return errorResponse('s3', 400, 'MalformedXML');
        }
        if (parts.some((p, i) => i > 0 && p.partNumber <= parts[i - 1]!.partNumber)) {
          return errorResponse('s3', 400, 'InvalidPartOrder');
        }
        const info = await store.completeUpload(upload, parts);
        return xml(
          200,
          `<CompleteMultipartUploadResult ${S3NS}><Location>${escapeXml(url.origin + url.pathname)}</Location><Bucket>${bucket}</Bucket>` +
            `<Key>${escapeXml(key)}</Key><ETag>${escapeXml(info.etag)}</ETag></CompleteMultipartUploadResult>`,
        );
      }
      if (m === 'DELETE') {
        await store.abortUpload(upload);
        return new Response(null, { status: 204 });
      }
    } catch (e) {
      return failure('s3', e, 'NoSuchUpload');
    }
    return errorResponse('s3', 405, 'MethodNotAllowed');
  }
}
