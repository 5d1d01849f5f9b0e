// A restore stream dropped without end or cancel: the caller's signal holds it only weakly
// (lib/util/abort.ts), so once collected its abort listener is gone and its unreleased windows
// of verified plaintext are wiped; while in use, an abort still stops it.
import { describe, expect, it } from 'vitest';
import { getEventListeners } from 'node:events';
import { collectGarbage } from '../support/gc.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { isBackupError } from '../../lib/errors.js';
import { makeClient, makeVault, testBytes } from './harness.js';

describe('abandoned restore stream', () => {
  it('is collected: the listener on the caller\'s signal goes; an abort of a live one still stops it', async () => {
    const client = makeClient(makeVault(), createMemoryBlobStore({ limits: { minPartSize: 1 } }), createMemoryStore(), { accountId: 'abby' });
    await client.enable();
    await client.backup(testBytes(50_000, 3));
    const listeners = (s: AbortSignal) => getEventListeners(s, 'abort').length;

    const dropped = new AbortController();
    await (async () => {
      const { openStream } = await client.restore();
      // Small windows, so the first one out leaves more in flight.
      const reader = openStream({ signal: dropped.signal, windowSize: 4096 }).getReader();
      await reader.read(); // one window out, more read ahead, then the reader is dropped
    })();
    expect(listeners(dropped.signal)).toBeGreaterThan(0);
    await collectGarbage(() => listeners(dropped.signal) === 0);
    expect(listeners(dropped.signal)).toBe(0);

    const live = new AbortController();
    const { openStream } = await client.restore();
    const reader = openStream({ signal: live.signal, windowSize: 4096 }).getReader();
    await reader.read();
    await collectGarbage(() => false, 5);
    expect(listeners(live.signal)).toBeGreaterThan(0);
    live.abort(new Error('user left'));
    const err = await reader.read().then(() => undefined, (e: unknown) => e);
    expect(isBackupError(err, 'ABORTED') || (err instanceof Error && err.message === 'user left')).toBe(true);
    client.close();
  });
});
