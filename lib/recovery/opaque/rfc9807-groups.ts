/**
 * @internal The two prime-order groups of the RFC 9807 suites, with their RFC 9497 OPRFs
 * (mode 0x00, rfc9497.ts) on `@noble/curves`' groups and hash-to-curve: ristretto255 with SHA-512
 * and P-256 with SHA-256 (RFC 9807 §7). ristretto255 (the default suites' group) is here; P-256
 * is in rfc9807-p256.ts, which only an app that opts in reaches (`e2ee-backup/rfc9807-extras`; its
 * Weierstrass arithmetic is the other half of noble's curve code; docs/SIZE.md). Server code
 * imports it statically.
 *
 * @module
 */
import { ristretto255_hasher } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { BackupError } from '../../errors.js';
import type { Rfc9807Group } from './rfc9807-core.js';
import { rfc9497Oprf, type Rfc9497Point, type Rfc9497Suite } from './rfc9497.js';

/** @internal A group of the RFC 9807 suites: its RFC 9497 suite, base-mode OPRF and sizes. */
export function makeGroup<P extends Rfc9497Point<P>>(suite: Rfc9497Suite<P>): Rfc9807Group {
  const { name, Noe, hash } = suite;
  return Object.freeze({ ...rfc9497Oprf(suite), name, Noe, Nsk: 32, Nh: hash.outputLen, hash });
}

let ristretto: Rfc9807Group | undefined;
let p256: (() => Rfc9807Group) | undefined;

/** @internal ristretto255-SHA512 (RFC 9497 §4.1): Noe = Npk = 32, Nh = 64. */
export function ristretto255Group(): Rfc9807Group {
  const h = ristretto255_hasher;
  ristretto ??= makeGroup({
    name: 'ristretto255-SHA512',
    Point: h.Point,
    hash: sha512,
    Noe: 32,
    hashToGroup: (m, o) => h.hashToCurve(m, o),
    hashToScalar: (m, o) => h.hashToScalar(m, o),
  });
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
