import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { LABELS } from '../../lib/labels.js';
import {
  bundleDigest,
  decodeBundle,
  decodeSignedBundle,
  encodeBundle,
  encodeSignedBundle,
  MAX_FLEETS,
  operatorSign,
  verifySignedBundle,
  witnessSign,
  type Bundle,
  type SignedBundle,
  type TrustRoots,
} from '../../lib/trust/bundle.js';
import { parseCheckpoint, signCheckpoint, verifyCheckpoint, noteKeyId } from '../../lib/trust/checkpoint.js';
import { ed25519PublicKey, verifyEd25519 } from '../../lib/trust/ed25519.js';
import { isBackupError } from '../../lib/errors.js';
import { concatBytes, fromHex, toHex, utf8 } from '../../lib/util/bytes.js';
import { bundle, config, fleet, NOW_MS, NS, OP1, OP2, ORIGIN, T0, W1, W1_NAME, W2, witnessLog } from './fixtures.js';
import libsodium from 'libsodium-wrappers';
import { expectCode } from '../support/errors.js';
import { sharedVector } from '../support/shared-vectors.js';

const edit = (bytes: Uint8Array, f: (sb: SignedBundle) => SignedBundle) => encodeSignedBundle(f(decodeSignedBundle(bytes)));
const flipByte = (b: Uint8Array, i = 0) => Uint8Array.from(b, (x, j) => (j === i ? x ^ 1 : x));

describe('Ed25519 (Wycheproof ed25519_test.json through verifyEd25519)', () => {
  const file = JSON.parse(readFileSync(sharedVector('wycheproof', 'ed25519_test.json'), 'utf8')) as {
    testGroups: { publicKey: { pk: string }; tests: { tcId: number; msg: string; sig: string; result: string }[] }[];
  };
  it('accepts every valid case and rejects every invalid one', () => {
    let valid = 0;
    let invalid = 0;
    for (const g of file.testGroups) {
      const pk = fromHex(g.publicKey.pk);
      for (const t of g.tests) {
        const ok = verifyEd25519(fromHex(t.sig), fromHex(t.msg), pk);
        if (t.result === 'valid') {
          expect(ok, `tcId ${t.tcId}`).toBe(true);
          valid++;
        } else if (t.result === 'invalid') {
          expect(ok, `tcId ${t.tcId}`).toBe(false);
          invalid++;
        }
      }
    }
    expect(valid).toBeGreaterThan(0);
    expect(invalid).toBeGreaterThan(0);
  });
  it('agrees with libsodium on our own signatures', async () => {
    await libsodium.ready;
    const msg = utf8('bundle statement');
    const kp = libsodium.crypto_sign_seed_keypair(W1);
    expect(toHex(kp.publicKey)).toBe(toHex(ed25519PublicKey(W1)));
    const sig = libsodium.crypto_sign_detached(msg, kp.privateKey);
    expect(verifyEd25519(sig, msg, kp.publicKey)).toBe(true);
  });
});

