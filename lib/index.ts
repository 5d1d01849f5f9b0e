/**
 * e2ee-backup: end-to-end encrypted chat backups for web apps.
 *
 * This is the browser-safe entry: no Node built-ins, no server code.
 *
 * @packageDocumentation
 */
export { BackupError, isBackupError, ARCHIVE_AUTH_MESSAGE } from './errors.js';
export type { BackupErrorCode, BackupErrorDetails, BackupErrorOptions } from './errors.js';
export { LABELS } from './labels.js';
export type { LabelName } from './labels.js';
export { createMemoryStore, createIndexedDbStore } from './storage/kv.js';
export type { KeyValueStore, StoredValue, IndexedDbStoreOptions } from './storage/kv.js';
export { pinnedFleets } from './recovery/fleet-trust.js';
export type { FleetTrust, TrustedFleet } from './recovery/fleet-trust.js';
export type { CipherEngine, ChunkCipher, SealedParts } from './archive/engine.js';
export {
  encryptArchive,
  decryptArchive,
  createEncryptStream,
  createDecryptStream,
  openArchive,
  parseHeader,
  ciphertextSize,
  plaintextSize,
  chunkCount,
  ARCHIVE_MAGIC,
  ARCHIVE_VERSION,
  SUITE_XCHACHA20POLY1305_HKDF_SHA256,
  KEY_ID_LENGTH,
  SALT_LENGTH,
  COMMITMENT_LENGTH,
  TAG_LENGTH,
  DEFAULT_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  MAX_METADATA_LENGTH,
  HEADER_FIXED_LENGTH,
  HEADER_OVERHEAD,
  defaultEngine,
  nobleEngine,
} from './archive/index.js';
export { createWorkerEngine } from './archive/engines/workers.js';
export type { WorkerEngine, WorkerEngineOptions, WorkerLike, WorkerCipherKind } from './archive/engines/workers.js';
export { createNodeEngine, nodeCryptoFromRuntime } from './archive/engines/node.js';
export type { NodeCryptoAead, NodeAeadCipher, NodeAeadDecipher } from './archive/engines/node.js';
export type {
  ArchiveHeader,
  ArchiveReader,
  OpenArchiveOptions,
  ReadOptions,
  ArchiveOptions,
  EncryptOptions,
  DecryptOptions,
  ArchiveProgress,
  ArchiveKeyLookup,
  ArchiveKeySource,
} from './archive/index.js';
export {
  createKeyring,
  rotateKeyring,
  keyForId,
  wipeKeyring,
  encodeKeyring,
  decodeKeyring,
  deriveEscrowKek,
  sealKeyring,
  openKeyring,
  BACKUP_KEY_LENGTH,
  MAX_KEYRING_GENERATIONS,
} from './recovery/keyring.js';
export type { Keyring, KeyGeneration } from './recovery/keyring.js';
export {
  generateRecoveryCode,
  parseRecoveryCode,
  normalizePassword,
  RECOVERY_CODE_ALPHABET,
  RECOVERY_CODE_VERSION,
  RECOVERY_CODE_SYMBOLS,
  RECOVERY_CODE_BITS,
} from './recovery/code.js';
export type { PasswordPolicy } from './recovery/code.js';
export {
  generateSelfCustodyKey,
  formatSelfCustodyKey,
  parseSelfCustodyKey,
  sealKeyringWithRecoveryKey,
  openKeyringWithRecoveryKey,
  SELF_CUSTODY_KEY_LENGTH,
  SELF_CUSTODY_DIGITS,
} from './recovery/self-custody.js';
export type { SelfCustodyKey } from './recovery/self-custody.js';
export { createDeviceCache, DEVICE_CACHE_VERSION, DEVICE_CACHE_KEY_PREFIX } from './storage/device-cache.js';
export type { DeviceCache, DeviceCacheOptions } from './storage/device-cache.js';
export { createTrustStore } from './trust/trust-store.js';
export type {
  TrustStore,
  TrustStoreConfig,
  TrustStoreOptions,
  TrustedFleetEntry,
  TrustChangeEvent,
  TrustStateSnapshot,
  ApplyBundleOptions,
  SplitViewEvidence,
} from './trust/trust-store.js';
export { witnessLogClient } from './trust/log-client.js';
export type { WitnessLogClient, WitnessLogClientOptions } from './trust/log-client.js';
export { verifySignedBundle, decodeBundle, decodeSignedBundle } from './trust/bundle.js';
export type {
  Bundle,
  BundleFleet,
  FleetRole,
  SignedBundle,
  WitnessSignature,
  OperatorSignature,
  SignerKey,
  WitnessKey,
  TrustThresholds,
  TrustRoots,
  VerifiedBundle,
} from './trust/bundle.js';
export type { Checkpoint, CheckpointBody, NoteSignature } from './trust/checkpoint.js';
export { createVaultClient } from './recovery/vault-client.js';
export type { VaultClient, VaultClientOptions, VaultCallOptions, VaultStatus, VaultFetch } from './recovery/vault-client.js';
// The superseded opaque-ts suite is in `e2ee-backup/opaque-ts` (lib/opaque-ts.ts); only its id is here.
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
// Wire-level pieces (message codec, OPAQUE binding, nonce helpers, manifest body codec, transport)
// are in `e2ee-backup/protocol` (lib/protocol.ts); their types stay here for the options that name them.
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
export { createMemoryBlobStore } from './storage/blob/memory.js';
export type { MemoryBlobStoreOptions } from './storage/blob/memory.js';
export { createHttpBlobStore } from './storage/blob/http.js';
export type { HttpBlobStoreOptions } from './storage/blob/http.js';
export { createS3BlobStore } from './storage/blob/s3.js';
export type { S3BlobStoreOptions } from './storage/blob/s3.js';
export { assertBlobKey, isBlobKey, assertBlobPrefix } from './storage/blob/types.js';
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
export type { BlobOp, BlobOpName, PresignFn, PresignedRequest, PresignedBlobStoreOptions } from './storage/blob/presigned.js';
export type { BodyPath } from './storage/blob/body.js';
// Passkeys (WebAuthn PRF) have their own subpath, `e2ee-backup/passkeys` (lib/passkeys.ts): a client
// runs them with `passkeys: passkeySupport({ authenticator })`, so apps without them do not download them.
export type { FetchLike, SleepFn, RetryOptions, TransportOptions, TransportRequest, TransportResponse, Transport } from './transport/http.js';
export { migrateFleet, planMigration, migrationKey } from './trust/migrate.js';
export type { MigrateFleetOptions, MigrationResult, MigrationStep } from './trust/migrate.js';
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
export {
  sealManifest,
  openManifest,
  sealLatest,
  openLatest,
} from './client/manifest.js';
export type { LatestPointer, BackupKeyLookup, SealOptions, OpenOptions } from './client/manifest.js';
export type { LockSleep } from './client/lock.js';
// Incremental backups (docs/INCREMENTAL.md) have their own subpath, `e2ee-backup/incremental`, so an
// app that does not use them does not download the chunker; the client loads it on demand.
