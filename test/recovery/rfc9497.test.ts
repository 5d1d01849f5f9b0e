// Our RFC 9497 base-mode OPRF (lib/recovery/opaque/rfc9497.ts), the OPRF inside every RFC 9807
// suite: RFC 9497 Appendix A's OPRF-mode vectors for ristretto255-SHA512 and P256-SHA256
// (test/vectors/rfc9497-oprf.json, source and license named there), fast-check properties against
// @noble/curves' own RFC 9497 implementation (createOPRF: an independent implementation, used in
// tests only), and the inputs it must refuse.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ristretto255_oprf } from '@noble/curves/ed25519.js';
import { p256_oprf } from '@noble/curves/nist.js';
import vectors from '../vectors/rfc9497-oprf.json' with { type: 'json' };
import { ristretto255Group } from '../../lib/recovery/opaque/rfc9807-groups.js';
import { p256Group } from '../../lib/recovery/opaque/rfc9807-p256.js';
import { fromHex, toHex } from '../../lib/util/bytes.js';

/** What the tests call of noble's base mode. */
interface NobleOprf {
  deriveKeyPair(seed: Uint8Array, info: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array };
  blind(input: Uint8Array, rng: (n?: number) => Uint8Array): { blind: Uint8Array; blinded: Uint8Array };
  blindEvaluate(secretKey: Uint8Array, blinded: Uint8Array): Uint8Array;
  finalize(input: Uint8Array, blind: Uint8Array, evaluated: Uint8Array): Uint8Array;
  evaluate(secretKey: Uint8Array, input: Uint8Array): Uint8Array;
}
const GROUPS: Record<'ristretto255-SHA512' | 'P256-SHA256', { group: typeof ristretto255Group; noble: NobleOprf }> = {
  'ristretto255-SHA512': { group: ristretto255Group, noble: ristretto255_oprf.oprf as unknown as NobleOprf },
  'P256-SHA256': { group: p256Group, noble: p256_oprf.oprf as unknown as NobleOprf },
};
type Name = keyof typeof GROUPS;

/** A RandomSource that hands out `chunks` in order (each call must ask for that chunk's length). */
function scripted(...chunks: Uint8Array[]) {
  const calls: number[] = [];
  const random = (n: number): Uint8Array => {
    calls.push(n);
    const c = chunks.shift();
    if (c === undefined || c.length !== n) throw new Error(`unexpected random(${n})`);
    return Uint8Array.from(c);
  };
  return { random, calls };
}

describe('RFC 9497 Appendix A, OPRF mode', () => {
  it('covers both suites, two vectors each', () => {
    expect(vectors.suites.map((s) => `${s.suite}: ${s.vectors.length}`)).toEqual(['ristretto255-SHA512: 2', 'P256-SHA256: 2']);
  });

  for (const s of vectors.suites) {
    const g = GROUPS[s.suite as Name].group;
    it(`${s.suite}: DeriveKeyPair(Seed, KeyInfo) gives skSm`, () => {
      const kp = g().deriveKeyPair(fromHex(s.Seed), fromHex(s.KeyInfo));
      expect(toHex(kp.secretKey)).toBe(s.skSm);
      expect(toHex(kp.publicKey)).toBe(toHex(g().publicKey(fromHex(s.skSm))));
    });
    for (const v of s.vectors) {
      it(`${s.suite} ${v.name}: Blind, BlindEvaluate, Finalize`, () => {
        const input = fromHex(v.Input);
        expect(toHex(g().blindWith(input, fromHex(v.Blind)))).toBe(v.BlindedElement);
        // The same scalar drawn through the RandomSource: 48 bytes, big-endian, reduced mod n
        // (ristretto255 serializes scalars little-endian, P-256 big-endian).
        const be = s.suite === 'ristretto255-SHA512' ? fromHex(v.Blind).reverse() : fromHex(v.Blind);
        const b = g().blind(input, scripted(Uint8Array.of(...new Uint8Array(16), ...be)).random);
        expect(toHex(b.blind)).toBe(v.Blind);
        expect(toHex(b.blinded)).toBe(v.BlindedElement);
        expect(toHex(g().blindEvaluate(fromHex(s.skSm), fromHex(v.BlindedElement)))).toBe(v.EvaluationElement);
        expect(toHex(g().finalize(input, fromHex(v.Blind), fromHex(v.EvaluationElement)))).toBe(v.Output);
      });
    }
  }
});