describe('canonical bundle encoding', () => {
  const arbId = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
  const arbFleet = fc.record({
    fleetId: arbId,
    suite: fc.stringMatching(/^[\x21-\x7e]{1,20}$/),
    publicKey: fc.uint8Array({ minLength: 1, maxLength: 80 }),
    roles: fc.constantFrom<('enroll' | 'recover')[]>(['enroll'], ['recover'], ['enroll', 'recover']),
    notBefore: fc.integer({ min: 0, max: 2 ** 40 }),
    span: fc.integer({ min: 1, max: 2 ** 30 }),
  });
  const arbBundle = fc
    .record({
      namespace: fc.stringMatching(/^[a-z0-9._:/-]{1,20}$/),
      epoch: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      notBefore: fc.integer({ min: 0, max: 2 ** 40 }),
      span: fc.integer({ min: 1, max: 2 ** 30 }),
      fleets: fc.uniqueArray(arbFleet, { maxLength: 6, selector: (f) => f.fleetId }),
      retired: fc.uniqueArray(arbId, { maxLength: 6 }),
    })
    .map(
      (r): Bundle => ({
        namespace: r.namespace,
        epoch: r.epoch,
        notBefore: r.notBefore,
        notAfter: r.notBefore + r.span,
        fleets: r.fleets.map(({ span, ...f }) => ({ ...f, notAfter: f.notBefore + span })),
        retired: r.retired.filter((id) => !r.fleets.some((f) => f.fleetId === id)),
      }),
    );

  it('round-trips, and re-encoding the decoded bytes gives the same bytes', () => {
    fc.assert(
      fc.property(arbBundle, (b) => {
        const bytes = encodeBundle(b);
        const d = decodeBundle(bytes);
        expect(toHex(encodeBundle(d))).toBe(toHex(bytes));
        expect(d.epoch).toBe(b.epoch);
        expect(d.fleets.length).toBe(b.fleets.length);
        // Order of input does not matter: canonical.
        expect(toHex(encodeBundle({ ...b, fleets: [...b.fleets].reverse(), retired: [...b.retired].reverse() }))).toBe(toHex(bytes));
      }),
      { numRuns: 200 },
    );
  });

  it('never crashes on mutated or random bytes: decodes or throws TRUST_MALFORMED', () => {
    const check = (bytes: Uint8Array, f: (b: Uint8Array) => unknown) => {
      try {
        f(bytes);
      } catch (e) {
        expect(isBackupError(e, 'TRUST_MALFORMED'), String(e)).toBe(true);
      }
    };
    const valid = encodeBundle(bundle(3, [fleet('eu-1'), fleet('us-1')], { retired: ['old'] }));
    const signed = witnessLog().publish(bundle(3, [fleet('eu-1')]));
    const note = decodeSignedBundle(signed).checkpoint;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.nat(255), fc.nat(40), (junk, pos, val, cut) => {
        check(junk, decodeBundle);
        check(junk, decodeSignedBundle);
        check(junk, parseCheckpoint);
        for (const [src, f] of [
          [valid, decodeBundle],
          [signed, decodeSignedBundle],
          [note, parseCheckpoint],
        ] as const) {
          const m = Uint8Array.from(src);
          m[pos % m.length] = val;
          check(m, f);
          check(src.subarray(0, Math.max(0, src.length - 1 - cut)), f);
          check(concatBytes(src, Uint8Array.of(val)), f);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses non-canonical input: unsorted fleets, duplicates, trailing bytes, over-cap counts', () => {
    const a = encodeBundle(bundle(1, [fleet('a')]));
    const b = encodeBundle(bundle(1, [fleet('b')]));
    const entryA = decodeBundle(a).fleets[0]!;
    const twoSorted = encodeBundle(bundle(1, [fleet('a'), fleet('b')]));
    // Swap the two entries in place (same lengths) to get the unsorted twin.
    const fixed = 5 + 1 + NS.length + 24 + 1; // magic, version, ns, epoch/nb/na, count
    const entryLen = (twoSorted.length - fixed - 1) / 2;
    const swapped = concatBytes(
      twoSorted.subarray(0, fixed),
      twoSorted.subarray(fixed + entryLen, fixed + 2 * entryLen),
      twoSorted.subarray(fixed, fixed + entryLen),
      twoSorted.subarray(fixed + 2 * entryLen),
    );
    expect(() => decodeBundle(swapped)).toThrow(/not strictly sorted/);
    expect(entryA.fleetId).toBe('a');
    expect(b.length).toBe(a.length);
    expectCode(() => decodeBundle(concatBytes(a, Uint8Array.of(0))), 'TRUST_MALFORMED');
    const overCount = Uint8Array.from(a);
    overCount[fixed - 1] = MAX_FLEETS + 1;
    expectCode(() => decodeBundle(overCount), 'TRUST_MALFORMED');
    expect(() => encodeBundle(bundle(1, [fleet('a'), fleet('a')]))).toThrow(RangeError);
    expect(() => encodeBundle(bundle(1, [fleet('a')], { retired: ['a'] }))).toThrow(RangeError);
    expect(() => encodeBundle(bundle(0, []))).toThrow(RangeError);
    expect(() => encodeBundle({ ...bundle(1, []), namespace: 'Upper Case' })).toThrow(RangeError);
  });

  it('digest is domain-separated SHA-256', () => {
    const bytes = encodeBundle(bundle(1, []));
    const expected = createHash('sha256').update(utf8(LABELS.bundleDigest)).update(Uint8Array.of(0)).update(bytes).digest('hex');
    expect(toHex(bundleDigest(bytes))).toBe(expected);
    expect(toHex(bundleDigest(bytes))).not.toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});

describe('checkpoint notes (C2SP signed-note)', () => {
  const pk = ed25519PublicKey(W1);
  it('has the C2SP shape and verifies', () => {
    const note = signCheckpoint({ origin: ORIGIN, size: 5, root: new Uint8Array(32).fill(7) }, [
      { name: W1_NAME, secretKey: W1, publicKey: pk },
    ]);
    const text = new TextDecoder().decode(note);
    expect(text).toMatch(/^witness\.example\/chat-fleet-log\n5\n[A-Za-z0-9+/]{43}=\n\n\u2014 witness\.example\/w1 [A-Za-z0-9+/]+=*\n$/);
    const cp = parseCheckpoint(note);
    expect(cp.size).toBe(5);
    expect(cp.signatures[0]!.keyId).toEqual(noteKeyId(W1_NAME, pk));
    expect(verifyCheckpoint(cp, [{ name: W1_NAME, publicKey: pk }], 1)).toHaveLength(1);
  });
  it('ignores unknown keys, rejects a bad signature from a known key, and counts thresholds', () => {
    const body = { origin: ORIGIN, size: 1, root: new Uint8Array(32) };
    const pk2 = ed25519PublicKey(W2);
    const note = signCheckpoint(body, [
      { name: 'someone.else/key', secretKey: OP1, publicKey: ed25519PublicKey(OP1) },
      { name: W1_NAME, secretKey: W1, publicKey: pk },
    ]);
    const keys = [{ name: W1_NAME, publicKey: pk }, { name: 'w2', publicKey: pk2 }];
    expect(verifyCheckpoint(parseCheckpoint(note), keys, 1)).toHaveLength(1);
    expectCode(() => verifyCheckpoint(parseCheckpoint(note), keys, 2), 'TRUST_THRESHOLD');
    expectCode(() => verifyCheckpoint(parseCheckpoint(note), [{ name: 'w2', publicKey: pk2 }], 1), 'TRUST_BAD_SIGNATURE');
    // Same name and key ID, different text: a forged line from a known key rejects the note.
    const other = signCheckpoint({ ...body, size: 2 }, [{ name: W1_NAME, secretKey: W1, publicKey: pk }]);
    const sigLine = new TextDecoder().decode(other).split('\n\n')[1]!;
    const forged = utf8(new TextDecoder().decode(note).split('\n\n')[0]! + '\n\n' + sigLine);
    expectCode(() => verifyCheckpoint(parseCheckpoint(forged), keys, 1), 'TRUST_BAD_SIGNATURE');
  });
  it('refuses malformed notes', () => {
    const ok = new TextDecoder().decode(
      signCheckpoint({ origin: ORIGIN, size: 1, root: new Uint8Array(32) }, [{ name: W1_NAME, secretKey: W1, publicKey: pk }]),
    );
    for (const bad of [
      ok.replace('\n1\n', '\n01\n'),
      ok.replace('\n1\n', '\n-1\n'),
      ok.replace('\n1\n', '\n99999999999999999\n'),
      ok.replace('\n\n', '\n'),
      ok.slice(0, -1),
      ok.replace('\u2014', '-'),
      ok.replace(ORIGIN, 'has space'),
      ok.replace('AAAA=', 'AAA='),
      ok + '\u2014 x AAAA\n',
      ok.replace(ORIGIN, ORIGIN + '\t'),
    ]) {
      expectCode(() => parseCheckpoint(utf8(bad)), 'TRUST_MALFORMED');
    }
  });
});

describe('verifySignedBundle: every refusal has its own code', () => {
  const roots = config();
  const { publish } = witnessLog();
  const good = publish(bundle(1, [fleet('eu-1')]));

  it('accepts a well-signed, logged bundle', () => {
    const v = verifySignedBundle(good, roots, NOW_MS);
    expect(v.bundle.epoch).toBe(1);
    expect(v.checkpoint.origin).toBe(ORIGIN);
  });

  it('TRUST_MALFORMED', () => {
    expectCode(() => verifySignedBundle(good.subarray(0, good.length - 1), roots, NOW_MS), 'TRUST_MALFORMED');
  });

  it('TRUST_WRONG_NAMESPACE: bundle for another app (same log, valid signatures)', () => {
    const other = witnessLog({ namespace: 'other.example' }).publish(bundle(1, [fleet('eu-1')], { namespace: 'other.example' }));
    expectCode(() => verifySignedBundle(other, roots, NOW_MS), 'TRUST_WRONG_NAMESPACE');
  });

  it('TRUST_WRONG_NAMESPACE: checkpoint from another log', () => {
    expectCode(() => verifySignedBundle(good, { ...roots, logOrigin: 'witness.example/another-log' }, NOW_MS), 'TRUST_WRONG_NAMESPACE');
  });

  it('TRUST_BAD_SIGNATURE: witness signature altered, missing, or from an expired root', () => {
    expectCode(() => verifySignedBundle(edit(good, (sb) => ({
      ...sb,
      witnessSignatures: sb.witnessSignatures.map((w) => ({ ...w, signature: flipByte(w.signature, 10) })),
    })), roots, NOW_MS), 'TRUST_BAD_SIGNATURE');
    expectCode(() => verifySignedBundle(edit(good, (sb) => ({ ...sb, witnessSignatures: [] })), roots, NOW_MS), 'TRUST_BAD_SIGNATURE');
    // A signature over another timestamp than the one carried.
    expectCode(() => verifySignedBundle(edit(good, (sb) => ({
      ...sb,
      witnessSignatures: sb.witnessSignatures.map((w) => ({ ...w, timestamp: w.timestamp - 1 })),
    })), roots, NOW_MS), 'TRUST_BAD_SIGNATURE');
    const expired = config({
      witnessKeys: roots.witnessKeys.map((k) => ({ ...k, notAfter: T0 - 10 })),
    });
    expectCode(() => verifySignedBundle(good, expired, NOW_MS), 'TRUST_BAD_SIGNATURE');
    // A root that was current when it signed but has expired since no longer counts.
    const since = config({ witnessKeys: roots.witnessKeys.map((k) => ({ ...k, notAfter: T0 + 100 })) });
    expect(verifySignedBundle(good, since, NOW_MS).bundle.epoch).toBe(1);
    expectCode(() => verifySignedBundle(good, since, NOW_MS + 200_000), 'TRUST_BAD_SIGNATURE');
  });

  it('TRUST_BAD_SIGNATURE: the only operator root has expired', () => {
    const opExpired = config({ operatorKeys: roots.operatorKeys.map((k) => ({ ...k, notAfter: T0 - 10 })) });
    expectCode(() => verifySignedBundle(good, opExpired, NOW_MS), 'TRUST_BAD_SIGNATURE');
  });

  it('TRUST_BAD_SIGNATURE: operator counter-signature altered, missing, or over other witness signatures', () => {
    expectCode(() => verifySignedBundle(edit(good, (sb) => ({
      ...sb,
      operatorSignatures: sb.operatorSignatures.map((o) => ({ ...o, signature: flipByte(o.signature, 3) })),
    })), roots, NOW_MS), 'TRUST_BAD_SIGNATURE');
    expectCode(() => verifySignedBundle(edit(good, (sb) => ({ ...sb, operatorSignatures: [] })), roots, NOW_MS), 'TRUST_BAD_SIGNATURE');
    // Add a second (valid) witness signature the operator never saw: the counter-signature covers
    // exactly the witness signatures it was given.
    expectCode(() => verifySignedBundle(edit(good, (sb) => ({
      ...sb,
      witnessSignatures: [...sb.witnessSignatures, witnessSign(sb.bundle, W2, T0)],
    })), roots, NOW_MS), 'TRUST_BAD_SIGNATURE');
  });

  it('TRUST_THRESHOLD: 2-of-2 witnesses or operators required, one present', () => {
    expectCode(() => verifySignedBundle(good, config({ thresholds: { witnesses: 2, operators: 1 } }), NOW_MS), 'TRUST_THRESHOLD');
    expectCode(() => verifySignedBundle(good, config({ thresholds: { witnesses: 1, operators: 2 } }), NOW_MS), 'TRUST_THRESHOLD');
    // And 2-of-2 operators met when both counter-sign.
    const two = witnessLog().publish(bundle(1, [fleet('eu-1')]), [OP1, OP2]);
    expect(verifySignedBundle(two, config({ thresholds: { witnesses: 1, operators: 2 } }), NOW_MS).bundle.epoch).toBe(1);
    // Counting is by distinct key: the same signature twice is refused at decoding.
    expect(() => edit(two, (sb) => ({ ...sb, operatorSignatures: [sb.operatorSignatures[0]!, sb.operatorSignatures[0]!] }))).toThrow(RangeError);
  });

  it('TRUST_THRESHOLD: 2-of-2 checkpoint signers, one present', () => {
    expectCode(() => verifySignedBundle(good, config({ thresholds: { witnesses: 1, operators: 1, checkpoint: 2 } }), NOW_MS), 'TRUST_THRESHOLD');
  });

  it('TRUST_NOT_YET_VALID: the bundle, a witness timestamp, or the roots are from the future', () => {
    const future = witnessLog().publish(bundle(1, [fleet('eu-1')], { notBefore: T0 + 3600, notAfter: T0 + 7200 }));
    expectCode(() => verifySignedBundle(future, roots, NOW_MS), 'TRUST_NOT_YET_VALID');
    const later = witnessLog({ nowMs: () => NOW_MS + 3_600_000 }).publish(bundle(1, [fleet('eu-1')]));
    expectCode(() => verifySignedBundle(later, roots, NOW_MS), 'TRUST_NOT_YET_VALID');
    const notYet = config({ witnessKeys: roots.witnessKeys.map((k) => ({ ...k, notBefore: T0 + 86_400 })) });
    expectCode(() => verifySignedBundle(good, notYet, NOW_MS), 'TRUST_NOT_YET_VALID');
  });

  it('TRUST_EXPIRED: the bundle window has passed', () => {
    expectCode(() => verifySignedBundle(good, roots, (T0 + 31 * 86_400) * 1000), 'TRUST_EXPIRED');
  });

  it('TRUST_BAD_INCLUSION_PROOF: altered proof, wrong index, or a checkpoint of another tree', () => {
    const { publish: pub2, log } = witnessLog();
    pub2(bundle(1, [fleet('eu-1')]));
    pub2(bundle(2, [fleet('eu-2')]));
    const third = pub2(bundle(3, [fleet('eu-3')]));
    expect(verifySignedBundle(third, roots, NOW_MS).bundle.epoch).toBe(3);
    expectCode(() => verifySignedBundle(edit(third, (sb) => ({ ...sb, inclusionProof: sb.inclusionProof.map((h, i) => (i === 0 ? flipByte(h) : h)) })), roots, NOW_MS), 'TRUST_BAD_INCLUSION_PROOF');
    expectCode(() => verifySignedBundle(edit(third, (sb) => ({ ...sb, leafIndex: 1 })), roots, NOW_MS), 'TRUST_BAD_INCLUSION_PROOF');
    expectCode(() => verifySignedBundle(edit(third, (sb) => ({ ...sb, checkpoint: log.checkpoint(2) })), roots, NOW_MS), 'TRUST_BAD_INCLUSION_PROOF');
    expectCode(() => verifySignedBundle(edit(third, (sb) => ({ ...sb, inclusionProof: [] })), roots, NOW_MS), 'TRUST_BAD_INCLUSION_PROOF');
  });

  it('TRUST_BAD_SIGNATURE: checkpoint signed by a key the config does not trust', () => {
    const rogue = witnessLog({ secret: OP2 }).publish(bundle(1, [fleet('eu-1')]));
    // The rogue witness's bundle signature is from an unknown key too; make it otherwise valid by
    // swapping in the good bundle's signatures and keeping the rogue checkpoint.
    const mixed = edit(good, (sb) => ({ ...sb, checkpoint: decodeSignedBundle(rogue).checkpoint }));
    expectCode(() => verifySignedBundle(mixed, roots, NOW_MS), 'TRUST_BAD_SIGNATURE');
  });

  it('refuses a bad config with TypeError/RangeError naming the field', () => {
    expect(() => verifySignedBundle(good, { ...roots, thresholds: { witnesses: 3, operators: 1 } } as TrustRoots, NOW_MS)).toThrow(/thresholds\.witnesses/);
    expect(() => verifySignedBundle(good, { ...roots, witnessKeys: [{ ...roots.witnessKeys[0]!, publicKey: new Uint8Array(31) }] }, NOW_MS)).toThrow(RangeError);
  });

  it('operatorSign output verifies under verifyEd25519 (sanity of the tool path)', () => {
    const bytes = encodeBundle(bundle(9, []));
    const ws = witnessSign(bytes, W1, T0);
    const os = operatorSign(bytes, [ws], OP1);
    expect(os.publicKey).toEqual(ed25519PublicKey(OP1));
  });
});
