/**
 * @internal The P256-SHA256 group of the RFC 9807 suites (RFC 9497 §4.3: Noe = Npk = 33, SEC1
 * compressed; Nh = 32), on `@noble/curves`' P-256 hasher and OPRF. Its own module so that a
 * browser app carries noble's Weierstrass code only when a fleet names a P-256 suite (loaded by
 * `import()` from rfc9807-groups.ts); the vault imports it statically.
 *
 * @module
 */
import { p256_hasher, p256_oprf } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Rfc9807Group } from './rfc9807-core.js';
import { makeGroup, provideP256 } from './rfc9807-groups.js';

let group: Rfc9807Group | undefined;

/** @internal P256-SHA256. */
export function p256Group(): Rfc9807Group {
  group ??= makeGroup('P256-SHA256', p256_hasher.Point, sha256, 32, 33, p256_oprf.oprf, (m, o) => p256_hasher.hashToCurve(m, o));
  return group;
}

provideP256(p256Group);
