/**
 * `e2ee-backup/trust`: fleet keys delivered over the air (docs/TRUST.md), for apps whose fleets
 * rotate keys or migrate: a trust store that applies bundles signed by a witness and counter-signed
 * by the operator, checks their inclusion in the witness's append-only log (RFC 9162 proofs) and
 * keeps its state on the device; the witness-log client; the bundle codec; and `migrateFleet`,
 * which moves an account from one fleet to another. An app with keys pinned in its build
 * (`pinnedFleets` in the package entry) needs none of it. A trust store is a `FleetTrust`: it goes
 * where `pinnedFleets(...)` would, in `createVaultClient({ trust })` and `createBackupClient({ trust })`.
 *
 * @example
 * ```ts
 * import { createIndexedDbStore } from 'e2ee-backup';
 * import { createTrustStore, witnessLogClient } from 'e2ee-backup/trust';
 *
 * const log = witnessLogClient({ baseUrl: 'https://witness.example/chat', fetch: (r) => fetch(r) });
 * // `config`: the witness and operator keys your build ships (docs/TRUST.md).
 * const trust = createTrustStore({ config, store: createIndexedDbStore(), ...log });
 * ```
 *
 * @packageDocumentation
 */
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
export { migrateFleet, planMigration, migrationKey } from './trust/migrate.js';
export type { MigrateFleetOptions, MigrationResult, MigrationStep } from './trust/migrate.js';
export type { FleetTrust, TrustedFleet } from './recovery/fleet-trust.js';
export type { VaultClient, VaultCallOptions, VaultStatus } from './recovery/vault-client.js';
export type { EnrollmentState } from './recovery/protocol.js';
export type { Keyring, KeyGeneration } from './recovery/keyring.js';
export type { KeyValueStore, StoredValue } from './storage/kv.js';
