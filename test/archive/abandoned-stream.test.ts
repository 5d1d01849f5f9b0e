// A stream dropped without end or cancel must not stay reachable from the caller's AbortSignal:
// the signal holds it only weakly (lib/util/abort.ts), so once it is garbage-collected its abort
// listener is removed and what it held is wiped (the chunk cipher's subkey, plaintext buffers).
// Without that, an app-wide AbortController kept every abandoned stream's state alive, unwiped.
import { describe, expect, it } from 'vitest';
import { getEventListeners } from 'node:events';
import { collectGarbage } from '../support/gc.js';
import { createDecryptStream, createEncryptStream } from '../../lib/archive/stream.js';
import { encryptArchive } from '../../lib/archive/archive.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import type { CipherEngine } from '../../lib/archive/engine.js';

/** The noble engine, counting the ciphers it made and the ones disposed of. */
function countingEngine(): { engine: CipherEngine; made: () => number; disposed: () => number } {
  const base = nobleEngine();
  let made = 0;
  let disposed = 0;
  return {
    engine: {
      name: 'counting',
      create(key, prefix) {
        const c = base.create(key, prefix);
        made++;
        return {
          seal: (t, p, a) => c.seal(t, p, a),
          open: (t, s, a) => c.open(t, s, a),
          dispose: () => {
            disposed++;
            c.dispose();
          },
        };
      },
    },
    made: () => made,
    disposed: () => disposed,
  };
}

const key = new Uint8Array(32).fill(3);
const keyId = new Uint8Array(16).fill(4);

describe('abandoned archive streams', () => {
  it('an encrypt stream dropped mid-way is collected: its listener goes and its cipher is disposed of', async () => {
    const ac = new AbortController();
    const counting = countingEngine();
    await (async () => {
      const ts = createEncryptStream(key, keyId, { signal: ac.signal, engine: counting.engine, chunkSize: 64 });
      const w = ts.writable.getWriter();
      const r = ts.readable.getReader();
      void w.write(new Uint8Array(1000).fill(9)).catch(() => undefined);
      await r.read(); // the header; the chunks wait on backpressure
      await r.read();
    })();
    expect(counting.made()).toBe(1);
    expect(getEventListeners(ac.signal, 'abort').length).toBe(1);
    await collectGarbage(() => counting.disposed() > 0);
    expect(counting.disposed()).toBe(1);
    expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
    ac.abort(); // nothing left to act on: no throw
  });

  it('a decrypt stream dropped mid-way is collected the same way', async () => {
    const ac = new AbortController();
    const counting = countingEngine();
    const archive = encryptArchive(key, keyId, new Uint8Array(1000).fill(5), { chunkSize: 64 });
    await (async () => {
      const ts = createDecryptStream(key, { signal: ac.signal, engine: counting.engine });
      const w = ts.writable.getWriter();
      const r = ts.readable.getReader();
      void w.write(await archive).catch(() => undefined);
      await r.read();
    })();
    expect(counting.made()).toBe(1);
    await collectGarbage(() => counting.disposed() > 0);
    expect(counting.disposed()).toBe(1);
    expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
  });

  it('a stream still in use keeps its listener, and an abort still reaches it', async () => {
    const ac = new AbortController();
    const counting = countingEngine();
    const ts = createEncryptStream(key, keyId, { signal: ac.signal, engine: counting.engine, chunkSize: 64 });
    const r = ts.readable.getReader();
    await r.read();
    await collectGarbage(() => false, 5);
    expect(getEventListeners(ac.signal, 'abort').length).toBe(1);
    expect(counting.disposed()).toBe(0);
    ac.abort(new Error('stop'));
    await expect(r.read()).rejects.toMatchObject({ code: 'ABORTED' });
    expect(counting.disposed()).toBe(1);
    expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
  });

  it('a stream that ends normally unlinks at once', async () => {
    const ac = new AbortController();
    const out = await new Response(new Blob([new Uint8Array(300)]).stream().pipeThrough(createEncryptStream(key, keyId, { signal: ac.signal, chunkSize: 64 }))).arrayBuffer();
    expect(out.byteLength).toBeGreaterThan(300);
    expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
  });
});
