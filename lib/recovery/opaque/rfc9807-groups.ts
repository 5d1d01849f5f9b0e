/**
 * @internal The two prime-order groups of the RFC 9807 suites, with their RFC 9497 OPRFs
 * (mode 0x00) from `@noble/curves`: ristretto255 with SHA-512 and P-256 with SHA-256
 * (RFC 9807 §7). ristretto255 (the default suites' group) is here; P-256 is in rfc9807-p256.ts,
 * which only an app that opts in reaches (`e2ee-backup/rfc9807-extras`; its Weierstrass arithmetic
 * is the other half of noble's curve code; docs/SIZE.md). Server code imports it statically.
 *
 * @module
 */
import { ristretto255, ristretto255_hasher, ristretto255_oprf } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { BackupError } from '../../errors.js';
import { concatBytes, utf8 } from '../../util/bytes.js';
import type { Rfc9807Group, Rfc9807Hash } from './rfc9807-core.js';

/** The point operations a group needs from noble (both point classes have them). */
interface PointLike<P> {
  equals(other: P): boolean;
  multiply(scalar: bigint): P;
  toBytes(): Uint8Array;
}
interface PointCons<P extends PointLike<P>> {
  fromBytes(bytes: Uint8Array): P;
  readonly ZERO: P;
  readonly BASE: P;
  readonly Fn: { fromBytes(bytes: Uint8Array): bigint; is0(n: bigint): boolean };
}

/** @internal */
export function makeGroup<P extends PointLike<P>>(
  name: string,
  Point: PointCons<P>,
  hash: Rfc9807Hash,
  Nh: number,
  Noe: number,
  oprf: Rfc9807Group['oprf'],
  hashToCurve: (msg: Uint8Array, opts: { DST: Uint8Array }) => P,
): Rfc9807Group {
  // RFC 9497 §3.1: contextString = "OPRFV1-" ‖ I2OSP(mode = 0x00, 1) ‖ "-" ‖ identifier.
  const dstHashToGroup = concatBytes(utf8('HashToGroup-OPRFV1-'), Uint8Array.of(0), utf8(`-${name}`));
  const scalar = (bytes: Uint8Array): bigint => {
    if (bytes.length !== 32) throw new RangeError('scalar must be 32 bytes');
    const s = Point.Fn.fromBytes(bytes); // throws unless < n
    if (Point.Fn.is0(s)) throw new RangeError('zero scalar');
    return s;
  };
  const decode = (bytes: Uint8Array): P => {
    if (bytes.length !== Noe) throw new RangeError('element has the wrong length');
    const p = Point.fromBytes(bytes); // canonical encoding of a curve / group point, else throws
    if (p.equals(Point.ZERO)) throw new RangeError('identity element');
    return p;
  };
  return Object.freeze({
    name,
    Noe,
    Nsk: 32,
    Nh,
    hash,
    oprf,
    decode,
    scalar,
    publicKey: (sk: Uint8Array) => Point.BASE.multiply(scalar(sk)).toBytes(),
    blindWith(input: Uint8Array, blind: Uint8Array): Uint8Array {
      const p = hashToCurve(input, { DST: dstHashToGroup });
      if (p.equals(Point.ZERO)) throw new RangeError('input maps to the identity');
      return p.multiply(scalar(blind)).toBytes();
    },
  });
}

let ristretto: Rfc9807Group | undefined;
let p256: (() => Rfc9807Group) | undefined;

/** @internal ristretto255-SHA512 (RFC 9497 §4.1): Noe = Npk = 32, Nh = 64. */
export function ristretto255Group(): Rfc9807Group {
  ristretto ??= makeGroup('ristretto255-SHA512', ristretto255.Point, sha512, 64, 32, ristretto255_oprf.oprf, (m, o) =>
    ristretto255_hasher.hashToCurve(m, o),
  );
  return ristretto;
}

/** @internal Called by rfc9807-p256.ts when it is evaluated. */
export function provideP256(make: () => Rfc9807Group): void {
  p256 ??= make;
}

/** Group sizes without loading a group: Nh, Nsk, Noe. */
export const GROUP_SIZES: Readonly<Record<string, { readonly Nh: number; readonly Nsk: number; readonly Noe: number }>> = Object.freeze({
  'ristretto255-SHA512': Object.freeze({ Nh: 64, Nsk: 32, Noe: 32 }),
  'P256-SHA256': Object.freeze({ Nh: 32, Nsk: 32, Noe: 33 }),
});

/** @internal The group, if its code is in memory (ristretto255 always is). */
export function loadedGroup(name: string): Rfc9807Group | undefined {
  if (name === 'ristretto255-SHA512') return ristretto255Group();
  if (name === 'P256-SHA256') return p256?.();
  return undefined;
}

/**
 * @internal The group. P-256 is never loaded from here (so the package entry does not reach
 * noble's Weierstrass code, docs/SIZE.md): it is present once rfc9807-p256.ts has been evaluated
 * (the server imports it; a browser app calls `enableRfc9807Extras()` from
 * `e2ee-backup/rfc9807-extras`), else `ENGINE_UNAVAILABLE`.
 */
export async function loadGroup(name: string): Promise<Rfc9807Group> {
  const g = loadedGroup(name);
  if (g !== undefined) return g;
  if (name !== 'P256-SHA256') throw new RangeError('unknown group');
  throw new BackupError(
    'ENGINE_UNAVAILABLE',
    'the P-256 group is not in this bundle: call enableRfc9807Extras() from e2ee-backup/rfc9807-extras for a fleet naming a P256 suite',
  );
}
