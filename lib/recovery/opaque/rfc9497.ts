/**
 * @internal The RFC 9497 OPRF in base mode (modeOPRF = 0x00), the only mode OPAQUE uses
 * (RFC 9807 §5.2, §6.3): DeriveKeyPair (RFC 9497 §3.2.1), Blind, BlindEvaluate and Finalize
 * (§3.3.1), on a prime-order group from `@noble/curves` with its hash-to-curve (RFC 9380).
 *
 * Our own rather than `@noble/curves/abstract/oprf.js`, which builds the verifiable and partially
 * oblivious modes (DLEQ proofs, multi-scalar multiplication) with every suite: OPAQUE needs none of
 * them, and that module was 5.3 KB minified in the package entry (docs/SIZE.md). Checked against RFC 9497
 * Appendix A's base-mode vectors and against noble's implementation (test/recovery/rfc9497.test.ts).
 *
 * Finalize unblinds with blind⁻¹ computed as blind^(n−2) mod n (Fermat; noble's `invertCt`): the
 * exponent is the public group order, so the sequence of multiplications does not depend on the
 * secret blind, as it would with the extended Euclidean algorithm noble's base-mode finalize uses
 * (docs/PROTOCOL.md §9.1, docs/THREAT-MODEL.md §5).
 *
 * @module
 */
import { invertCt, type IField } from '@noble/curves/abstract/modular.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import type { CHash } from '@noble/hashes/utils.js';
import { abytes, concatBytes, utf8, wipe, type RandomSource } from '../../util/bytes.js';

/** A point as noble's point classes have it. */
export interface Rfc9497Point<P> {
  equals(other: P): boolean;
  multiply(scalar: bigint): P;
  toBytes(): Uint8Array;
}

/** One RFC 9497 ciphersuite (§4): group, hash and the group's hash-to-group and hash-to-scalar. */
export interface Rfc9497Suite<P extends Rfc9497Point<P>> {
  /** Suite identifier, e.g. `ristretto255-SHA512` (part of the context string). */
  readonly name: string;
  readonly Point: {
    fromBytes(bytes: Uint8Array): P;
    readonly ZERO: P;
    readonly BASE: P;
    readonly Fn: IField<bigint>;
  };
  readonly hash: CHash;
  /** Serialized element length (`Ne`). */
  readonly Noe: number;
  hashToGroup(msg: Uint8Array, opts: { DST: Uint8Array }): P;
  hashToScalar(msg: Uint8Array, opts: { DST: Uint8Array }): bigint;
}

/** @internal An RFC 9497 OPRF in base mode for one suite, byte strings in and out. */
export interface Rfc9497Oprf {
  /**
   * DeserializeElement: throws unless `bytes` is the canonical encoding of a group element other
   * than the identity (RFC 9497 §3.3, RFC 9807 §10.7).
   */
  decode(bytes: Uint8Array): { multiply(scalar: bigint): { toBytes(): Uint8Array } };
  /** DeserializeScalar: throws unless `bytes` (Ns = 32) encodes a scalar in 1..n-1. */
  scalar(bytes: Uint8Array): bigint;
  /** SerializeElement(sk · G). */
  publicKey(secretKey: Uint8Array): Uint8Array;
  /** DeriveKeyPair(seed, info) (§3.2.1); `seed` is 32 bytes. The caller wipes `secretKey`. */
  deriveKeyPair(seed: Uint8Array, info: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array };
  /** Blind(input) (§3.3.1) with a fresh scalar from `random`. The caller wipes `blind` (wiped here if Blind throws). */
  blind(input: Uint8Array, random: RandomSource): { blind: Uint8Array; blinded: Uint8Array };
  /** Blind with a given scalar (test vectors): SerializeElement(blind · HashToGroup(input)). */
  blindWith(input: Uint8Array, blind: Uint8Array): Uint8Array;
  /** BlindEvaluate(skS, blindedElement) (§3.3.1). */
  blindEvaluate(secretKey: Uint8Array, blinded: Uint8Array): Uint8Array;
  /** Finalize(input, blind, evaluatedElement) (§3.3.1): Nh bytes; the caller wipes them. The unblinded element is wiped on every path. */
  finalize(input: Uint8Array, blind: Uint8Array, evaluated: Uint8Array): Uint8Array;
}

/** I2OSP(n, 2), for lengths up to 2^16 - 1 (RFC 9497 §1.2 bounds every input so). */
export function u16(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError('length above 2^16 - 1');
  return Uint8Array.of(n >>> 8, n & 0xff);
}

