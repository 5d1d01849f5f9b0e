/**
 * The small interface through which the vault client asks "is this fleet key trusted?". Pinned
 * configuration implements it directly ({@link pinnedFleets}); the trust store (lib/trust/)
 * implements it with bundles, audit-log proofs and rotation.
 *
 * @module
 */
import { BackupError } from '../errors.js';

/** A vault fleet the client may talk to. */
export interface TrustedFleet {
  /** The fleet's name, e.g. `"fleet-eu-1"`. */
  readonly fleetId: string;
  /** OPAQUE suite id the fleet runs, e.g. `"rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1"` (docs/PROTOCOL.md §Suites). */
  readonly suite: string;
  /** The fleet's OPAQUE server public key (exact bytes the vault presents). */
  readonly publicKey: Uint8Array;
  /**
   * What this key may be used for: `enroll` (new records: enrollment, a code change) and
   * `recover` (logins). Absent means both, as for pins. A bundle lists a superseded fleet as
   * `['recover']` (docs/TRUST.md); the vault client refuses to enroll there.
   */
  readonly roles?: readonly ('enroll' | 'recover')[];
}

/**
 * Answers which fleets and keys are currently trusted. Two implementations ship: pinned keys
 * ({@link pinnedFleets}) and co-signed, audit-logged bundles (`createTrustStore`); the vault client
 * checks the key every vault presents against it before a recovery code is used.
 *
 * @example
 * ```ts
 * const trust: FleetTrust = pinnedFleets(config.fleets); // or createTrustStore({ config, store, ...log })
 * for (const f of await trust.trustedFleets()) console.log(f.fleetId, f.suite);
 * ```
 */
export interface FleetTrust {
  /** Every currently trusted fleet (not retired, within its validity window). */
  trustedFleets(): Promise<readonly TrustedFleet[]>;
  /**
   * The vault presented `publicKey` for `fleetId` and it is not currently trusted. Implementations
   * may fetch and verify a bundle that proves it; resolve with the fleet when it is now trusted,
   * `undefined` otherwise. Pinned trust always answers `undefined`.
   */
  resolveUnknown?(fleetId: string, publicKey: Uint8Array): Promise<TrustedFleet | undefined>;
}

/**
 * Pinned mode (WhatsApp's): the fleet keys ship in the app's configuration.
 *
 * @example
 * ```ts
 * const trust = pinnedFleets([{ fleetId: 'fleet-1', suite: 'rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1', publicKey }]);
 * ```
 */
export function pinnedFleets(fleets: readonly TrustedFleet[]): FleetTrust {
  if (!Array.isArray(fleets)) throw new BackupError('INVALID_ARGUMENT', 'pinnedFleets: fleets must be an array of { fleetId, suite, publicKey }', { option: 'fleets' });
  fleets.forEach((f: Partial<TrustedFleet> | null, i) => {
    const at = `fleets[${i}]`;
    if (typeof f !== 'object' || f === null) throw new BackupError('INVALID_ARGUMENT', `pinnedFleets: ${at} must be { fleetId, suite, publicKey }`, { option: at });
    if (typeof f.fleetId !== 'string' || f.fleetId.length === 0) throw new BackupError('INVALID_ARGUMENT', `pinnedFleets: ${at}.fleetId must be the fleet's name, e.g. 'fleet-1'`, { option: `${at}.fleetId` });
    if (typeof f.suite !== 'string' || f.suite.length === 0) {
      throw new BackupError('INVALID_ARGUMENT', `pinnedFleets: ${at}.suite must be the fleet's OPAQUE suite id, e.g. 'rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1'`, { option: `${at}.suite` });
    }
    if (!(f.publicKey instanceof Uint8Array) || f.publicKey.length === 0) {
      throw new BackupError(
        'INVALID_ARGUMENT',
        `pinnedFleets: ${at}.publicKey must be the fleet's OPAQUE public key as a Uint8Array (decode the hex or base64 in your build, docs/GETTING-STARTED.md §3)`,
        { option: `${at}.publicKey` },
      );
    }
  });
  const copy = fleets.map((f) =>
    Object.freeze({ ...f, publicKey: Uint8Array.from(f.publicKey), ...(f.roles === undefined ? {} : { roles: Object.freeze([...f.roles]) }) }),
  );
  return { trustedFleets: async () => copy };
}
