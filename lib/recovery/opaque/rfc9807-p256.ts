/**
 * @internal The P256-SHA256 group of the RFC 9807 suites (RFC 9497 §4.3: Noe = Npk = 33, SEC1
 * compressed; Nh = 32), on `@noble/curves`' P-256 hasher and our RFC 9497 OPRF (rfc9497.ts). Its own module so that a
 * browser app carries noble's Weierstrass code only when a fleet names a P-256 suite (loaded by
 * `import()` from rfc9807-groups.ts); the vault imports it statically.
 *
 * @module
 */
import { p256_hasher as h } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Rfc9807Group } from './rfc9807-core.js';
import { makeGroup, provideP256 } from './rfc9807-groups.js';

let group: Rfc9807Group | undefined;

/** @internal P256-SHA256. */
export function p256Group(): Rfc9807Group {
  group ??= makeGroup({
    name: 'P256-SHA256',
    Point: h.Point,
    hash: sha256,
    Noe: 33,
    hashToGroup: (m, o) => h.hashToCurve(m, o),
    hashToScalar: (m, o) => h.hashToScalar(m, o),
  });
  return group;
}

provideP256(p256Group);
