/**
 * The id of the superseded opaque-ts suite, in a module of its own so that naming it (in trust
 * configuration, for instance) pulls none of the suite's code into a bundle.
 *
 * @module
 */

/** Suite id of the opaque-ts suite (draft-07 OPAQUE, P-256, SHA-256, scrypt). */
export const OPAQUE_TS_SUITE_ID = 'opaque-ts/P256-SHA256-scrypt/v1';
