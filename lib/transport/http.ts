/**
 * The one HTTP helper every networked adapter uses: an injected `fetch`, a per-attempt timeout
 * composed with the caller's `AbortSignal`, retries with capped exponential backoff and full jitter
 * (only for calls the caller marks idempotent), `Retry-After` honoured (RFC 9110 §10.2.3), a cap
 * on every response body, and every failure mapped to a {@link BackupError} code.
 *
 * Why only idempotent calls are retried: when a connection drops or a timeout fires, the client
 * cannot know whether the server acted. Repeating a PUT of the same bytes to the same key or part
 * leaves the same state (RFC 9110 §9.2.2); repeating a POST that creates an upload makes a second
 * one. docs/STORAGE.md lists which blob-store calls are marked idempotent.
 *
 * @module
 */
import { BackupError, type BackupErrorCode } from '../errors.js';
import { concatChunks } from '../util/bytes.js';

/**
 * A `fetch`-compatible function: `globalThis.fetch`, or a fetch-style handler
 * `(Request) => Promise<Response>` called in-process.
 */
export type FetchLike = (request: Request) => Promise<Response>;

/** Sleeps `ms`, rejecting early when `signal` aborts. Injected so tests control time. */
export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Retry policy. Defaults in brackets. */
export interface RetryOptions {
  /** Retries after the first attempt [4]. 0 disables retries. */
  readonly retries?: number;
  /** Backoff base: retry n waits `random() * min(maxDelayMs, baseDelayMs * 2^n)` [200 ms]. */
  readonly baseDelayMs?: number;
  /** Backoff cap [10 000 ms]. */
  readonly maxDelayMs?: number;
  /** A server asking (Retry-After) to wait longer than this is not waited out: fail now [60 000 ms]. */
  readonly maxRetryAfterMs?: number;
}

/** Options of {@link createTransport}. */
export interface TransportOptions {
  /** The fetch to call. Required: the SDK never reaches for a global. */
  readonly fetch: FetchLike;
  /** Per-attempt timeout covering the request and reading the whole response body [30 000 ms]. */
  readonly timeoutMs?: number;
  /** Retry policy for idempotent calls. */
  readonly retry?: RetryOptions;
  /** Backoff sleep [setTimeout-based, abortable]. */
  readonly sleep?: SleepFn;
  /** Uniform random in [0, 1) for jitter [Math.random: jitter needs no secrecy]. */
  readonly random?: () => number;
  /** Clock in ms since the epoch, for an HTTP-date Retry-After [Date.now]. */
  readonly now?: () => number;
  /**
   * Code for a server failure that retries did not fix (5xx, 429, an unexpected status)
   * ['BLOB_STORE_FAILED']. A vault client would pass 'VAULT_UNAVAILABLE'.
   */
  readonly failureCode?: BackupErrorCode;
  /** Human name of the peer for error messages ['blob store']. */
  readonly peerName?: string;
}

/** One call through {@link Transport.request}. */
export interface TransportRequest {
  /** HTTP method. */
  readonly method: string;
  /** Absolute URL. */
  readonly url: string;
  /** Request headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Request body, sent as is on every attempt. A `Blob` is handed to `fetch` as it is: browsers
   * upload a `Blob` body an order of magnitude faster than the same bytes as a `Uint8Array`
   * (docs/STORAGE.md §Transfer speed), so the blob store adapters wrap large bodies in one there.
   */
  readonly body?: Uint8Array | Blob;
  /** True only if repeating the request leaves the same server state (GET, HEAD, PUT, DELETE). */
  readonly idempotent: boolean;
  /** Caller's cancellation. */
  readonly signal?: AbortSignal;
  /** Overrides the transport's per-attempt timeout. */
  readonly timeoutMs?: number;
  /** Cap on the response body; a longer one fails with `PROTOCOL` (the peer is misbehaving). */
  readonly maxResponseBytes: number;
  /**
   * Non-2xx statuses to hand back instead of throwing (after retries), e.g. 404 for a HEAD, or
   * 400 so an S3 adapter can read the error code in the XML body.
   */
  readonly passStatuses?: readonly number[];
  /**
   * How a 2xx body is read ['stream']. 'stream' reads it piece by piece, refusing it as soon as it
   * passes `maxResponseBytes`. 'blob' reads it with `response.blob()` then `arrayBuffer()`, which
   * browsers do markedly faster (docs/STORAGE.md §Transfer speed), when the answer declares a
   * `Content-Length` within the cap (otherwise it falls back to 'stream'); the cap is then checked
   * on the whole body once the platform has it, so a server whose declared length lies about a
   * compressed body can make the browser buffer more than the cap before the call fails.
   */
  readonly readAs?: 'stream' | 'blob';
}

