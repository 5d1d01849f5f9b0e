/**
 * The RFC 9807 suites beyond the default family, for apps whose fleets name them: the P256-SHA256
 * group and the scrypt KSF. The package entry runs ristretto255-SHA512 with Argon2id (every new
 * fleet's suite) and does not carry noble's Weierstrass code or scrypt (docs/SIZE.md); an app
 * calls {@link enableRfc9807Extras} once, before a vault client runs such a suite. Without it, an
 * operation of a P-256 or scrypt suite throws `ENGINE_UNAVAILABLE`. Server code
 * (`e2ee-backup/server`) has both already.
 *
 * @module
 */
import { p256Group } from './recovery/opaque/rfc9807-p256.js';
import { provideP256 } from './recovery/opaque/rfc9807-groups.js';
import { provideRfc9807Scrypt } from './recovery/opaque/rfc9807-scrypt.js';

/**
 * Make the P256-SHA256 group and the scrypt KSF available to the RFC 9807 suites (idempotent).
 *
 * @example
 * ```ts
 * import { enableRfc9807Extras } from 'e2ee-backup/rfc9807-extras';
 * enableRfc9807Extras(); // a fleet publishes rfc9807/P256-SHA256/scrypt-N32768-r8-p1
 * ```
 */
export function enableRfc9807Extras(): void {
  provideP256(p256Group);
  provideRfc9807Scrypt();
}
