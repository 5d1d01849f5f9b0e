/**
 * `e2ee-backup/protocol`: the wire-level pieces, for tools, servers and other implementations of
 * the formats, not for apps. The vault protocol's message codec and OPAQUE binding
 * (docs/PROTOCOL.md), the OPAQUE suites and their ids (RFC 9807 with its key-stretching functions;
 * `opaqueSuiteFor` picks one by id), the HKDF label table, the archive's chunk-nonce helpers
 * (docs/FORMAT.md), the manifest envelope (docs/CLIENT.md) and the HTTP transport with its retry
 * policy (docs/STORAGE.md §4). An app uses the package entry (`createBackupClient` and the
 * factories), which runs all of these for it; a vault client picks the suite the fleet's trust
 * entry names, so an app never constructs one.
 *
 * @packageDocumentation
 */
export { PROTOCOL_VERSION, encodeVaultMessage, parseVaultMessage, opaqueBinding } from './recovery/protocol.js';
export type { VaultMessage, VaultRequest, VaultResponse, MessageHeader, EnrollMode, LoginIntent, EnrollmentState, OpaqueBinding } from './recovery/protocol.js';
export { OPAQUE_TS_SUITE_ID } from './recovery/opaque/opaque-ts-id.js';
export { rfc9807Suite, isRfc9807SuiteId, RFC9807_DEFAULT_SUITE_ID, RFC9807_SERENITY_SUITE_ID } from './recovery/opaque/rfc9807.js';
export type { Rfc9807GroupName } from './recovery/opaque/rfc9807.js';
export { argon2idKsf, scryptKsf } from './recovery/opaque/rfc9807-ksf.js';
export type { Argon2idParams, ScryptParams, Rfc9807Ksf } from './recovery/opaque/rfc9807-ksf.js';
export { opaqueSuiteFor } from './recovery/opaque/suites.js';
export type {
  OpaqueSuite,
  OpaqueServer,
  OpaqueRegistrationStart,
  OpaqueRegistrationResult,
  OpaqueLoginStart,
  OpaqueLoginResult,
  OpaqueKeyAgreement,
} from './recovery/opaque/suite.js';
export { LABELS } from './labels.js';
export type { LabelName } from './labels.js';
export { chunkNonceTail, createSealGuard, NONCE_TAIL_LENGTH } from './archive/engine.js';
export { encodeManifestBody, decodeManifestBody, deriveManifestKey, MANIFEST_VERSION, MAX_MANIFEST_METADATA } from './client/manifest.js';
export type { BackupManifest, BackupMetadata, JsonValue } from './client/manifest.js';
export type { BackupErrorCode } from './errors.js';
export { createTransport, defaultSleep, parseRetryAfter, statusToCode } from './transport/http.js';
export type { FetchLike, SleepFn, RetryOptions, TransportOptions, TransportRequest, TransportResponse, Transport } from './transport/http.js';