/** A response, its body read in full (within the cap and the timeout). */
export interface TransportResponse {
  /** HTTP status. */
  readonly status: number;
  /** Response headers. */
  readonly headers: Headers;
  /** The whole body (empty for HEAD; an error body truncated to 64 KiB). */
  readonly body: Uint8Array;
}

/** An HTTP client with timeouts, retries and typed errors. */
export interface Transport {
  /**
   * Send one logical request (several attempts if it is idempotent). Resolves for 2xx and for
   * `passStatuses`; rejects with a `BackupError` otherwise.
   */
  request(req: TransportRequest): Promise<TransportResponse>;
}

/** Statuses that say "try again": RFC 9110 §15.5.9 (408), RFC 6585 §4 (429), §15.6 (5xx). */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
/** How much of an error answer's body is kept (for its error code); the rest is dropped. */
const ERROR_BODY_CAP = 64 * 1024;
/** Retry-After longer than this many digits is nonsense; parse no further. */
const MAX_RETRY_AFTER_DIGITS = 10;

/**
 * Default abortable sleep on `setTimeout`.
 *
 * @example
 * ```ts
 * await defaultSleep(100, signal);
 * ```
 */
export const defaultSleep: SleepFn = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortedError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function abortedError(signal: AbortSignal): BackupError {
  return new BackupError('ABORTED', 'operation was aborted', { cause: signal.reason });
}

/**
 * Parse a `Retry-After` value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) into ms from
 * `now`. Returns `undefined` when absent or malformed (then ordinary backoff applies).
 *
 * @example
 * ```ts
 * parseRetryAfter('3', Date.now()); // 3000
 * ```
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    if (v.length > MAX_RETRY_AFTER_DIGITS) return Number.MAX_SAFE_INTEGER;
    return Number(v) * 1000;
  }
  // RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must
  // accept. Matched strictly first: Date.parse alone accepts far more than HTTP-dates.
  const imf = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
  const rfc850 = /^[A-Z][a-z]{5,8}, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
  const asctime = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;
  if (!imf.test(v) && !rfc850.test(v) && !asctime.test(v)) return undefined;
  const t = Date.parse(asctime.test(v) ? `${v} GMT` : v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/**
 * The code for a final non-2xx status.
 *
 * @example
 * ```ts
 * statusToCode(403, 'BLOB_STORE_FAILED'); // 'UNAUTHORIZED'
 * ```
 */
export function statusToCode(status: number, failureCode: BackupErrorCode): BackupErrorCode {
  if (status === 401 || status === 403) return 'UNAUTHORIZED';
  if (status === 404 || status === 410) return 'NOT_FOUND';
  if (status === 412) return 'PRECONDITION_FAILED';
  // 413 Content Too Large (RFC 9110 §15.5.14), 507 Insufficient Storage (RFC 4918 §11.5).
  if (status === 413 || status === 507) return 'QUOTA_EXCEEDED';
  if (status === 416) return 'INVALID_ARGUMENT';
  return failureCode;
}

/** Marker for our own per-attempt timeout, to tell it from the caller's abort. */
class AttemptTimeout extends Error {
  constructor() {
    super('attempt timed out');
    this.name = 'AttemptTimeout';
  }
}

/** Outcome of one attempt that did not succeed. */
type Failure =
  | { readonly kind: 'network'; readonly cause: unknown }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'status'; readonly status: number; readonly retryAfterMs: number | undefined; readonly response: TransportResponse };

/**
 * Build a {@link Transport}.
 *
 * @example
 * ```ts
 * const t = createTransport({ fetch: globalThis.fetch.bind(globalThis), timeoutMs: 10_000 });
 * const res = await t.request({ method: 'GET', url, idempotent: true, maxResponseBytes: 1 << 20 });
 * ```
 */
