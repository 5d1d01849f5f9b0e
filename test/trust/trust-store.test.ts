import { describe, expect, it } from 'vitest';
import { createMemoryStore, type KeyValueStore, type StoredValue } from '../../lib/storage/kv.js';
import { createTrustStore, type TrustChangeEvent } from '../../lib/trust/trust-store.js';
import { witnessLogClient } from '../../lib/trust/log-client.js';
import { createWitnessHandler } from '../../lib/server/witness.js';
import { isBackupError, type BackupErrorCode } from '../../lib/errors.js';
import { equalBytes, isBytes } from '../../lib/util/bytes.js';
import { bundle, config, fleet, fleetKey, NOW_MS, SUITE, T0, witnessLog } from './fixtures.js';

async function expectCode(p: Promise<unknown>, code: BackupErrorCode): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isBackupError(err), `expected ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

const PIN = { fleetId: 'pinned-1', suite: SUITE, publicKey: fleetKey('pinned-1') };
const ids = (fs: readonly { fleetId: string }[]) => fs.map((f) => f.fleetId).sort();

function setup(opts: { store?: KeyValueStore; now?: () => number } = {}) {
  const w = witnessLog();
  const handler = createWitnessHandler(w.log);
  const client = witnessLogClient({ baseUrl: 'http://witness.test', fetch: handler });
  const store = opts.store ?? createMemoryStore();
  const trust = createTrustStore({
    config: config({ pins: [PIN] }),
    store,
    now: opts.now ?? (() => NOW_MS),
    fetchBundle: client.fetchBundle,
    fetchConsistencyProof: client.fetchConsistencyProof,
  });
  return { ...w, handler, client, store, trust };
}

describe('trust store', () => {
  it('starts from the pins, applies a bundle, emits a change event', async () => {
    const { trust, publish } = setup();
    expect(ids(await trust.trustedFleets())).toEqual(['pinned-1']);
    expect((await trust.state()).epoch).toBe(0);
    const events: TrustChangeEvent[] = [];
    const off = trust.on('change', (e) => events.push(e));
    const ev = await trust.applyBundle(publish(bundle(1, [fleet('eu-1')])));
    expect(ev.epoch).toBe(1);
    expect(events).toHaveLength(1);
    expect(ids(events[0]!.fleets)).toEqual(['eu-1', 'pinned-1']);
    expect(ids(await trust.trustedFleets())).toEqual(['eu-1', 'pinned-1']);
    off();
    await trust.applyBundle(publish(bundle(2, [fleet('eu-2')])));
    expect(events).toHaveLength(1);
    // A bundle replaces the previous bundle's fleets; pins stay.
    expect(ids(await trust.trustedFleets())).toEqual(['eu-2', 'pinned-1']);
  });

  it('TRUST_ROLLBACK: an epoch not above the high-water mark', async () => {
    const { trust, publish } = setup();
    const b1 = publish(bundle(1, [fleet('eu-1')]));
    const b2 = publish(bundle(2, [fleet('eu-2')]));
    await trust.applyBundle(b2);
    await expectCode(trust.applyBundle(b1), 'TRUST_ROLLBACK');
    await expectCode(trust.applyBundle(b2), 'TRUST_ROLLBACK');
    expect(ids(await trust.trustedFleets())).toEqual(['eu-2', 'pinned-1']);
  });

  it('TRUST_SPLIT_VIEW: a forked log (same witness key) is detected through the consistency proof', async () => {
    const honest = witnessLog();
    const fork = witnessLog();
    const store = createMemoryStore();
    const trust = createTrustStore({ config: config(), store, now: () => NOW_MS });
    await trust.applyBundle(honest.publish(bundle(1, [fleet('eu-1')])));
    // The fork logged something else first, then a bundle with a higher epoch.
    fork.publish(bundle(1, [fleet('evil-1')]));
    const forked2 = fork.publish(bundle(2, [fleet('evil-2')]));
    // The forking log proves consistency with ITS OWN history, not the one this device saw.
    await expectCode(trust.applyBundle(forked2, { consistencyProof: fork.log.consistencyProof(1, 2) }), 'TRUST_SPLIT_VIEW');
    // Same size, different root.
    const sameSize = createTrustStore({ config: config(), store: createMemoryStore(), now: () => NOW_MS });
    await sameSize.applyBundle(honest.log.signedBundle(1)!);
    // Another log with the same key and origin whose tree of size 1 holds something else.
    const other2 = witnessLog();
    const b2 = other2.publish(bundle(2, [fleet('x')]));
    await expectCode(sameSize.applyBundle(b2), 'TRUST_SPLIT_VIEW');
    // No proof at all is refused too (it cannot be checked).
    await expectCode(trust.applyBundle(forked2), 'TRUST_SPLIT_VIEW');
    expect((await trust.state()).epoch).toBe(1);
  });

  it('follows an honest log through fetched consistency proofs, in either direction', async () => {
    const { trust, publish, log } = setup();
    const b1 = publish(bundle(1, [fleet('eu-1')]));
    publish(bundle(2, [fleet('eu-2')]));
    const b3 = publish(bundle(3, [fleet('eu-3')]));
    // b1 was served when the log had one entry; its proof is against size 1.
    await trust.applyBundle(b3);
    expect((await trust.state()).checkpoint!.size).toBe(3);
    expect(log.size).toBe(3);
    // A bundle served with an older checkpoint is fine if the older tree is a prefix, but the
    // epoch must still go up: here it does not.
    await expectCode(trust.applyBundle(b1), 'TRUST_ROLLBACK');
    publish(bundle(4, [fleet('eu-4')]));
    await trust.applyBundle(log.signedBundle(4)!);
    expect((await trust.state()).checkpoint!.size).toBe(4);
  });

  it('retired fleets (pins included) are no longer trusted; fleet windows are honoured', async () => {
    let now = NOW_MS;
    const { trust, publish } = setup({ now: () => now });
    await trust.applyBundle(
      publish(
        bundle(1, [fleet('eu-1'), fleet('eu-2', { notBefore: T0 + 86_400, notAfter: T0 + 2 * 86_400 })], { retired: ['pinned-1'] }),
      ),
    );
    expect(ids(await trust.trustedFleets())).toEqual(['eu-1']);
    now = (T0 + 86_400) * 1000;
    expect(ids(await trust.trustedFleets())).toEqual(['eu-1', 'eu-2']);
    now = (T0 + 2 * 86_400) * 1000;
    expect(ids(await trust.trustedFleets())).toEqual(['eu-1']);
  });

  it('resolveUnknown fetches, verifies and applies a bundle through the witness handler', async () => {
    const { trust, publish } = setup();
    const key = fleetKey('eu-9');
    expect(await trust.resolveUnknown('eu-9', key)).toBeUndefined(); // nothing published yet
    publish(bundle(1, [fleet('eu-9')]));
    const got = await trust.resolveUnknown('eu-9', key);
    expect(got?.fleetId).toBe('eu-9');
    expect(got?.roles).toEqual(['enroll', 'recover']);
    expect((await trust.state()).epoch).toBe(1);
    // A key the newest bundle does not list stays unknown (the refetched bundle is not news).
    expect(await trust.resolveUnknown('eu-9', fleetKey('other'))).toBeUndefined();
    // Already trusted: answered locally.
    expect((await trust.resolveUnknown('pinned-1', PIN.publicKey))?.source).toBe('pin');
  });

  it('resolveUnknown surfaces an attack instead of hiding it', async () => {
    const store = createMemoryStore();
    const w = witnessLog();
    w.publish(bundle(1, [fleet('eu-0')]));
    const tampered = Uint8Array.from(w.publish(bundle(2, [fleet('eu-1')])));
    tampered[tampered.length - 1] ^= 1; // the last byte of the (one-hash) inclusion proof
    const trust = createTrustStore({ config: config(), store, now: () => NOW_MS, fetchBundle: async () => tampered });
    await expectCode(trust.resolveUnknown('eu-1', fleetKey('eu-1')), 'TRUST_BAD_INCLUSION_PROOF');
    expect(await trust.trustedFleets()).toEqual([]);
  });

  it('concurrent instances on one store: the higher epoch wins, the other is a rollback', async () => {
    const w = witnessLog();
    const b1 = w.publish(bundle(1, [fleet('eu-1')]));
    const b2 = w.publish(bundle(2, [fleet('eu-2')]));
    const store = createMemoryStore();
    const mk = () => createTrustStore({ config: config(), store, now: () => NOW_MS, fetchConsistencyProof: async (a, b) => w.log.consistencyProof(a, b) });
    const [x, y] = [mk(), mk()];
    const results = await Promise.allSettled([x.applyBundle(b2), y.applyBundle(b1)]);
    expect((await x.state()).epoch).toBe(2);
    expect((await y.state()).epoch).toBe(2);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.length).toBeLessThanOrEqual(1);
    for (const r of rejected) expect(isBackupError((r as PromiseRejectedResult).reason, 'TRUST_ROLLBACK')).toBe(true);
  });

  it('a write that raced with another tab is re-checked against that tab\'s state (split view caught)', async () => {
    const honest = witnessLog();
    const fork = witnessLog();
    honest.publish(bundle(1, [fleet('eu-1')]));
    const honest2 = honest.publish(bundle(2, [fleet('eu-2')]));
    fork.publish(bundle(1, [fleet('evil-1')]));
    fork.publish(bundle(2, [fleet('evil-2')]));
    const fork3 = fork.publish(bundle(3, [fleet('evil-3')]));
    const base = createMemoryStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gated: KeyValueStore = { ...base, update: async (k, fn) => { await gate; return base.update(k, fn); } };
    const x = createTrustStore({ config: config(), store: base, now: () => NOW_MS });
    const y = createTrustStore({ config: config(), store: gated, now: () => NOW_MS });
    // Y loads the (empty) state and waits at its write; X applies the honest epoch 2 meanwhile.
    const yApply = y.applyBundle(fork3, { consistencyProof: fork.log.consistencyProof(2, 3) });
    await x.applyBundle(honest2);
    release();
    await expectCode(yApply, 'TRUST_SPLIT_VIEW');
    expect(ids(await x.trustedFleets())).toEqual(['eu-2']);
  });

  describe('stored state', () => {
    const KEY = 'trust/v1/chat.example';
    async function applied() {
      const s = setup();
      await s.trust.applyBundle(s.publish(bundle(1, [fleet('eu-1')], { retired: [] })));
      return s;
    }
    const fresh = (store: KeyValueStore) => createTrustStore({ config: config({ pins: [PIN] }), store, now: () => NOW_MS });

    it('survives a new instance on the same store and keeps the high-water mark', async () => {
      const { store, log } = await applied();
      const again = fresh(store);
      expect((await again.state()).epoch).toBe(1);
      expect(ids(await again.trustedFleets())).toEqual(['eu-1', 'pinned-1']);
      await expectCode(again.applyBundle(log.signedBundle(1)!), 'TRUST_ROLLBACK');
    });

    it('a flipped byte anywhere in the record falls back to the pins', async () => {
      const { store } = await applied();
      const rec = (await store.get<Record<string, StoredValue>>(KEY))!;
      for (const field of ['bundle', 'checkpoint', 'checksum'] as const) {
        const copy = { ...rec, [field]: Uint8Array.from(rec[field] as Uint8Array, (b, i) => (i === 20 ? b ^ 0x80 : b)) };
        await store.set(KEY, copy);
        const t = fresh(store);
        expect(ids(await t.trustedFleets()), field).toEqual(['pinned-1']);
        expect((await t.state()).discardedCorruptState).toBe(true);
      }
      for (const junk of [null, 'x', 7, { v: 1 }, { ...rec, epoch: -1 }] as StoredValue[]) {
        await store.set(KEY, junk);
        expect(ids(await fresh(store).trustedFleets())).toEqual(['pinned-1']);
      }
    });

    it('a forged record with a correct checksum still falls back to the pins (signatures are re-verified)', async () => {
      const { store } = await applied();
      const rec = (await store.get<Record<string, StoredValue>>(KEY))!;
      // An attacker with write access to IndexedDB swaps in a bundle signed by nobody we trust.
      const rogue = witnessLog({ secret: new Uint8Array(32).fill(9) }).publish(bundle(5, [fleet('evil')]));
      const tampered = { ...rec, bundle: rogue, epoch: 5 };
      // Recompute the checksum exactly as the store does (the checksum is not a MAC, by design).
      const { LABELS } = await import('../../lib/labels.js');
      const { sha256 } = await import('@noble/hashes/sha2.js');
      const { concatBytes, utf8 } = await import('../../lib/util/bytes.js');
      const u64 = (n: number) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b; };
      const u32 = (n: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b; };
      const ns = utf8('chat.example');
      const cp = rec.checkpoint as Uint8Array;
      const sum = sha256(concatBytes(utf8(LABELS.trustState), Uint8Array.of(0, 1, ns.length), ns, u64(5), u64(rec.appliedAt as number),
        u32(rogue.length), rogue, u32(cp.length), cp, u64(rec.checkpointAt as number)));
      await store.set(KEY, { ...tampered, checksum: sum });
      const t = fresh(store);
      expect((await t.state()).discardedCorruptState).toBe(true);
      expect(ids(await t.trustedFleets())).toEqual(['pinned-1']);
    });

    it('missing state means pins only, and never trusting an unproven key', async () => {
      const t = fresh(createMemoryStore());
      expect(ids(await t.trustedFleets())).toEqual(['pinned-1']);
      expect(await t.resolveUnknown('eu-1', fleetKey('eu-1'))).toBeUndefined();
      const s = await t.state();
      expect(s.epoch).toBe(0);
      expect(s.discardedCorruptState).toBe(false);
    });

    it('returned keys are copies: mutating them changes nothing', async () => {
      const { trust } = await applied();
      const [f] = (await trust.trustedFleets()).filter((x) => x.fleetId === 'eu-1');
      f!.publicKey.fill(0);
      const [g] = (await trust.trustedFleets()).filter((x) => x.fleetId === 'eu-1');
      expect(isBytes(g!.publicKey) && equalBytes(g!.publicKey, fleetKey('eu-1'))).toBe(true);
    });
  });

  it('misuse at the edge throws TypeError/RangeError', () => {
    expect(() => createTrustStore({ config: config({ thresholds: { witnesses: 0, operators: 1 } }), store: createMemoryStore() })).toThrow(RangeError);
    expect(() => createTrustStore({ config: config(), store: {} as KeyValueStore })).toThrow(TypeError);
    const t = createTrustStore({ config: config(), store: createMemoryStore() });
    expect(() => t.on('nope' as 'change', () => undefined)).toThrow(RangeError);
  });
});
