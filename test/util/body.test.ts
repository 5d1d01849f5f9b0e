// The capped body readers of lib/util/body.ts, and the typed errors their callers raise on an
// over-cap body (the vault client, the witness-log client).
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { pinnedFleets } from '../../lib/recovery/fleet-trust.js';
import { INSECURE_IDENTITY_KSF, OpaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { MAX_MESSAGE_BYTES } from '../../lib/recovery/protocol.js';
import { createVaultClient } from '../../lib/recovery/vault-client.js';
import { MAX_SIGNED_BUNDLE_BYTES } from '../../lib/trust/bundle.js';
import { witnessLogClient } from '../../lib/trust/log-client.js';
import { readBodyCapped, readStreamCapped } from '../../lib/util/body.js';

interface Probe {
  stream: ReadableStream<Uint8Array>;
  /** Chunks handed to the reader so far. */
  pulled: () => number;
  cancelled: () => boolean;
}

/** A stream of `total` bytes (byte i is i & 0xff) in chunks of `chunk`, then `end`. */
function source(total: number, chunk: number, end: 'close' | Error = 'close'): Probe {
  let sent = 0;
  let pulls = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (sent >= total) {
          if (end === 'close') c.close();
          else c.error(end);
          return;
        }
        const n = Math.min(chunk, total - sent);
        c.enqueue(Uint8Array.from({ length: n }, (_, i) => (sent + i) & 0xff));
        sent += n;
        pulls++;
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulls, cancelled: () => cancelled };
}

function pattern(n: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length: n }, (_, i) => i & 0xff);
}

describe('readStreamCapped', () => {
  it('accepts exactly the cap, in any chunking', async () => {
    for (const chunk of [1, 7, 100, 1000]) {
      const p = source(100, chunk);
      const out = await readStreamCapped(p.stream, 100);
      expect(out && Buffer.from(out).equals(Buffer.from(pattern(100)))).toBe(true);
      expect(p.cancelled()).toBe(false);
    }
  });

  it('refuses one byte over the cap and cancels the stream as soon as the total passes it', async () => {
    for (const chunk of [1, 7, 101]) {
      const p = source(10_000, chunk);
      expect(await readStreamCapped(p.stream, 100)).toBeUndefined();
      expect(p.cancelled()).toBe(true);
      // Stopped at the chunk that passed the cap: no more was pulled.
      expect(p.pulled()).toBe(Math.floor(100 / chunk) + 1);
    }
    const one = source(101, 50);
    expect(await readStreamCapped(one.stream, 100)).toBeUndefined();
    expect(one.cancelled()).toBe(true);
  });

  it('a null body is empty; an empty stream is empty', async () => {
    expect((await readStreamCapped(null, 0))?.length).toBe(0);
    expect((await readStreamCapped(source(0, 1).stream, 0))?.length).toBe(0);
  });

  it('a stream that errors mid-way rejects with its error', async () => {
    const boom = new Error('connection reset');
    await expect(readStreamCapped(source(50, 10, boom).stream, 100)).rejects.toBe(boom);
  });
});

describe('readBodyCapped', () => {
  it('refuses a declared content-length over the cap without reading the body, and cancels it', async () => {
    const p = source(10, 10);
    const res = new Response(p.stream, { headers: { 'content-length': '101' } });
    expect(await readBodyCapped(res, 100)).toBeUndefined();
    expect(p.pulled()).toBe(0);
    expect(p.cancelled()).toBe(true);
  });

  it('a content-length that lies low does not get a longer body past the cap', async () => {
    const p = source(101, 10);
    const res = new Response(p.stream, { headers: { 'content-length': '5' } });
    expect(await readBodyCapped(res, 100)).toBeUndefined();
    expect(p.cancelled()).toBe(true);
  });

  it('a body within the cap is read whatever its content-length says (a non-number is ignored)', async () => {
    for (const cl of ['100', '3', 'junk', undefined]) {
      const headers: Record<string, string> = cl === undefined ? {} : { 'content-length': cl };
      const out = await readBodyCapped(new Response(source(100, 9).stream, { headers }), 100);
      expect(out && Buffer.from(out).equals(Buffer.from(pattern(100)))).toBe(true);
    }
    expect((await readBodyCapped(new Response(null), 0))?.length).toBe(0);
  });

  it('reads a request body too', async () => {
    const req = new Request('http://x/', { method: 'POST', body: pattern(64) });
    expect((await readBodyCapped(req, 64))?.length).toBe(64);
    const big = new Request('http://x/', { method: 'POST', body: pattern(65) });
    expect(await readBodyCapped(big, 64)).toBeUndefined();
  });
});

describe('callers turn an over-cap body into their own typed error', () => {
  it('the vault client: PROTOCOL with the limit, not retried as unavailable', async () => {
    const suite = new OpaqueTsSuite(INSECURE_IDENTITY_KSF);
    let calls = 0;
    const client = createVaultClient({
      fleetId: 'fleet-1',
      accountId: 'alice',
      baseUrl: 'http://vault.test',
      fetch: async () => {
        calls++;
        return new Response(source(MAX_MESSAGE_BYTES + 1, 4096).stream);
      },
      getToken: async () => 'tok',
      trust: pinnedFleets([{ fleetId: 'fleet-1', suite: suite.id, publicKey: new Uint8Array(33) }]),
      suite,
      sleep: async () => undefined,
    });
    const err: unknown = await client.status().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBackupError(err, 'PROTOCOL')).toBe(true);
    expect(isBackupError(err) && err.details.limit).toBe(MAX_MESSAGE_BYTES);
    expect(calls).toBe(1);
  });

  it('the witness-log client: TRUST_MALFORMED with the limit', async () => {
    const log = witnessLogClient({
      baseUrl: 'http://witness.test',
      fetch: async () => new Response(source(MAX_SIGNED_BUNDLE_BYTES + 1, 1000).stream),
    });
    const err: unknown = await log.fetchBundle().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBackupError(err, 'TRUST_MALFORMED')).toBe(true);
    expect(isBackupError(err) && err.details.limit).toBe(MAX_SIGNED_BUNDLE_BYTES);
  });
});