/** I2OSP(len(x), 2) ‖ x. */
export function lp(b: Uint8Array): Uint8Array {
  return concatBytes(u16(b.length), b);
}

/** @internal The base-mode OPRF of a suite. */
export function rfc9497Oprf<P extends Rfc9497Point<P>>(suite: Rfc9497Suite<P>): Rfc9497Oprf {
  const { Point, hash, Noe } = suite;
  const { Fn } = Point;
  // contextString = "OPRFV1-" ‖ I2OSP(modeOPRF = 0x00, 1) ‖ "-" ‖ identifier (§3.1).
  const context = concatBytes(utf8('OPRFV1-'), Uint8Array.of(0), utf8(`-${suite.name}`));
  const dstGroup = concatBytes(utf8('HashToGroup-'), context);
  const dstDerive = concatBytes(utf8('DeriveKeyPair'), context);
  const finalizeLabel = utf8('Finalize');

  const scalar = (bytes: Uint8Array): bigint => {
    abytes(bytes, 'scalar', 32);
    const s = Fn.fromBytes(bytes); // throws unless < n
    if (Fn.is0(s)) throw new RangeError('zero scalar');
    return s;
  };
  const decode = (bytes: Uint8Array): P => {
    abytes(bytes, 'element', Noe);
    const p = Point.fromBytes(bytes); // the canonical encoding of a group element, else throws
    if (p.equals(Point.ZERO)) throw new RangeError('identity element');
    return p;
  };
  const blindWith = (input: Uint8Array, blind: Uint8Array): Uint8Array => {
    u16(input.length); // RFC 9497 §1.2: inputs are at most 2^16 - 1 bytes
    const p = suite.hashToGroup(input, { DST: dstGroup });
    if (p.equals(Point.ZERO)) throw new RangeError('input maps to the identity');
    return p.multiply(scalar(blind)).toBytes();
  };
  return Object.freeze({
    decode,
    scalar,
    blindWith,
    publicKey: (sk: Uint8Array) => Point.BASE.multiply(scalar(sk)).toBytes(),
    deriveKeyPair(seed: Uint8Array, info: Uint8Array) {
      // deriveInput = seed ‖ I2OSP(len(info), 2) ‖ info; skS = HashToScalar(deriveInput ‖ counter).
      const msg = concatBytes(abytes(seed, 'seed', 32), lp(info), Uint8Array.of(0));
      try {
        for (let counter = 0; counter < 256; counter++) {
          msg[msg.length - 1] = counter;
          const sk = suite.hashToScalar(msg, { DST: dstDerive });
          if (!Fn.is0(sk)) return { secretKey: Fn.toBytes(sk), publicKey: Point.BASE.multiply(sk).toBytes() };
        }
      } finally {
        wipe(msg);
      }
      throw new RangeError('DeriveKeyPairError'); // 256 zero scalars in a row: not in practice
    },
    blind(input: Uint8Array, random: RandomSource) {
      u16(input.length); // before drawing: nothing secret exists yet
      // RandomScalar (§4.7, "extra random bits"): 48 bytes reduced mod n, bias below 2^-128; never 0.
      // A source that keeps giving zero is broken: refuse it rather than draw forever.
      for (let tries = 0; tries < 8; tries++) {
        const r = abytes(random(48), 'random(48)', 48);
        const s = Fn.create(bytesToNumberBE(r));
        wipe(r);
        if (Fn.is0(s)) continue;
        const blind = Fn.toBytes(s);
        try {
          return { blind, blinded: blindWith(input, blind) };
        } catch (e) {
          wipe(blind);
          throw e;
        }
      }
      throw new RangeError('random(48) reduced to zero 8 times: not a random source');
    },
    blindEvaluate: (sk: Uint8Array, blinded: Uint8Array) => decode(blinded).multiply(scalar(sk)).toBytes(),
    finalize(input: Uint8Array, blind: Uint8Array, evaluated: Uint8Array) {
      const inputLength = u16(input.length); // before unblinding: a throw leaves nothing secret
      // Fermat inversion: a public exponent, see the module comment.
      const unblinded = decode(evaluated).multiply(invertCt(scalar(blind), Fn.ORDER)).toBytes();
      let hashInput: Uint8Array | undefined;
      try {
        hashInput = concatBytes(inputLength, input, lp(unblinded), finalizeLabel);
        return hash(hashInput);
      } finally {
        wipe(unblinded, hashInput);
      }
    },
  });
}
