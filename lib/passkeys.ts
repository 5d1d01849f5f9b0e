/**
 * Passkeys (WebAuthn PRF, docs/PASSKEYS.md): protect and restore backups with a passkey beside the
 * recovery code. A `BackupClient` runs them when it is made with
 * `passkeys: passkeySupport({ authenticator })`; the package entry does not carry this code
 * (the envelope format, X25519), so apps without passkeys do not download it (docs/SIZE.md).
 *
 * Also here: the WebAuthn ceremonies ({@link createWebAuthnAuthenticator}), the blob-store envelope
 * store, and the envelope format itself for apps that keep envelopes in their own backend.
 *
 * @example
 * ```ts
 * const authenticator = createWebAuthnAuthenticator({ rp: { name: 'Chat' } });
 * const client = createBackupClient({ vault, store: blobStore, storage: kv, accountId, passkeys: passkeySupport({ authenticator }) });
 * await client.addPasskey({ name: 'This laptop', userName: 'alice@example.com' });
 * ```
 *
 * @packageDocumentation
 */
export { passkeySupport, blobPasskeyStore, MAX_PASSKEYS } from './recovery/passkeys.js';
export type { PasskeySupport, PasskeySupportOptions, PasskeyCallContext, PasskeyEnvelopeStore } from './recovery/passkeys.js';
export { createWebAuthnAuthenticator } from './recovery/passkey-webauthn.js';
export type {
  PasskeyAuthenticator,
  PasskeyCreateRequest,
  PasskeyCreateResult,
  PasskeyGetResult,
  PasskeyPrfInputs,
  WebAuthnAuthenticatorOptions,
} from './recovery/passkey-webauthn.js';
export {
  createPasskeyEnvelope,
  decodePasskeyEnvelope,
  encodePasskeyEnvelope,
  openPasskeyEnvelope,
  passkeyId,
  resealPasskeyEnvelope,
  PASSKEY_ENVELOPE_VERSION,
} from './recovery/passkey.js';
export type { NewPasskey, OpenedPasskeyEnvelope, PasskeyEnvelope, PasskeyInfo } from './recovery/passkey.js';