export function createTransport(options: TransportOptions): Transport {
  if (typeof options?.fetch !== 'function') throw new TypeError('options.fetch must be a function, e.g. (request) => fetch(request)');
  const fetchFn = options.fetch;
  const timeoutMs = checkPositive(options.timeoutMs ?? 30_000, 'options.timeoutMs');
  const retries = checkNonNegInt(options.retry?.retries ?? 4, 'options.retry.retries');
  const baseDelayMs = checkNonNeg(options.retry?.baseDelayMs ?? 200, 'options.retry.baseDelayMs');
  const maxDelayMs = checkNonNeg(options.retry?.maxDelayMs ?? 10_000, 'options.retry.maxDelayMs');
  const maxRetryAfterMs = checkNonNeg(options.retry?.maxRetryAfterMs ?? 60_000, 'options.retry.maxRetryAfterMs');
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const failureCode = options.failureCode ?? 'BLOB_STORE_FAILED';
  const peer = options.peerName ?? 'blob store';

  async function attempt(req: TransportRequest, body: Uint8Array<ArrayBuffer> | Blob | undefined): Promise<TransportResponse | Failure> {
    const ctrl = new AbortController();
    const outer = req.signal;
    const onOuterAbort = (): void => ctrl.abort(outer!.reason);
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    const timer = setTimeout(() => ctrl.abort(new AttemptTimeout()), req.timeoutMs ?? timeoutMs);
    try {
      const request = new Request(req.url, {
        method: req.method,
        headers: req.headers,
        body: body,
        signal: ctrl.signal,
      });
      const res = await raceAbort(fetchFn(request), ctrl.signal);
      const ok = res.status >= 200 && res.status < 300;
      // A HEAD answer has no body (RFC 9110 §9.3.2); an error body is only read for its code, so
      // it gets its own small cap and is truncated rather than refused.
      const bytes =
        req.method === 'HEAD'
          ? await discard(res)
          : ok && req.readAs === 'blob'
            ? await readBlobCapped(res, req.maxResponseBytes, ctrl.signal, peer)
            : await readCapped(res, ok ? req.maxResponseBytes : ERROR_BODY_CAP, ctrl.signal, peer, !ok);
      const response: TransportResponse = { status: res.status, headers: res.headers, body: bytes };
      if (ok) return response;
      return {
        kind: 'status',
        status: res.status,
        retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), now()),
        response,
      };
    } catch (e) {
      if (outer?.aborted) throw abortedError(outer);
      if (ctrl.signal.aborted && ctrl.signal.reason instanceof AttemptTimeout) return { kind: 'timeout' };
      if (e instanceof BackupError) throw e; // our own PROTOCOL (over-cap body): not a transient fault
      return { kind: 'network', cause: e };
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    }
  }

  return {
    async request(req) {
      if (typeof req?.url !== 'string') throw new TypeError('req.url must be a string');
      if (typeof req.method !== 'string') throw new TypeError('req.method must be a string');
      checkNonNegInt(req.maxResponseBytes, 'req.maxResponseBytes');
      if (req.signal?.aborted) throw abortedError(req.signal);
      // BodyInit wants an ArrayBuffer-backed view; copy only when the caller's is not.
      const body = req.body === undefined || isBlob(req.body) ? req.body : asArrayBufferView(req.body);
      const pass = req.passStatuses ?? [];
      const maxAttempts = req.idempotent ? retries + 1 : 1;
      let last: Failure | undefined;
      for (let n = 0; n < maxAttempts; n++) {
        const r = await attempt(req, body);
        if (!('kind' in r)) return r;
        last = r;
        const transient = r.kind !== 'status' || RETRYABLE_STATUS.has(r.status);
        if (!transient || n === maxAttempts - 1) break;
        const backoff = random() * Math.min(maxDelayMs, baseDelayMs * 2 ** n);
        const asked = r.kind === 'status' ? r.retryAfterMs : undefined;
        if (asked !== undefined && asked > maxRetryAfterMs) break;
        try {
          await sleep(Math.max(backoff, asked ?? 0), req.signal);
        } catch (e) {
          if (req.signal?.aborted) throw abortedError(req.signal);
          throw e;
        }
      }
      const f = last!;
      if (f.kind === 'status' && pass.includes(f.status)) return f.response;
      throw failureToError(f, req, failureCode, peer);
    },
  };
}

