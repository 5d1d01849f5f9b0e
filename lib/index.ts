/**
 * e2ee-backup: end-to-end encrypted chat backups for web apps.
 *
 * The package entry holds what an app integrating backups calls: the backup client and the vault
 * client, pinned fleet keys, device storage, recovery codes, typed errors, and every type those
 * functions' options and results name. It is browser-safe: no Node built-ins, no server code.
 *
 * Everything else has its own entry (README §Package entries): blob-store adapters in
 * `e2ee-backup/stores`, over-the-air fleet bundles in `e2ee-backup/trust`, the archive format in
 * `e2ee-backup/archive`, keyrings, self-custody keys and manifests in `e2ee-backup/keys`, wire-level
 * pieces and OPAQUE suites in `e2ee-backup/protocol`, and the opt-ins that a client takes as
 * options: the worker pool (`e2ee-backup/workers`), `e2ee-backup/passkeys`, `e2ee-backup/incremental`,
 * `e2ee-backup/opaque-ts`, `e2ee-backup/rfc9807-extras`.
 *
 * @packageDocumentation
 */
export { BackupError, isBackupError } from './errors.js';
export type { BackupErrorCode, BackupErrorDetails, BackupErrorOptions } from './errors.js';
export { createMemoryStore, createIndexedDbStore } from './storage/kv.js';
export type { KeyValueStore, StoredValue, IndexedDbStoreOptions } from './storage/kv.js';
export { pinnedFleets } from './recovery/fleet-trust.js';
export type { FleetTrust, TrustedFleet } from './recovery/fleet-trust.js';
export type { CipherEngine, ChunkCipher, SealedParts } from './archive/engine.js';
export { generateRecoveryCode, parseRecoveryCode } from './recovery/code.js';
export type { Keyring, KeyGeneration } from './recovery/keyring.js';
export { createVaultClient } from './recovery/vault-client.js';
export type { VaultClient, VaultClientOptions, VaultCallOptions, VaultStatus, VaultFetch } from './recovery/vault-client.js';
// The suite id a pinned fleet entry names for every new fleet; the suites themselves (and the other
// ids) are in `e2ee-backup/protocol`, the superseded one in `e2ee-backup/opaque-ts`.
export { RFC9807_DEFAULT_SUITE_ID } from './recovery/opaque/rfc9807-client.js';
export type {
  OpaqueSuite,
  OpaqueServer,
  OpaqueRegistrationStart,
  OpaqueRegistrationResult,
  OpaqueLoginStart,
  OpaqueLoginResult,
  OpaqueKeyAgreement,
} from './recovery/opaque/suite.js';
export type {
  VaultMessage,
  VaultRequest,
  VaultResponse,
  MessageHeader,
  EnrollMode,
  LoginIntent,
  EnrollmentState,
  OpaqueBinding,
} from './recovery/protocol.js';
export type { RandomSource } from './util/bytes.js';
export type {
  BlobStore,
  BlobStoreLimits,
  BlobCallOptions,
  BlobGetOptions,
  BlobPutOptions,
  CreateUploadOptions,
  BlobInfo,
  BlobListEntry,
  BlobListOptions,
  ByteRange,
  UploadRef,
  UploadedPart,
  CompletedPart,
} from './storage/blob/types.js';
export type { BodyPath } from './storage/blob/body.js';
// Passkeys (WebAuthn PRF) have their own subpath, `e2ee-backup/passkeys` (lib/passkeys.ts): a client
// runs them with `passkeys: passkeySupport({ authenticator })`, so apps without them do not download them.
export type { FetchLike, SleepFn, RetryOptions, TransportOptions, TransportRequest, TransportResponse, Transport } from './transport/http.js';
export { createBackupClient } from './client.js';
export type {
  BackupClient,
  BackupClientOptions,
  BackupClientEvents,
  BackupClientStatus,
  BackupOptions,
  BackupResult,
  BackupSource,
  BackupProgress,
  BackupSummary,
  BackupManifest,
  BackupMetadata,
  JsonValue,
  LockManagerLike,
  RecoveryCodeInput,
  RestoreOptions,
  RestoredBackup,
  RestoreProgress,
  RestoreStreamOptions,
} from './client.js';
export type { LockSleep } from './client/lock.js';
// Incremental backups (docs/INCREMENTAL.md) have their own subpath, `e2ee-backup/incremental`, so an
// app that does not use them does not download the chunker; the client loads it on demand.
