// @vitest-environment jsdom
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { createIndexedDbStore } from '../../lib/storage/kv.js';
import { createTrustStore } from '../../lib/trust/trust-store.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { isBackupError } from '../../lib/errors.js';
import { bundle, config, fleet, fleetKey, NOW_MS, SUITE, witnessLog } from './fixtures.js';

const PIN = { fleetId: 'pinned-1', suite: SUITE, publicKey: fleetKey('pinned-1') };

describe('trust store on IndexedDB (jsdom + fake-indexeddb)', () => {
  it('trust state survives a reload: a new store instance on the same database', async () => {
    const w = witnessLog();
    const b1 = w.publish(bundle(1, [fleet('eu-1')]));
    const b2 = w.publish(bundle(2, [fleet('eu-2')], { retired: ['pinned-1'] }));
    const mk = () =>
      createTrustStore({ config: config({ pins: [PIN] }), store: createIndexedDbStore({ dbName: 'trust-reload' }), now: () => NOW_MS });
    const first = mk();
    await first.applyBundle(b2);

    const second = mk(); // a "reloaded page": fresh objects, same IndexedDB database
    const state = await second.state();
    expect(state.epoch).toBe(2);
    expect(state.checkpoint!.size).toBe(2);
    expect(state.discardedCorruptState).toBe(false);
    const fleets = await second.trustedFleets();
    expect(fleets.map((f) => f.fleetId)).toEqual(['eu-2']); // pin retired by the bundle
    // Bytes read back from fake-indexeddb come from another realm: compare with equalBytes.
    expect(equalBytes(fleets[0]!.publicKey, fleetKey('eu-2'))).toBe(true);
    // The high-water mark survived too.
    const err = await second.applyBundle(b1).catch((e: unknown) => e);
    expect(isBackupError(err, 'TRUST_ROLLBACK')).toBe(true);
  });

  it('split-view evidence survives a reload (bytes from another realm included)', async () => {
    const honest = witnessLog();
    const fork = witnessLog();
    const mk = () => createTrustStore({ config: config(), store: createIndexedDbStore({ dbName: 'trust-fork' }), now: () => NOW_MS });
    await mk().applyBundle(honest.publish(bundle(1, [fleet('eu-1')])));
    fork.publish(bundle(1, [fleet('evil-1')]));
    const forked = fork.publish(bundle(2, [fleet('evil-2')]));
    const err = await mk()
      .applyBundle(forked, { consistencyProof: fork.log.consistencyProof(1, 2) })
      .catch((e: unknown) => e);
    expect(isBackupError(err, 'TRUST_SPLIT_VIEW')).toBe(true);
    const [ev, ...rest] = await mk().splitViewEvidence();
    expect(rest).toEqual([]);
    expect(equalBytes(ev!.presented.signedBundle, forked)).toBe(true);
    expect(ev!.consistencyProof).toHaveLength(fork.log.consistencyProof(1, 2).length);
  });

  it('a corrupted database record falls back to the pins', async () => {
    const w = witnessLog();
    const kv = createIndexedDbStore({ dbName: 'trust-corrupt' });
    const t = createTrustStore({ config: config({ pins: [PIN] }), store: kv, now: () => NOW_MS });
    await t.applyBundle(w.publish(bundle(1, [fleet('eu-1')])));
    const rec = (await kv.get<{ [k: string]: Uint8Array | number | string }>('trust/v1/chat.example'))!;
    const bad = Uint8Array.from(rec.bundle as Uint8Array);
    bad[bad.length - 70] ^= 0xff;
    await kv.set('trust/v1/chat.example', { ...rec, bundle: bad });
    const reloaded = createTrustStore({ config: config({ pins: [PIN] }), store: createIndexedDbStore({ dbName: 'trust-corrupt' }), now: () => NOW_MS });
    expect((await reloaded.trustedFleets()).map((f) => f.fleetId)).toEqual(['pinned-1']);
    expect((await reloaded.state()).discardedCorruptState).toBe(true);
  });
});
