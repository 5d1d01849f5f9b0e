/**
 * A fault-injecting `fetch` for everyone's tests. It wraps a real fetch or an in-process
 * fetch-style handler and, on the calls a schedule or a seeded random draw picks, misbehaves the
 * way networks and servers do:
 *
 * | kind            | what the client sees                                         | did the server act? |
 * |-----------------|--------------------------------------------------------------|---------------------|
 * | `drop`          | `TypeError('fetch failed')`, as fetch on a refused connection | no                  |
 * | `drop-response` | `TypeError('fetch failed')` after the server answered         | yes                 |
 * | `status`        | an answer with that status (5xx, 429 …), optional Retry-After | no                  |
 * | `hang`          | nothing, until the request's signal aborts (a timeout)        | no                  |
 * | `slow-body`     | the real answer, its body trickling `chunkSize` bytes per `delayMs` | yes           |
 * | `cut-request`   | `TypeError` after the server got a body cut at `afterBytes`   | sees a broken body  |
 * | `cut-response`  | the real status, then the body errors after `afterBytes`      | yes                 |
 *
 * Deterministic: a `schedule` array (fault for call i, `undefined` for none) or function, or a
 * `seed` with a `rate` and `kinds` for a reproducible pseudo-random mix (mulberry32).
 *
 * @example
 * ```ts
 * const f = faultyFetch(handler, { schedule: [{ kind: 'drop' }, { kind: 'status', status: 503 }] });
 * const store = createHttpBlobStore({ fetch: f.fetch, presign });
 * // call 0 is dropped, call 1 answers 503, later calls pass through
 * expect(f.log.map((e) => e.fault?.kind)).toEqual(['drop', 'status', undefined]);
 * ```
 */

/** One fault. */
export type Fault =
  | { readonly kind: 'drop' }
  | { readonly kind: 'drop-response' }
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string; readonly body?: string }
  | { readonly kind: 'hang' }
  | { readonly kind: 'slow-body'; readonly chunkSize?: number; readonly delayMs?: number }
  | { readonly kind: 'cut-request'; readonly afterBytes?: number }
  | { readonly kind: 'cut-response'; readonly afterBytes?: number };

/** What the wrapper knows about one call. */
export interface CallInfo {
  /** 0-based index among the calls `match` selected. */
  readonly index: number;
  readonly method: string;
  readonly url: string;
}

/** Options of {@link faultyFetch}. */
export interface FaultyFetchOptions {
  /** Fault per call index (array) or computed per call (function). Takes precedence over `seed`. */
  readonly schedule?: readonly (Fault | undefined)[] | ((call: CallInfo) => Fault | undefined);
  /** Seed of the pseudo-random mode. */
  readonly seed?: number;
  /** Probability in [0, 1] that a call gets a fault in random mode [0.3]. */
  readonly rate?: number;
  /** Faults to draw from in random mode [every kind, with 503 and 429 for `status`]. */
  readonly kinds?: readonly Fault[];
  /** Which calls are subject to faults (others pass through, uncounted) [all]. */
  readonly match?: (request: Request) => boolean;
}

/** One logged call. */
export interface FaultLogEntry extends CallInfo {
  readonly fault: Fault | undefined;
}

/** The wrapper: its fetch, and the log of calls it saw. */
export interface FaultyFetch {
  readonly fetch: (request: Request) => Promise<Response>;
  readonly log: FaultLogEntry[];
}

const DEFAULT_KINDS: readonly Fault[] = [
  { kind: 'drop' },
  { kind: 'drop-response' },
  { kind: 'status', status: 503 },
  { kind: 'status', status: 429, retryAfter: '0' },
  { kind: 'hang' },
  { kind: 'slow-body', chunkSize: 1024, delayMs: 0 },
  { kind: 'cut-request' },
  { kind: 'cut-response' },
];

/** mulberry32: a tiny seeded PRNG, good enough to pick faults reproducibly. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function networkError(): TypeError {
  return new TypeError('fetch failed', { cause: new Error('injected fault: connection dropped') });
}

function waitForAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** A body that yields the first `afterBytes` bytes of `src`, then errors like a reset connection. */
function cutStream(src: ReadableStream<Uint8Array> | null, afterBytes: number): ReadableStream<Uint8Array> {
  const reader = src?.getReader();
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (reader === undefined) return ctrl.error(networkError());
      const { done, value } = await reader.read();
      if (done || sent + value.length >= afterBytes) {
        const n = done ? 0 : afterBytes - sent;
        if (n > 0) ctrl.enqueue(value!.slice(0, n));
        reader.cancel().catch(() => undefined);
        ctrl.error(networkError());
        return;
      }
      sent += value.length;
      ctrl.enqueue(value);
    },
    cancel(reason) {
      return reader?.cancel(reason);
    },
  });
}

