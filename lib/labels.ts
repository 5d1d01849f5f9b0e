/**
 * The one label table for every HKDF derivation and every signature / MAC domain separator in the
 * SDK. Each label is versioned; changing what a derivation means takes a new label, never a reuse.
 * docs/FORMAT.md, docs/PROTOCOL.md and docs/TRUST.md cite these by name. HKDF `info` /
 * domain-separation labels, UTF-8 encoded where used.
 *
 * @module
 */

/** Archive: payload key (32 bytes) from BK and the header salt. */
export const archivePayloadKey = 'e2ee-backup/v1/archive/payload-key';

/** Archive: 16-byte XChaCha20 nonce prefix. */
export const archiveNoncePrefix = 'e2ee-backup/v1/archive/nonce-prefix';

/** Archive: 32-byte key commitment over the header. */
export const archiveCommitment = 'e2ee-backup/v1/archive/commitment';

/** Escrow: KEK from the OPAQUE export key, fleetId and accountId. */
export const escrowKek = 'e2ee-backup/v1/escrow/kek';

/** Escrow: transport key from the OPAQUE session key, wrapping the released escrow. */
export const escrowTransport = 'e2ee-backup/v1/escrow/transport';

/** Keyring: key from the self-custody recovery key. */
export const selfCustodyKek = 'e2ee-backup/v1/keyring/self-custody-kek';

/** Recovery code: prefix of the OPAQUE password bytes from a generated code (docs/RECOVERY-CODE.md). */
export const recoveryCodeSecret = 'e2ee-backup/v1/secret/recovery-code';

/** Recovery code: prefix of the OPAQUE password bytes from an app-chosen PIN or password. */
export const passwordSecret = 'e2ee-backup/v1/secret/password';

/** Keyring: associated data of a sealed keyring. */
export const keyringAad = 'e2ee-backup/v1/keyring/aad';

/** Manifest: key that seals backup manifests, from BK. */
export const manifestKey = 'e2ee-backup/v1/manifest/key';

/** Client: key that seals a persisted upload session (salt, upload id, part hashes), from BK. */
export const uploadSessionKey = 'e2ee-backup/v1/client/upload-session-key';

/** Device cache: associated data for the keyring sealed by the non-extractable device key. */
export const deviceCacheAad = 'e2ee-backup/v1/device-cache/aad';

/** Vault: key sealing a pending login's server state (expected KE3 MAC, session key) in the store. */
export const vaultPendingLogin = 'e2ee-backup/v1/vault/pending-login';

/** Vault: key sealing a registration ticket (the fresh per-registration OPRF salt) to the client. */
export const vaultRegistrationTicket = 'e2ee-backup/v1/vault/registration-ticket';

/** Vault: keys that authenticate a registration under the fleet's OPAQUE key (docs/PROTOCOL.md §3.1). */
export const vaultRegistrationAuth = 'e2ee-backup/v2/vault/registration-auth';

/** OPAQUE: context string prefix bound into every OPAQUE run. */
export const opaqueContext = 'e2ee-backup/v1/opaque/context';

/** Trust: witness signature domain separator. */
export const witnessSignature = 'e2ee-backup/v1/trust/witness-signature';

/** Trust: operator counter-signature domain separator. */
export const operatorSignature = 'e2ee-backup/v1/trust/operator-signature';

/** Blob store: domain separator of the reference server's HMAC-signed ("presigned") URLs. */
export const blobPresign = 'e2ee-backup/v1/blob/presign';

/** Trust: bundle digest domain separator. */
export const bundleDigest = 'e2ee-backup/v1/trust/bundle';

/** Trust: audit-log entry (the leaf data the witness logs for a bundle). */
export const logEntry = 'e2ee-backup/v1/trust/log-entry';

/** Incremental: keyed Gear table of the chunker (2048 bytes) from BK (docs/INCREMENTAL.md §3). */
export const incrementalGearTable = 'e2ee-backup/v1/incremental/gear-table';

/** Incremental: AES-256 key of the chunker's cut PRF from BK. */
export const incrementalCutPrf = 'e2ee-backup/v1/incremental/cut-prf';

/** Incremental: HMAC-SHA-256 key of chunk ids from BK. */
export const incrementalChunkId = 'e2ee-backup/v1/incremental/chunk-id';

/** Incremental: per-pack payload key from BK and the pack salt. */
export const incrementalPackKey = 'e2ee-backup/v1/incremental/pack-key';

/** Incremental: per-pack 16-byte XChaCha20 nonce prefix from BK and the pack salt. */
export const incrementalPackNonce = 'e2ee-backup/v1/incremental/pack-nonce-prefix';

/** Passkeys: KEK sealing an envelope's private key, from the PRF output (docs/PASSKEYS.md). */
export const passkeyKek = 'e2ee-backup/v1/passkey/kek';

/** Passkeys: key of the keyring box sealed to an envelope's X25519 public key. */
export const passkeyKeyringBox = 'e2ee-backup/v1/passkey/keyring-box';

/** Passkeys: MAC key authenticating an envelope's keyring box, from the keyring's first generation. */
export const passkeyBoxAuth = 'e2ee-backup/v1/passkey/box-auth';

/** Trust: checksum of the persisted trust-store record (corruption detection). */
export const trustState = 'e2ee-backup/v1/trust/state';

/**
 * Every label above as one object (`e2ee-backup/protocol` exports it). SDK code imports the
 * labels it uses by name (`import * as labels`), so a bundle carries only those.
 */
export const LABELS = {
  archivePayloadKey,
  archiveNoncePrefix,
  archiveCommitment,
  escrowKek,
  escrowTransport,
  selfCustodyKek,
  recoveryCodeSecret,
  passwordSecret,
  keyringAad,
  manifestKey,
  uploadSessionKey,
  deviceCacheAad,
  vaultPendingLogin,
  vaultRegistrationTicket,
  vaultRegistrationAuth,
  opaqueContext,
  witnessSignature,
  operatorSignature,
  blobPresign,
  bundleDigest,
  logEntry,
  incrementalGearTable,
  incrementalCutPrf,
  incrementalChunkId,
  incrementalPackKey,
  incrementalPackNonce,
  passkeyKek,
  passkeyKeyringBox,
  passkeyBoxAuth,
  trustState,
} as const;

/** A label name. */
export type LabelName = keyof typeof LABELS;
