/**
 * Which OPAQUE suite a suite id names, for the vault client's default (the suite the fleet
 * publishes in its trust entry) and for servers and tools that read suite ids from configuration.
 *
 * - `rfc9807/<group>/<ksf>`: RFC 9807 OPAQUE-3DH on `@noble/curves` (rfc9807.ts). New fleets run
 *   {@link RFC9807_DEFAULT_SUITE_ID}.
 * - `opaque-ts/P256-SHA256-scrypt/v1`: the superseded draft-07 suite of `@cloudflare/opaque-ts`,
 *   kept for fleets that still run it. This module reaches it only through its lazy front
 *   (opaque-ts-lazy.ts), so a browser app loads that implementation (a separate chunk) only when a
 *   fleet it talks to names it (docs/SIZE.md).
 *
 * @module
 */
import { BackupError } from '../../errors.js';
import type { FleetTrust } from '../fleet-trust.js';
import { OPAQUE_TS_SUITE_ID, opaqueTsSuite } from './opaque-ts-lazy.js';
import { RFC9807_DEFAULT_SUITE_ID, isRfc9807SuiteId, rfc9807Suite } from './rfc9807.js';
import type { OpaqueSuite } from './suite.js';

/**
 * The suite a suite id names, or `undefined` when this SDK does not run it. Test-only suites
 * (the identity KSF) are never returned.
 *
 * @example
 * ```ts
 * const suite = opaqueSuiteFor('rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1');
 * ```
 */
export function opaqueSuiteFor(id: string): OpaqueSuite | undefined {
  if (id === OPAQUE_TS_SUITE_ID) return opaqueTsSuite();
  return isRfc9807SuiteId(id) ? rfc9807Suite(id) : undefined;
}

/**
 * @internal The suite to run with `fleetId`: the first suite its trusted entries name that this
 * SDK runs; the default RFC 9807 suite when trust has no entry for it yet (a bundle may prove the
 * fleet's key later; the vault client then checks that the key's entry names this suite).
 * `FLEET_UNTRUSTED` when the fleet's entries name only suites this SDK does not run.
 */
export async function suiteForFleet(trust: FleetTrust, fleetId: string): Promise<OpaqueSuite> {
  const ids = (await trust.trustedFleets()).filter((f) => f.fleetId === fleetId).map((f) => f.suite);
  if (ids.length === 0) return rfc9807Suite(RFC9807_DEFAULT_SUITE_ID);
  for (const id of ids) {
    const s = opaqueSuiteFor(id);
    if (s !== undefined) return s;
  }
  throw new BackupError('FLEET_UNTRUSTED', 'the fleet publishes no OPAQUE suite this SDK runs', { fleetId });
}
