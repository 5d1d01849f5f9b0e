// The server handlers read request bodies in an engine whose Request has no `body` property
// (Firefox ESR 153: `'body' in request` is false). Simulated in Node by shadowing the getter
// with `undefined`; test/server/request-body-browser.test.ts runs the same scenario in each browser.
import { describe, expect, it } from 'vitest';
import { bodyStream, readBodyCapped } from '../../lib/util/body.js';
import { EXPECTED, runHandlerScenario } from './handler-scenario.js';

/** The request as Firefox gives it to a handler: the bytes only through blob(), arrayBuffer(), text(). */
function withoutBody(r: Request): Request {
  Object.defineProperty(r, 'body', { value: undefined });
  return r;
}

describe('request bodies where Request has no body property (Firefox)', () => {
  it('vault, blob store and witness handlers read them, and still refuse one over the cap', async () => {
    const r = await runHandlerScenario(withoutBody);
    expect({ vault: r.vault, blobs: r.blobs, witness: r.witness }).toEqual(EXPECTED);
  });

  it('bodyStream streams the bytes; readBodyCapped holds the cap; no body reads as empty', async () => {
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => i & 255);
    const out = await readBodyCapped(withoutBody(new Request('http://x.test/', { method: 'POST', body: bytes })), 3000);
    expect(out && Buffer.from(out).equals(Buffer.from(bytes))).toBe(true);
    expect(await readBodyCapped(withoutBody(new Request('http://x.test/', { method: 'POST', body: bytes })), 2999)).toBeUndefined();
    expect((await readBodyCapped(withoutBody(new Request('http://x.test/')), 0))?.length).toBe(0);
    // Lazy: nothing is read until the stream is pulled; a cancelled stream reads nothing.
    const req = withoutBody(new Request('http://x.test/', { method: 'POST', body: bytes }));
    const s = bodyStream(req)!;
    expect(req.bodyUsed).toBe(false);
    await s.cancel();
    expect(req.bodyUsed).toBe(false);
  });
});