/** A body that re-chunks `src` into `chunkSize` pieces, waiting `delayMs` before each. */
function slowStream(src: ReadableStream<Uint8Array>, chunkSize: number, delayMs: number, signal: AbortSignal): ReadableStream<Uint8Array> {
  const reader = src.getReader();
  let buf = new Uint8Array(0);
  let done = false;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      while (buf.length < chunkSize && !done) {
        const r = await reader.read();
        if (r.done) done = true;
        else {
          const next = new Uint8Array(buf.length + r.value.length);
          next.set(buf);
          next.set(r.value, buf.length);
          buf = next;
        }
      }
      await new Promise<void>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const t = setTimeout(resolve, delayMs);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(signal.reason);
        }, { once: true });
      }).catch((e: unknown) => ctrl.error(e));
      if (signal.aborted) return;
      if (buf.length === 0 && done) return ctrl.close();
      ctrl.enqueue(buf.slice(0, chunkSize));
      buf = buf.slice(chunkSize);
      if (buf.length === 0 && done) ctrl.close();
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/**
 * Wrap `inner` (a fetch or a fetch-style handler) with injected faults.
 *
 * @example
 * ```ts
 * const f = faultyFetch(createBlobStoreHandler(), { seed: 7, rate: 0.3 });
 * ```
 */
export function faultyFetch(inner: (request: Request) => Promise<Response>, options: FaultyFetchOptions = {}): FaultyFetch {
  const log: FaultLogEntry[] = [];
  const rand = mulberry32(options.seed ?? 1);
  const rate = options.rate ?? 0.3;
  const kinds = options.kinds ?? DEFAULT_KINDS;
  let index = 0;

  function pick(call: CallInfo): Fault | undefined {
    const s = options.schedule;
    if (typeof s === 'function') return s(call);
    if (s !== undefined) return s[call.index];
    if (options.seed === undefined) return undefined;
    return rand() < rate ? kinds[Math.floor(rand() * kinds.length)] : undefined;
  }

  async function run(request: Request): Promise<Response> {
    if (options.match !== undefined && !options.match(request)) return inner(request);
    const call: CallInfo = { index: index++, method: request.method, url: request.url };
    const fault = pick(call);
    log.push({ ...call, fault });
    if (fault === undefined) return inner(request);
    switch (fault.kind) {
      case 'drop':
        throw networkError();
      case 'status':
        // Drain the request body as a server that answers early would, without acting on it.
        await request.body?.cancel().catch(() => undefined);
        return new Response(fault.body ?? `injected ${fault.status}`, {
          status: fault.status,
          headers: fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter },
        });
      case 'hang':
        await request.body?.cancel().catch(() => undefined);
        return waitForAbort(request.signal);
      case 'drop-response': {
        const res = await inner(request);
        await res.body?.cancel().catch(() => undefined);
        throw networkError();
      }
      case 'cut-request': {
        const body = request.body;
        if (body === null) throw networkError();
        // The server receives a body stream that breaks after `afterBytes`, as when the client's
        // connection dies mid-upload; whatever it answers, the client only sees the broken connection.
        const cut = new Request(request.url, {
          method: request.method,
          headers: request.headers,
          body: cutStream(body, fault.afterBytes ?? 10),
          duplex: 'half',
        } as RequestInit);
        const res = await inner(cut).catch(() => undefined);
        await res?.body?.cancel().catch(() => undefined);
        throw networkError();
      }
      case 'cut-response': {
        const res = await inner(request);
        return new Response(cutStream(res.body, fault.afterBytes ?? 10), { status: res.status, headers: res.headers });
      }
      case 'slow-body': {
        const res = await inner(request);
        if (res.body === null) return res;
        return new Response(slowStream(res.body, fault.chunkSize ?? 1024, fault.delayMs ?? 5, request.signal), {
          status: res.status,
          headers: res.headers,
        });
      }
    }
  }

  return { fetch: run, log };
}