describe('against @noble/curves createOPRF (independent implementation)', () => {
  for (const name of Object.keys(GROUPS) as Name[]) {
    const { group, noble } = GROUPS[name];
    it(`${name}: DeriveKeyPair, Blind, BlindEvaluate and Finalize agree on random inputs`, () => {
      const g = group();
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          fc.uint8Array({ maxLength: 64 }),
          fc.uint8Array({ maxLength: 300 }),
          fc.uint8Array({ minLength: 48, maxLength: 48 }),
          fc.uint8Array({ minLength: 48, maxLength: 48 }),
          (seed, info, input, r1, r2) => {
            const ours = g.deriveKeyPair(seed, info);
            const theirs = noble.deriveKeyPair(seed, info);
            expect(toHex(ours.secretKey)).toBe(toHex(theirs.secretKey));
            expect(toHex(ours.publicKey)).toBe(toHex(theirs.publicKey));
            // Their blind through our code.
            const nb = noble.blind(input, () => Uint8Array.from(r1));
            expect(toHex(g.blindWith(input, nb.blind))).toBe(toHex(nb.blinded));
            const nEval = noble.blindEvaluate(ours.secretKey, nb.blinded);
            expect(toHex(g.blindEvaluate(ours.secretKey, nb.blinded))).toBe(toHex(nEval));
            expect(toHex(g.finalize(input, nb.blind, nEval))).toBe(toHex(noble.finalize(input, nb.blind, nEval)));
            // Our blind through their server and finalize; both equal the PRF evaluated directly.
            const ob = g.blind(input, () => Uint8Array.from(r2));
            const oEval = noble.blindEvaluate(ours.secretKey, ob.blinded);
            const prf = toHex(noble.evaluate(ours.secretKey, input));
            expect(toHex(g.finalize(input, ob.blind, oEval))).toBe(prf);
            expect(toHex(noble.finalize(input, ob.blind, oEval))).toBe(prf);
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});

describe('what it refuses', () => {
  for (const name of Object.keys(GROUPS) as Name[]) {
    const { group } = GROUPS[name];
    it(`${name}: the identity, non-canonical and wrong-length elements; zero, out-of-range and wrong-length scalars`, () => {
      const g = group();
      const sk = g.deriveKeyPair(new Uint8Array(32).fill(7), new Uint8Array(0)).secretKey;
      const blinded = g.blindWith(new Uint8Array([1]), sk);
      const identity = name === 'ristretto255-SHA512' ? new Uint8Array(32) : Uint8Array.of(0, ...new Uint8Array(32));
      for (const bad of [identity, blinded.subarray(1), Uint8Array.of(...blinded, 0), new Uint8Array(g.Noe).fill(0xff)]) {
        expect(() => g.blindEvaluate(sk, bad)).toThrow();
        expect(() => g.finalize(new Uint8Array([1]), sk, bad)).toThrow();
      }
      const order = new Uint8Array(32).fill(0xff); // above n in either byte order
      for (const bad of [new Uint8Array(32), order, sk.subarray(1)]) {
        expect(() => g.blindEvaluate(bad, blinded)).toThrow();
        expect(() => g.finalize(new Uint8Array([1]), bad, blinded)).toThrow();
        expect(() => g.blindWith(new Uint8Array([1]), bad)).toThrow();
      }
      expect(() => g.deriveKeyPair(new Uint8Array(31), new Uint8Array(0))).toThrow(RangeError);
      expect(() => g.blindWith(new Uint8Array(0x10000), sk)).toThrow(RangeError);
      expect(() => g.deriveKeyPair(new Uint8Array(32), new Uint8Array(0x10000))).toThrow(RangeError);
    });

    it(`${name}: Blind draws 48 bytes from the RandomSource, again if they reduce to zero, and wipes them`, () => {
      const g = group();
      const zero = new Uint8Array(48);
      const ok = new Uint8Array(48).fill(3);
      const seen: Uint8Array[] = [];
      const { random, calls } = scripted(zero, ok);
      const b = g.blind(new Uint8Array([1, 2]), (n) => {
        const r = random(n);
        seen.push(r);
        return r;
      });
      expect(calls).toEqual([48, 48]);
      expect(seen.every((r) => r.every((x) => x === 0))).toBe(true);
      expect(toHex(g.blindWith(new Uint8Array([1, 2]), b.blind))).toBe(toHex(b.blinded));
      expect(() => g.blind(new Uint8Array([1]), () => new Uint8Array(32))).toThrow(RangeError);
    });
  }
});