function failureToError(f: Failure, req: TransportRequest, failureCode: BackupErrorCode, peer: string): BackupError {
  const what = `${req.method} to the ${peer}`;
  const unknownOutcome = req.idempotent ? '' : ' (outcome unknown: not retried, the call is not idempotent)';
  switch (f.kind) {
    case 'network':
      return new BackupError('OFFLINE', `${what} failed: network unreachable${unknownOutcome}`, { cause: f.cause });
    case 'timeout':
      return new BackupError('TIMEOUT', `${what} timed out${unknownOutcome}`);
    case 'status': {
      const code = statusToCode(f.status, failureCode);
      return new BackupError(code, `${what} answered HTTP ${f.status}`, {
        status: f.status,
        ...(f.retryAfterMs === undefined ? {} : { retryAfterMs: f.retryAfterMs }),
      });
    }
  }
}

/** Reject as soon as `signal` aborts, even if `p` never settles (an in-process handler that hangs). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        // Answered after we gave up: release its body so the connection is not held open.
        if (signal.aborted && v instanceof Response) v.body?.cancel().catch(() => undefined);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Read a response body in full, at most `cap` bytes, stopping when `signal` aborts. Reading
 * ourselves (not `arrayBuffer()`) lets us cap a lying or endless body before buffering it.
 */
async function readCapped(res: Response, cap: number, signal: AbortSignal, peer: string, truncate: boolean): Promise<Uint8Array> {
  if (res.body === null) return new Uint8Array(0);
  const declared = res.headers.get('content-length');
  if (!truncate && declared !== null && /^\d{1,16}$/.test(declared) && Number(declared) > cap) {
    await res.body.cancel().catch(() => undefined);
    throw new BackupError('PROTOCOL', `the ${peer} sent a body over the ${cap}-byte limit`, { limit: cap });
  }
  const reader = res.body.getReader();
  const onAbort = (): void => {
    reader.cancel(signal.reason).catch(() => undefined);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (signal.aborted) throw signal.reason;
      if (done) break;
      if (truncate && total + value.length > cap) {
        chunks.push(value.subarray(0, cap - total));
        total = cap;
        await reader.cancel().catch(() => undefined);
        break;
      }
      total += value.length;
      if (total > cap) {
        await reader.cancel().catch(() => undefined);
        throw new BackupError('PROTOCOL', `the ${peer} sent a body over the ${cap}-byte limit`, { limit: cap });
      }
      chunks.push(value);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (chunks.length === 1) return chunks[0]!;
  return concatChunks(chunks);
}

/**
 * Read a 2xx body with `blob()` (one copy inside the platform, no per-piece promise), when the
 * answer declares its length and that length is within `cap`; otherwise as {@link readCapped}.
 * The declared length is checked first and the actual one after reading (HTTP/1.1 framing makes
 * them equal for an uncompressed body; a compressed one may be longer once decoded).
 */
async function readBlobCapped(res: Response, cap: number, signal: AbortSignal, peer: string): Promise<Uint8Array> {
  const declared = res.headers.get('content-length');
  if (res.body === null || declared === null || !/^\d{1,16}$/.test(declared) || Number(declared) > cap) {
    return readCapped(res, cap, signal, peer, false);
  }
  // A browser's fetch signal aborts the body read too; raceAbort also ends the wait on a
  // fetch-style handler whose body ignores it, so a timeout or an abort always ends the call.
  const blob = await raceAbort(res.blob(), signal);
  if (blob.size > cap) throw new BackupError('PROTOCOL', `the ${peer} sent a body over the ${cap}-byte limit`, { limit: cap });
  return new Uint8Array(await raceAbort(blob.arrayBuffer(), signal));
}

/** A `Blob` (cross-realm: jsdom and Node each have their own class). */
function isBlob(b: Uint8Array | Blob): b is Blob {
  return Object.prototype.toString.call(b) === '[object Blob]';
}

async function discard(res: Response): Promise<Uint8Array> {
  await res.body?.cancel().catch(() => undefined);
  return new Uint8Array(0);
}

function asArrayBufferView(b: Uint8Array): Uint8Array<ArrayBuffer> {
  if (Object.prototype.toString.call(b.buffer) === '[object ArrayBuffer]') return b as Uint8Array<ArrayBuffer>;
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

function checkNonNegInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer`);
  }
  return v;
}
function checkNonNeg(v: unknown, name: string): number {
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number >= 0`);
  return v;
}
function checkPositive(v: unknown, name: string): number {
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number > 0`);
  return v;
}
