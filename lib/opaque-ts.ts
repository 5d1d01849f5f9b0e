/**
 * `e2ee-backup/opaque-ts`: the superseded OPAQUE suite (`@cloudflare/opaque-ts` 0.7.5, draft 07,
 * P-256, scrypt), for fleets that still run it. New fleets run RFC 9807 (`rfc9807Suite()` in the
 * package entry), and an app that never names this suite bundles none of it (no sjcl, no bundler
 * warnings). An app whose users may be enrolled at such a fleet hands it to its vault clients:
 *
 * ```ts
 * const vault = createVaultClient({ ...vaultOptions, suites: [opaqueTsSuite()] });
 * ```
 *
 * The client then runs it for fleets whose trust entry names {@link OPAQUE_TS_SUITE_ID}, and its
 * implementation is fetched (a separate chunk in a bundled app) only when such a fleet is used;
 * `migrateFleet` moves those users to an RFC 9807 fleet (docs/PROTOCOL.md §Suites).
 *
 * @packageDocumentation
 */
export { opaqueTsSuite, OPAQUE_TS_SUITE_ID } from './recovery/opaque/opaque-ts-lazy.js';
