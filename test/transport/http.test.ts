import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createTransport, parseRetryAfter, statusToCode, type SleepFn, type TransportRequest } from '../../lib/transport/http.js';
import { isBackupError, type BackupErrorCode } from '../../lib/errors.js';
import { faultyFetch, type Fault } from '../support/faulty-fetch.js';
import { equalBytes } from '../../lib/util/bytes.js';

/** A tiny in-process server: echoes PUT bodies, counts every request that reached it. */
function echoServer(): { handler: (r: Request) => Promise<Response>; hits: { method: string; bytes: number }[] } {
  const hits: { method: string; bytes: number }[] = [];
  return {
    hits,
    handler: async (r) => {
      const body = new Uint8Array(await r.arrayBuffer());
      hits.push({ method: r.method, bytes: body.length });
      if (r.method === 'GET') return new Response(new Uint8Array(4096).fill(9), { status: 200 });
      return new Response(body, { status: 200 });
    },
  };
}

function recordingSleep(): { sleep: SleepFn; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    sleep: async (ms, signal) => {
      delays.push(ms);
      if (signal?.aborted) throw signal.reason;
    },
  };
}

async function codeOf(p: Promise<unknown>): Promise<BackupErrorCode | 'ok' | string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isBackupError(e) ? e.code : String(e);
  }
}

const GET: TransportRequest = { method: 'GET', url: 'http://t.test/x', idempotent: true, maxResponseBytes: 1 << 20 };
const PUT: TransportRequest = { method: 'PUT', url: 'http://t.test/x', idempotent: true, body: new Uint8Array(1000).fill(1), maxResponseBytes: 1 << 20 };
const POST: TransportRequest = { method: 'POST', url: 'http://t.test/x', idempotent: false, body: new Uint8Array(10), maxResponseBytes: 1 << 20 };

