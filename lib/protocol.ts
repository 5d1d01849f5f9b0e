/**
 * `e2ee-backup/protocol`: the wire-level pieces, for tools, servers and other implementations of
 * the formats, not for apps. The vault protocol's message codec and OPAQUE binding
 * (docs/PROTOCOL.md), the archive's chunk-nonce helpers (docs/FORMAT.md), the manifest envelope
 * (docs/CLIENT.md) and the HTTP transport with its retry policy (docs/STORAGE.md §4). An app uses
 * the main entry (`createBackupClient` and the factories), which runs all of these for it.
 *
 * @packageDocumentation
 */
export { PROTOCOL_VERSION, encodeVaultMessage, parseVaultMessage, opaqueBinding } from './recovery/protocol.js';
export type { VaultMessage, VaultRequest, VaultResponse, MessageHeader, EnrollMode } from './recovery/protocol.js';
export { chunkNonceTail, createSealGuard, NONCE_TAIL_LENGTH } from './archive/engine.js';
export { encodeManifestBody, decodeManifestBody, deriveManifestKey, MANIFEST_VERSION, MAX_MANIFEST_METADATA } from './client/manifest.js';
export { createTransport, defaultSleep, parseRetryAfter, statusToCode } from './transport/http.js';
export type { FetchLike, SleepFn, RetryOptions, TransportOptions, TransportRequest, TransportResponse, Transport } from './transport/http.js';
