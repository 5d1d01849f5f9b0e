// Issue 13, finding 6: the trust store's soft spots, each as the attack the review tried.
// Every test here failed against the code before the fix (see the commit message).
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { decodeBundle, encodeBundle, verifyLogCheckpoint, type Bundle } from '../../lib/trust/bundle.js';
import { parseCheckpoint, signCheckpoint, verifyCheckpoint } from '../../lib/trust/checkpoint.js';
import { ed25519PublicKey } from '../../lib/trust/ed25519.js';
import { witnessLogClient } from '../../lib/trust/log-client.js';
import { createTrustStore, type SplitViewEvidence } from '../../lib/trust/trust-store.js';
import { createMemoryStore, type KeyValueStore, type StoredValue } from '../../lib/storage/kv.js';
import { verifyConsistency } from '../../lib/trust/merkle.js';
import { LABELS } from '../../lib/labels.js';
import { concatBytes, fromUtf8, utf8 } from '../../lib/util/bytes.js';
import { expectCode } from '../support/errors.js';
import { bundle, config, fleet, fleetKey, NOW_MS, ORIGIN, SUITE, T0, W1, W1_NAME, W2, W2_NAME, witnessLog } from './fixtures.js';

const BOM = Uint8Array.of(0xef, 0xbb, 0xbf);
const DAY = 86_400;
const KEY = 'trust/v1/chat.example';
const ids = (fs: readonly { fleetId: string }[]) => fs.map((f) => f.fleetId).sort();

/** Insert a BOM at the start of the u8-length-prefixed string `s` in `bytes` (first occurrence). */
function bomField(bytes: Uint8Array, s: string): Uint8Array {
  const needle = concatBytes(Uint8Array.of(utf8(s).length), utf8(s));
  for (let i = 0; i + needle.length <= bytes.length; i++) {
    if (needle.every((b, j) => bytes[i + j] === b)) {
      return concatBytes(bytes.subarray(0, i), Uint8Array.of(needle.length - 1 + 3), BOM, needle.subarray(1), bytes.subarray(i + needle.length));
    }
  }
  throw new Error(`field ${s} not found`);
}

describe('issue 13 / 6a: strict UTF-8, a byte-order mark is never dropped', () => {
  const b: Bundle = bundle(3, [fleet('eu-1')], { retired: ['old-1'] });
  const bytes = encodeBundle(b);

  it('the shared decoder keeps a leading BOM (so re-encoding gives the same bytes) and refuses bad UTF-8', () => {
    const s = fromUtf8(concatBytes(BOM, utf8('x')));
    expect(s).toBe('\uFEFFx');
    expect(utf8(s)).toEqual(concatBytes(BOM, utf8('x')));
    expect(() => fromUtf8(Uint8Array.of(0xc0, 0x80))).toThrow(TypeError);
    expect(() => fromUtf8(Uint8Array.of(0xed, 0xa0, 0x80))).toThrow(TypeError);
  });

  for (const [field, value] of [
    ['namespace', b.namespace],
    ['fleetId', 'eu-1'],
    ['suite', SUITE],
    ['retired fleetId', 'old-1'],
  ] as const) {
    it(`bundle field ${field}: BOM ‖ value is TRUST_MALFORMED`, () => {
      const bad = bomField(bytes, value);
      expectCode(() => decodeBundle(bad), 'TRUST_MALFORMED');
    });
  }

  it('checkpoint: BOM ‖ note is TRUST_MALFORMED (its signature covers other bytes)', () => {
    const pk = ed25519PublicKey(W1);
    const note = signCheckpoint({ origin: ORIGIN, size: 1, root: new Uint8Array(32) }, [{ name: W1_NAME, secretKey: W1, publicKey: pk }]);
    expect(verifyCheckpoint(parseCheckpoint(note), [{ name: W1_NAME, publicKey: pk }], 1)).toHaveLength(1);
    expectCode(() => parseCheckpoint(concatBytes(BOM, note)), 'TRUST_MALFORMED');
    expectCode(() => verifyLogCheckpoint(concatBytes(BOM, note), config(), T0), 'TRUST_MALFORMED');
  });

  it('checkpoint: a BOM at the start of any line (origin, size, root, extension, signature) is TRUST_MALFORMED', () => {
    const pk = ed25519PublicKey(W1);
    const note = fromUtf8(signCheckpoint({ origin: ORIGIN, size: 1, root: new Uint8Array(32) }, [{ name: W1_NAME, secretKey: W1, publicKey: pk }]));
    const lines = note.split('\n');
    for (let i = 0; i < lines.length - 1; i++) {
      if (lines[i] === '') continue;
      const bad = [...lines.slice(0, i), '\uFEFF' + lines[i]!, ...lines.slice(i + 1)].join('\n');
      expectCode(() => parseCheckpoint(utf8(bad)), 'TRUST_MALFORMED');
    }
    const withExt = note.replace('\n\n', '\n\uFEFFext\n\n');
    expectCode(() => parseCheckpoint(utf8(withExt)), 'TRUST_MALFORMED');
  });

  it('a consistency proof served as BOM ‖ JSON is TRUST_MALFORMED', async () => {
    const body = concatBytes(BOM, utf8(JSON.stringify({ proof: [] })));
    const client = witnessLogClient({
      baseUrl: 'http://witness.test',
      fetch: async () => new Response(body as Uint8Array<ArrayBuffer>, { status: 200 }),
    });
    await expect(client.fetchConsistencyProof(1, 2)).rejects.toMatchObject({ code: 'TRUST_MALFORMED' });
  });
});