describe('transport retries', () => {
  const transient: Fault[] = [
    { kind: 'drop' },
    { kind: 'drop-response' },
    { kind: 'status', status: 500 },
    { kind: 'status', status: 502 },
    { kind: 'status', status: 503 },
    { kind: 'status', status: 504 },
    { kind: 'status', status: 408 },
    { kind: 'status', status: 429, retryAfter: '1' },
    { kind: 'hang' },
    { kind: 'cut-request', afterBytes: 100 },
    { kind: 'cut-response', afterBytes: 100 },
    { kind: 'slow-body', chunkSize: 512, delayMs: 200 },
  ];

  for (const fault of transient) {
    const label = fault.kind === 'status' ? `status ${fault.status}` : fault.kind;
    it(`an idempotent call survives two faults of kind ${label}`, async () => {
      for (const req of [GET, PUT]) {
        const srv = echoServer();
        const f = faultyFetch(srv.handler, { schedule: [fault, fault] });
        const { sleep, delays } = recordingSleep();
        const t = createTransport({ fetch: f.fetch, sleep, timeoutMs: 60, retry: { retries: 3 } });
        const res = await t.request(req);
        expect(res.status).toBe(200);
        if (req.method === 'PUT') expect(equalBytes(res.body, req.body as Uint8Array)).toBe(true);
        else expect(res.body.length).toBe(4096);
        expect(f.log.length).toBe(3);
        expect(delays.length).toBe(2);
        if (fault.kind === 'status' && fault.status === 429) expect(Math.min(...delays)).toBeGreaterThanOrEqual(1000);
      }
    });
  }

  const finalCode: [Fault, BackupErrorCode][] = [
    [{ kind: 'drop' }, 'OFFLINE'],
    [{ kind: 'cut-response', afterBytes: 5 }, 'OFFLINE'],
    [{ kind: 'status', status: 503 }, 'BLOB_STORE_FAILED'],
    [{ kind: 'status', status: 429, retryAfter: '0' }, 'BLOB_STORE_FAILED'],
    [{ kind: 'hang' }, 'TIMEOUT'],
    [{ kind: 'slow-body', chunkSize: 256, delayMs: 200 }, 'TIMEOUT'],
  ];
  for (const [fault, code] of finalCode) {
    it(`a persistent ${fault.kind} ends in ${code} after the retry budget`, async () => {
      const srv = echoServer();
      const f = faultyFetch(srv.handler, { schedule: () => fault });
      const { sleep } = recordingSleep();
      const t = createTransport({ fetch: f.fetch, sleep, timeoutMs: 50, retry: { retries: 2 } });
      expect(await codeOf(t.request(GET))).toBe(code);
      expect(f.log.length).toBe(3);
    });
  }

  it('a non-idempotent POST is never retried, whatever the fault', async () => {
    for (const fault of transient) {
      const srv = echoServer();
      const f = faultyFetch(srv.handler, { schedule: [fault] });
      const { sleep, delays } = recordingSleep();
      const t = createTransport({ fetch: f.fetch, sleep, timeoutMs: 50, retry: { retries: 5 } });
      const code = await codeOf(t.request(POST));
      expect(code).not.toBe('ok');
      expect(f.log.length).toBe(1);
      expect(delays).toEqual([]);
    }
  });

  it('a dropped answer to a POST reports OFFLINE with "outcome unknown", and the server did act', async () => {
    const srv = echoServer();
    const f = faultyFetch(srv.handler, { schedule: [{ kind: 'drop-response' }] });
    const t = createTransport({ fetch: f.fetch, sleep: recordingSleep().sleep });
    const err = await t.request(POST).catch((e: unknown) => e);
    expect(isBackupError(err, 'OFFLINE')).toBe(true);
    expect((err as Error).message).toMatch(/outcome unknown/);
    expect(srv.hits.map((h) => h.method)).toEqual(['POST']);
  });

  it('a cut request never reaches the server as a complete body', async () => {
    const srv = echoServer();
    const f = faultyFetch(srv.handler, { schedule: [{ kind: 'cut-request', afterBytes: 300 }] });
    const t = createTransport({ fetch: f.fetch, sleep: recordingSleep().sleep });
    await t.request(PUT);
    // The handler threw reading the cut body (no hit); the retry delivered all 1000 bytes.
    expect(srv.hits).toEqual([{ method: 'PUT', bytes: 1000 }]);
  });

  it('backoff is full jitter: random() * min(cap, base * 2^n)', async () => {
    for (const [r, want] of [
      [0.999999, [100, 200, 400, 800, 1000, 1000]],
      [0, [0, 0, 0, 0, 0, 0]],
      [0.5, [50, 100, 200, 400, 500, 500]],
    ] as const) {
      const f = faultyFetch(echoServer().handler, { schedule: () => ({ kind: 'status', status: 503 }) });
      const { sleep, delays } = recordingSleep();
      const t = createTransport({ fetch: f.fetch, sleep, random: () => r, retry: { retries: 6, baseDelayMs: 100, maxDelayMs: 1000 } });
      await codeOf(t.request(GET));
      expect(delays.map((d) => Math.round(d))).toEqual(want);
    }
  });

  it('Retry-After beyond maxRetryAfterMs fails at once with the hint', async () => {
    const f = faultyFetch(echoServer().handler, { schedule: [{ kind: 'status', status: 429, retryAfter: '120' }] });
    const { sleep, delays } = recordingSleep();
    const t = createTransport({ fetch: f.fetch, sleep, retry: { maxRetryAfterMs: 60_000 } });
    const err = await t.request(GET).catch((e: unknown) => e);
    expect(isBackupError(err, 'BLOB_STORE_FAILED')).toBe(true);
    expect((err as { details: { retryAfterMs?: number; status?: number } }).details).toEqual({ status: 429, retryAfterMs: 120_000 });
    expect(delays).toEqual([]);
  });

  it('an HTTP-date Retry-After is measured against the injected clock', async () => {
    const now = Date.parse('Sun, 06 Nov 1994 08:49:30 GMT');
    const f = faultyFetch(echoServer().handler, {
      schedule: [{ kind: 'status', status: 503, retryAfter: 'Sun, 06 Nov 1994 08:49:37 GMT' }],
    });
    const { sleep, delays } = recordingSleep();
    const t = createTransport({ fetch: f.fetch, sleep, now: () => now, random: () => 0 });
    await t.request(GET);
    expect(delays).toEqual([7000]);
  });

  it('the caller aborting during a hang, or during backoff, gives ABORTED', async () => {
    const f = faultyFetch(echoServer().handler, { schedule: () => ({ kind: 'hang' }) });
    const ctrl = new AbortController();
    const t = createTransport({ fetch: f.fetch, timeoutMs: 10_000 });
    const p = t.request({ ...GET, signal: ctrl.signal });
    setTimeout(() => ctrl.abort(new Error('user cancelled')), 20);
    expect(await codeOf(p)).toBe('ABORTED');

    const f2 = faultyFetch(echoServer().handler, { schedule: () => ({ kind: 'status', status: 503 }) });
    const ctrl2 = new AbortController();
    const t2 = createTransport({
      fetch: f2.fetch,
      retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
      random: () => 0.99,
    });
    const p2 = t2.request({ ...GET, signal: ctrl2.signal });
    setTimeout(() => ctrl2.abort(), 20);
    expect(await codeOf(p2)).toBe('ABORTED');
    expect(f2.log.length).toBe(1);
  });

  it('a fetch that ignores the signal and never settles still times out', async () => {
    let calls = 0;
    const t = createTransport({
      fetch: () => {
        calls++;
        return new Promise<Response>(() => undefined);
      },
      sleep: recordingSleep().sleep,
      timeoutMs: 20,
      retry: { retries: 1 },
    });
    expect(await codeOf(t.request(GET))).toBe('TIMEOUT');
    expect(calls).toBe(2);
  });

  it('an over-cap response body is PROTOCOL and is not retried', async () => {
    const f = faultyFetch(echoServer().handler);
    const t = createTransport({ fetch: f.fetch, sleep: recordingSleep().sleep });
    expect(await codeOf(t.request({ ...GET, maxResponseBytes: 4095 }))).toBe('PROTOCOL');
    expect(f.log.length).toBe(1);
  });

  it('final statuses map to stable codes; passStatuses hands the answer back', async () => {
    const cases: [number, BackupErrorCode][] = [
      [401, 'UNAUTHORIZED'], [403, 'UNAUTHORIZED'], [404, 'NOT_FOUND'], [412, 'PRECONDITION_FAILED'],
      [413, 'QUOTA_EXCEEDED'], [507, 'QUOTA_EXCEEDED'], [416, 'INVALID_ARGUMENT'], [400, 'BLOB_STORE_FAILED'],
    ];
    for (const [status, code] of cases) {
      const f = faultyFetch(echoServer().handler, { schedule: [{ kind: 'status', status }] });
      const t = createTransport({ fetch: f.fetch, sleep: recordingSleep().sleep });
      expect(await codeOf(t.request(PUT))).toBe(code);
      expect(f.log.length).toBe(1); // not transient: no retry
      expect(statusToCode(status, 'BLOB_STORE_FAILED')).toBe(code);
    }
    const f = faultyFetch(echoServer().handler, { schedule: [{ kind: 'status', status: 404, body: 'gone' }] });
    const t = createTransport({ fetch: f.fetch });
    const res = await t.request({ ...GET, passStatuses: [404] });
    expect(res.status).toBe(404);
    expect(new TextDecoder().decode(res.body)).toBe('gone');
    expect(statusToCode(503, 'VAULT_UNAVAILABLE')).toBe('VAULT_UNAVAILABLE');
  });

  it('a seeded random mix of every fault ends in success for idempotent calls', async () => {
    const srv = echoServer();
    const f = faultyFetch(srv.handler, { seed: 42, rate: 0.5, kinds: transient.filter((k) => k.kind !== 'slow-body') });
    const t = createTransport({ fetch: f.fetch, sleep: recordingSleep().sleep, timeoutMs: 50, retry: { retries: 12 } });
    for (let i = 0; i < 30; i++) expect((await t.request(i % 2 ? GET : PUT)).status).toBe(200);
    expect(f.log.some((e) => e.fault !== undefined)).toBe(true);
  });

  it('refuses bad options with RangeError / TypeError', () => {
    expect(() => createTransport({} as never)).toThrow(TypeError);
    const fetch = echoServer().handler;
    expect(() => createTransport({ fetch, timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => createTransport({ fetch, retry: { retries: -1 } })).toThrow(/retries/);
  });
});

describe('parseRetryAfter (RFC 9110 §10.2.3)', () => {
  it('reads delay-seconds and HTTP-dates; ignores garbage', () => {
    expect(parseRetryAfter('0', 0)).toBe(0);
    expect(parseRetryAfter(' 17 ', 0)).toBe(17_000);
    expect(parseRetryAfter(null, 0)).toBeUndefined();
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter('-3', 0)).toBeUndefined();
    expect(parseRetryAfter('99999999999999999999', 0)).toBe(Number.MAX_SAFE_INTEGER);
    const t = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', t - 5000)).toBe(5000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', t + 5000)).toBe(0);
    // The obsolete forms RFC 9110 §5.6.7 still requires recipients to accept.
    expect(parseRetryAfter('Wednesday, 21-Oct-15 07:28:00 GMT', t - 1000)).toBe(1000);
    expect(parseRetryAfter('Wed Oct 21 07:28:00 2015', t - 1000)).toBe(1000);
    expect(parseRetryAfter('2015-10-21', 0)).toBeUndefined();
  });
  it('never throws and never returns a negative or NaN delay', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), fc.integer({ min: 0, max: 2 ** 42 }), (s, now) => {
        const v = parseRetryAfter(s, now);
        expect(v === undefined || (Number.isFinite(v) && v >= 0)).toBe(true);
      }),
    );
  });
});
