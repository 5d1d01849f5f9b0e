/**
 * The one label table for every HKDF derivation and every signature / MAC domain separator in the
 * SDK. Each label is versioned; changing what a derivation means takes a new label, never a reuse.
 * docs/FORMAT.md, docs/PROTOCOL.md and docs/TRUST.md cite these by name.
 *
 * @module
 */

/** HKDF `info` / domain-separation labels, UTF-8 encoded where used. */
export const LABELS = {
  /** Archive: payload key (32 bytes) from BK and the header salt. */
  archivePayloadKey: 'e2ee-backup/v1/archive/payload-key',
  /** Archive: 16-byte XChaCha20 nonce prefix. */
  archiveNoncePrefix: 'e2ee-backup/v1/archive/nonce-prefix',
  /** Archive: 32-byte key commitment over the header. */
  archiveCommitment: 'e2ee-backup/v1/archive/commitment',
  /** Escrow: KEK from the OPAQUE export key, fleetId and accountId. */
  escrowKek: 'e2ee-backup/v1/escrow/kek',
  /** Escrow: transport key from the OPAQUE session key, wrapping the released escrow. */
  escrowTransport: 'e2ee-backup/v1/escrow/transport',
  /** Keyring: key from the self-custody recovery key. */
  selfCustodyKek: 'e2ee-backup/v1/keyring/self-custody-kek',
  /** Recovery code: prefix of the OPAQUE password bytes from a generated code (docs/RECOVERY-CODE.md). */
  recoveryCodeSecret: 'e2ee-backup/v1/secret/recovery-code',
  /** Recovery code: prefix of the OPAQUE password bytes from an app-chosen PIN or password. */
  passwordSecret: 'e2ee-backup/v1/secret/password',
  /** Keyring: associated data of a sealed keyring. */
  keyringAad: 'e2ee-backup/v1/keyring/aad',
  /** Manifest: key that seals backup manifests, from BK. */
  manifestKey: 'e2ee-backup/v1/manifest/key',
  /** Client: key that seals a persisted upload session (salt, upload id, part hashes), from BK. */
  uploadSessionKey: 'e2ee-backup/v1/client/upload-session-key',
  /** Device cache: associated data for the keyring sealed by the non-extractable device key. */
  deviceCacheAad: 'e2ee-backup/v1/device-cache/aad',
  /** Vault: key sealing a pending login's server state (expected KE3 MAC, session key) in the store. */
  vaultPendingLogin: 'e2ee-backup/v1/vault/pending-login',
  /** Vault: key sealing a registration ticket (the fresh per-registration OPRF salt) to the client. */
  vaultRegistrationTicket: 'e2ee-backup/v1/vault/registration-ticket',
  /** Vault: keys that authenticate a registration under the fleet's OPAQUE key (docs/PROTOCOL.md §3.1). */
  vaultRegistrationAuth: 'e2ee-backup/v2/vault/registration-auth',
  /** OPAQUE: context string prefix bound into every OPAQUE run. */
  opaqueContext: 'e2ee-backup/v1/opaque/context',
  /** Trust: witness signature domain separator. */
  witnessSignature: 'e2ee-backup/v1/trust/witness-signature',
  /** Trust: operator counter-signature domain separator. */
  operatorSignature: 'e2ee-backup/v1/trust/operator-signature',
  /** Blob store: domain separator of the reference server's HMAC-signed ("presigned") URLs. */
  blobPresign: 'e2ee-backup/v1/blob/presign',
  /** Trust: bundle digest domain separator. */
  bundleDigest: 'e2ee-backup/v1/trust/bundle',
  /** Trust: audit-log entry (the leaf data the witness logs for a bundle). */
  logEntry: 'e2ee-backup/v1/trust/log-entry',
  /** Incremental: keyed Gear table of the chunker (2048 bytes) from BK (docs/INCREMENTAL.md §3). */
  incrementalGearTable: 'e2ee-backup/v1/incremental/gear-table',
  /** Incremental: AES-256 key of the chunker's cut PRF from BK. */
  incrementalCutPrf: 'e2ee-backup/v1/incremental/cut-prf',
  /** Incremental: HMAC-SHA-256 key of chunk ids from BK. */
  incrementalChunkId: 'e2ee-backup/v1/incremental/chunk-id',
  /** Incremental: per-pack payload key from BK and the pack salt. */
  incrementalPackKey: 'e2ee-backup/v1/incremental/pack-key',
  /** Incremental: per-pack 16-byte XChaCha20 nonce prefix from BK and the pack salt. */
  incrementalPackNonce: 'e2ee-backup/v1/incremental/pack-nonce-prefix',
  /** Passkeys: KEK sealing an envelope's private key, from the PRF output (docs/PASSKEYS.md). */
  passkeyKek: 'e2ee-backup/v1/passkey/kek',
  /** Passkeys: key of the keyring box sealed to an envelope's X25519 public key. */
  passkeyKeyringBox: 'e2ee-backup/v1/passkey/keyring-box',
  /** Passkeys: MAC key authenticating an envelope's keyring box, from the keyring's first generation. */
  passkeyBoxAuth: 'e2ee-backup/v1/passkey/box-auth',
  /** Trust: checksum of the persisted trust-store record (corruption detection). */
  trustState: 'e2ee-backup/v1/trust/state',
} as const;

/** A label name. */
export type LabelName = keyof typeof LABELS;
