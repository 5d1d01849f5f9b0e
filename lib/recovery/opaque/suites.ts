/**
 * Which OPAQUE suite a suite id names, for the vault client's default (the suite the fleet
 * publishes in its trust entry) and for servers and tools that read suite ids from configuration.
 *
 * - `rfc9807/<group>/<ksf>`: RFC 9807 OPAQUE-3DH on `@noble/curves` (rfc9807.ts). New fleets run
 *   {@link RFC9807_DEFAULT_SUITE_ID}.
 * - Any other suite the app hands in (`extra`), e.g. `opaqueTsSuite()` for fleets still on the
 *   superseded draft-07 suite of `@cloudflare/opaque-ts`. This module never imports that suite
 *   itself, so an app that does not name it bundles none of it (no sjcl, no Vite warnings); one
 *   that does loads its implementation (a separate chunk) only when a fleet names it
 *   (docs/SIZE.md).
 *
 * @module
 */
import { BackupError } from '../../errors.js';
import type { FleetTrust } from '../fleet-trust.js';
import { RFC9807_DEFAULT_SUITE_ID, rfc9807ClientSuite } from './rfc9807-client.js';
import { isRfc9807SuiteId, rfc9807Suite } from './rfc9807.js';
import type { OpaqueSuite } from './suite.js';

/**
 * The suite a suite id names: one of `extra` with that id, else the RFC 9807 suite it names, else
 * `undefined`. RFC 9807 test-only suites (the identity KSF) are never built from an id.
 *
 * @example
 * ```ts
 * const suite = opaqueSuiteFor('rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1');
 * ```
 */
export function opaqueSuiteFor(id: string, extra: readonly OpaqueSuite[] = []): OpaqueSuite | undefined {
  const given = extra.find((s) => s.id === id);
  if (given !== undefined) return given;
  return isRfc9807SuiteId(id) ? rfc9807Suite(id) : undefined;
}

/**
 * @internal The suite to run with `fleetId`: the first suite its trusted entries name that this
 * SDK runs; the default RFC 9807 suite when trust has no entry for it yet (a bundle may prove the
 * fleet's key later; the vault client then checks that the key's entry names this suite).
 * `FLEET_UNTRUSTED` when the fleet's entries name only suites this SDK does not run. RFC 9807
 * suites come as their client side (the vault client never runs `server()`).
 */
export async function suiteForFleet(trust: FleetTrust, fleetId: string, extra: readonly OpaqueSuite[] = []): Promise<OpaqueSuite> {
  const ids = (await trust.trustedFleets()).filter((f) => f.fleetId === fleetId).map((f) => f.suite);
  if (ids.length === 0) return rfc9807ClientSuite(RFC9807_DEFAULT_SUITE_ID)!;
  for (const id of ids) {
    const s = extra.find((x) => x.id === id) ?? rfc9807ClientSuite(id);
    if (s !== undefined) return s;
  }
  throw new BackupError('FLEET_UNTRUSTED', 'the fleet publishes no OPAQUE suite this client runs (opaque-ts fleets need `suites: [opaqueTsSuite()]`)', { fleetId });
}