describe('issue 13 / 6b: a witness key counts once', () => {
  const pk = ed25519PublicKey(W1);
  const body = { origin: ORIGIN, size: 1, root: new Uint8Array(32) };

  it('the same key under two names is refused in the trust roots, and counted once by verifyCheckpoint', () => {
    const twoNames = config({
      witnessKeys: [
        { name: 'w/a', publicKey: pk, notBefore: T0 - DAY },
        { name: 'w/b', publicKey: pk, notBefore: T0 - DAY },
      ],
      thresholds: { witnesses: 1, operators: 1, checkpoint: 2 },
    });
    const note = signCheckpoint(body, [
      { name: 'w/a', secretKey: W1, publicKey: pk },
      { name: 'w/b', secretKey: W1, publicKey: pk },
    ]);
    expect(() => createTrustStore({ config: twoNames, store: createMemoryStore() })).toThrow(RangeError);
    expect(() => verifyLogCheckpoint(note, twoNames, T0)).toThrow(RangeError);
    expectCode(
      () => verifyCheckpoint(parseCheckpoint(note), [{ name: 'w/a', publicKey: pk }, { name: 'w/b', publicKey: pk }], 2),
      'TRUST_THRESHOLD',
    );
  });

  it('the same key and name listed twice is refused, and counted once by verifyCheckpoint', () => {
    const twice = config({
      witnessKeys: [
        { name: W1_NAME, publicKey: pk, notBefore: T0 - DAY },
        { name: W1_NAME, publicKey: pk, notBefore: T0 - DAY },
      ],
      thresholds: { witnesses: 2, operators: 1, checkpoint: 2 },
    });
    const note = signCheckpoint(body, [{ name: W1_NAME, secretKey: W1, publicKey: pk }]);
    expect(() => createTrustStore({ config: twice, store: createMemoryStore() })).toThrow(RangeError);
    expectCode(() => verifyCheckpoint(parseCheckpoint(note), [{ name: W1_NAME, publicKey: pk }, { name: W1_NAME, publicKey: pk }], 2), 'TRUST_THRESHOLD');
  });

  it('a duplicated operator key is refused too', () => {
    const op = config().operatorKeys[0]!;
    expect(() => createTrustStore({ config: config({ operatorKeys: [op, op], thresholds: { witnesses: 1, operators: 2 } }), store: createMemoryStore() })).toThrow(
      RangeError,
    );
  });

  it('two distinct keys still meet a threshold of two', () => {
    const pk2 = ed25519PublicKey(W2);
    const note = signCheckpoint(body, [
      { name: W1_NAME, secretKey: W1, publicKey: pk },
      { name: 'w/2', secretKey: W2, publicKey: pk2 },
    ]);
    expect(verifyCheckpoint(parseCheckpoint(note), [{ name: W1_NAME, publicKey: pk }, { name: 'w/2', publicKey: pk2 }], 2)).toHaveLength(2);
  });
});

/** The record checksum, recomputed as anyone can (docs/TRUST.md §Persisted state). */
function checksum(r: { epoch: number; appliedAt: number; bundle: Uint8Array; checkpoint: Uint8Array; checkpointAt: number }): Uint8Array {
  const u64 = (n: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n));
    return b;
  };
  const u32 = (n: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    return b;
  };
  const ns = utf8('chat.example');
  return sha256(
    concatBytes(utf8(LABELS.trustState), Uint8Array.of(0, 1, ns.length), ns, u64(r.epoch), u64(r.appliedAt), u32(r.bundle.length), r.bundle,
      u32(r.checkpoint.length), r.checkpoint, u64(r.checkpointAt)),
  );
}

describe('issue 13 / 6c: a persisted record is verified against the current clock', () => {
  const PIN = { fleetId: 'pinned-1', suite: SUITE, publicKey: fleetKey('pinned-1') };
  const at = (sec: number) => (store: KeyValueStore) => createTrustStore({ config: config({ pins: [PIN] }), store, now: () => sec * 1000 });

  it('restoring an older genuine record after its bundle expired brings back none of its fleets', async () => {
    const w = witnessLog();
    const store = createMemoryStore();
    const b1 = w.publish(bundle(1, [fleet('eu-1')], { notAfter: T0 + 10 * DAY }));
    const b2 = w.publish(bundle(2, [fleet('eu-2')], { retired: ['eu-1', 'pinned-1'], notAfter: T0 + 60 * DAY }));
    await at(T0)(store).applyBundle(b1);
    const old = await store.get<StoredValue>(KEY);
    await at(T0 + DAY)(store).applyBundle(b2, { consistencyProof: w.log.consistencyProof(1, 2) });
    // The attacker (or a backup restore) puts the older record back, 20 days later.
    await store.set(KEY, old!);
    const later = at(T0 + 20 * DAY)(store);
    const fleets = ids(await later.trustedFleets());
    expect(fleets).not.toContain('eu-1');
    const s = await later.state();
    expect(s.bundleExpired).toBe(true);
    expect(s.epoch).toBe(1);
    expect(s.discardedCorruptState).toBe(false);
  });

  it('a record forged from a public bundle with a chosen appliedAt is judged at the current clock', async () => {
    const w = witnessLog();
    const b1 = w.publish(bundle(1, [fleet('eu-1')], { notAfter: T0 + 10 * DAY }));
    const cp = w.log.signedBundle(1)!;
    const { decodeSignedBundle } = await import('../../lib/trust/bundle.js');
    const note = decodeSignedBundle(cp).checkpoint;
    const store = createMemoryStore();
    const body = { v: 1, namespace: 'chat.example', epoch: 1, appliedAt: T0, bundle: b1, checkpoint: note, checkpointAt: T0 };
    await store.set(KEY, { ...body, checksum: checksum(body) });
    const t = at(T0 + 20 * DAY)(store);
    expect(ids(await t.trustedFleets())).toEqual(['pinned-1']);
    expect((await t.state()).bundleExpired).toBe(true);
    // While the bundle is still inside its window the record is as good as the bundle itself.
    expect(ids(await at(T0 + DAY)(store).trustedFleets())).toEqual(['eu-1', 'pinned-1']);
  });

  it('an expired bundle still holds the high-water mark and its retirements; a newer bundle replaces it', async () => {
    const w = witnessLog({ nowMs: () => NOW_MS });
    const store = createMemoryStore();
    const b2 = w.publish(bundle(2, [fleet('eu-2')], { retired: ['pinned-1'], notAfter: T0 + 10 * DAY }));
    await at(T0)(store).applyBundle(b2);
    const later = at(T0 + 20 * DAY)(store);
    expect(ids(await later.trustedFleets())).toEqual([]);
    expect((await later.state()).epoch).toBe(2);
    const b3 = w.publish(bundle(3, [fleet('eu-3')], { notBefore: T0, notAfter: T0 + 60 * DAY }));
    await later.applyBundle(b3, { consistencyProof: w.log.consistencyProof(1, 2) });
    expect(ids(await later.trustedFleets())).toEqual(['eu-3', 'pinned-1']);
    expect((await later.state()).bundleExpired).toBe(false);
  });

  it('a record whose witness root has since expired is discarded (pins only)', async () => {
    const w = witnessLog();
    const store = createMemoryStore();
    await at(T0)(store).applyBundle(w.publish(bundle(1, [fleet('eu-1')])));
    const base = config({ pins: [PIN] });
    const rotated = { ...base, witnessKeys: base.witnessKeys.map((k) => ({ ...k, notAfter: T0 + DAY })) };
    const t = createTrustStore({ config: rotated, store, now: () => (T0 + 2 * DAY) * 1000 });
    expect(ids(await t.trustedFleets())).toEqual(['pinned-1']);
    expect((await t.state()).discardedCorruptState).toBe(true);
    // The discarded record does not block the next bundle (signed by a root that is current).
    const w2 = witnessLog({ secret: W2, name: W2_NAME, nowMs: () => (T0 + 2 * DAY) * 1000 });
    const onlyW2 = { ...rotated, witnessKeys: [rotated.witnessKeys[0]!, { ...base.witnessKeys[1]! }] };
    const t2 = createTrustStore({ config: onlyW2, store, now: () => (T0 + 2 * DAY) * 1000 });
    await t2.applyBundle(w2.publish(bundle(2, [fleet('eu-2')])));
    expect(ids(await t2.trustedFleets())).toEqual(['eu-2', 'pinned-1']);
  });
});

describe('issue 13 / 6d: a split view leaves evidence', () => {
  it('keeps both checkpoints and the proof, emits split-view, exposes a getter, and persists it', async () => {
    const honest = witnessLog();
    const fork = witnessLog();
    const store = createMemoryStore();
    const trust = createTrustStore({ config: config(), store, now: () => NOW_MS });
    const seenBundle = honest.publish(bundle(1, [fleet('eu-1')]));
    await trust.applyBundle(seenBundle);
    fork.publish(bundle(1, [fleet('evil-1')]));
    const forked2 = fork.publish(bundle(2, [fleet('evil-2')]));
    const proof = fork.log.consistencyProof(1, 2);
    const events: SplitViewEvidence[] = [];
    trust.on('split-view', (e) => events.push(e));
    expect(await trust.splitViewEvidence()).toEqual([]);
    await expect(trust.applyBundle(forked2, { consistencyProof: proof })).rejects.toMatchObject({ code: 'TRUST_SPLIT_VIEW' });

    expect(events).toHaveLength(1);
    const ev = events[0]!;
    const { decodeSignedBundle } = await import('../../lib/trust/bundle.js');
    expect(ev.seen.checkpoint).toEqual(decodeSignedBundle(seenBundle).checkpoint);
    expect(ev.presented.checkpoint).toEqual(decodeSignedBundle(forked2).checkpoint);
    expect(ev.presented.signedBundle).toEqual(forked2);
    expect(ev.consistencyProof).toEqual(proof);
    expect(ev.detectedAt).toBe(T0);
    // The evidence stands on its own: both notes verify under the roots, and the proof does not
    // connect them.
    const a = verifyLogCheckpoint(ev.seen.checkpoint, config(), T0);
    const b = verifyLogCheckpoint(ev.presented.checkpoint, config(), T0);
    expect(verifyConsistency(a.size, b.size, ev.consistencyProof!, a.root, b.root)).toBe(false);

    expect(await trust.splitViewEvidence()).toEqual(events);
    // A new instance (app restart) still has it.
    const again = createTrustStore({ config: config(), store, now: () => NOW_MS });
    expect(await again.splitViewEvidence()).toEqual(events);
    // Trust did not move.
    expect((await again.state()).epoch).toBe(1);
  });

  it('same size, different root: both notes are kept (no proof needed)', async () => {
    const honest = witnessLog();
    const fork = witnessLog();
    const trust = createTrustStore({ config: config(), store: createMemoryStore(), now: () => NOW_MS });
    await trust.applyBundle(honest.publish(bundle(1, [fleet('eu-1')])));
    honest.publish(bundle(2, [fleet('eu-2')]));
    fork.publish(bundle(1, [fleet('evil-1')]));
    const forked2 = fork.publish(bundle(2, [fleet('evil-2')]));
    // Move the honest device to size 2 first.
    await trust.applyBundle(honest.log.signedBundle(2)!, { consistencyProof: honest.log.consistencyProof(1, 2) });
    const events: SplitViewEvidence[] = [];
    trust.on('split-view', (e) => events.push(e));
    const forked3 = fork.publish(bundle(3, [fleet('evil-3')]));
    void forked2;
    await expect(trust.applyBundle(forked3, { consistencyProof: fork.log.consistencyProof(2, 3) })).rejects.toMatchObject({ code: 'TRUST_SPLIT_VIEW' });
    expect(events).toHaveLength(1);
    expect(parseCheckpoint(events[0]!.seen.checkpoint).size).toBe(2);
    expect(parseCheckpoint(events[0]!.presented.checkpoint).size).toBe(3);
  });

  it('a split view through resolveUnknown leaves evidence too, and a listener that throws changes nothing', async () => {
    const honest = witnessLog();
    const fork = witnessLog();
    fork.publish(bundle(1, [fleet('evil-1')]));
    const forked2 = fork.publish(bundle(2, [fleet('evil-2')]));
    const trust = createTrustStore({
      config: config(),
      store: createMemoryStore(),
      now: () => NOW_MS,
      fetchBundle: async () => forked2,
      fetchConsistencyProof: async (a, b) => fork.log.consistencyProof(a, b),
    });
    await trust.applyBundle(honest.publish(bundle(1, [fleet('eu-1')])));
    trust.on('split-view', () => {
      throw new Error('listener bug');
    });
    await expect(trust.resolveUnknown('evil-2', fleetKey('evil-2'))).rejects.toMatchObject({ code: 'TRUST_SPLIT_VIEW' });
    expect(await trust.splitViewEvidence()).toHaveLength(1);
  });
});
