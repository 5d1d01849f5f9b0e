/**
 * The seam between the vault protocol and an OPAQUE implementation (RFC 9807). The vault client
 * and the reference vault only speak this interface, with `Uint8Array` at every boundary, so a
 * second suite (opaque-ke through `@serenity-kit/opaque`, ristretto255 + Argon2id) can be added
 * without touching them (DESIGN.md "OPAQUE").
 *
 * Key material that crosses the boundary (`exportKey`, `sessionKey`) is a fresh `Uint8Array` the
 * caller owns and wipes after use.
 *
 * @module
 */
import type { OpaqueBinding } from '../protocol.js';

/** A started client registration (RFC 9807 §5.2.1 CreateRegistrationRequest). */
export interface OpaqueRegistrationStart {
  /** The RegistrationRequest to send to the vault. */
  readonly request: Uint8Array;
  /**
   * The server public key carried in a RegistrationResponse, read without finishing, so the
   * caller can check fleet trust before spending the KSF's CPU. Throws `PROTOCOL` when malformed.
   */
  serverPublicKey(response: Uint8Array): Uint8Array;
  /**
   * RFC 9807 §5.2.3 FinalizeRegistrationRequest. Single use. Throws `BackupError('PROTOCOL')`
   * on a malformed response.
   */
  finish(response: Uint8Array, binding: OpaqueBinding): Promise<OpaqueRegistrationResult>;
}

/** The result of a finished registration; `exportKey` is the caller's to wipe. */
export interface OpaqueRegistrationResult {
  /** The RegistrationRecord the vault stores. */
  readonly record: Uint8Array;
  /** RFC 9807 export_key: never leaves the device; the escrow KEK is derived from it. */
  readonly exportKey: Uint8Array;
  /** The server public key the record was made for. */
  readonly serverPublicKey: Uint8Array;
}

/** A started client login (RFC 9807 §6.2.3 GenerateKE1). */
export interface OpaqueLoginStart {
  /** KE1, sent to the vault. */
  readonly ke1: Uint8Array;
  /**
   * RFC 9807 §6.2.3 GenerateKE3. Resolves `undefined` when the envelope does not open or the
   * server MAC does not verify: a wrong code (or a vault that does not hold this record), an
   * ordinary outcome. The binding's server identity names the server public key the vault
   * announced; the envelope MAC (RFC 9807 §4.1.3) covers both that identity and the key sealed at
   * registration, so a login only succeeds against the key the client checked. Throws `BackupError('PROTOCOL')` when KE2 is malformed. Single use.
   */
  finish(ke2: Uint8Array, binding: OpaqueBinding): Promise<OpaqueLoginResult | undefined>;
}

/** A successful client login; `sessionKey` and `exportKey` are the caller's to wipe. */
export interface OpaqueLoginResult {
  /** KE3, sent to the vault. */
  readonly ke3: Uint8Array;
  /** RFC 9807 session_key shared with the vault. */
  readonly sessionKey: Uint8Array;
  /** RFC 9807 export_key (the same as at registration). */
  readonly exportKey: Uint8Array;
}

/**
 * Diffie-Hellman in a suite's AKE group (RFC 9807 §6.4.1 `DiffieHellman(k, B) =
 * SerializeElement(k·B)`). The vault protocol uses it *above* OPAQUE to authenticate registration
 * under the fleet's OPAQUE key (docs/PROTOCOL.md §3.1), which OPAQUE itself does not do.
 */
export interface OpaqueKeyAgreement {
  /** A fresh ephemeral key pair in the AKE group; the caller wipes `secretKey`. */
  generateKeyPair(): {
    /** The secret scalar (serialized as the suite's `SerializeScalar`); wipe after use. */
    secretKey: Uint8Array;
    /** The serialized public element. */
    publicKey: Uint8Array;
  };
  /**
   * `DiffieHellman(secretKey, publicKey)`: a fresh array the caller wipes. Throws
   * `BackupError('PROTOCOL')` unless `publicKey` is a valid, non-identity element of the group.
   */
  dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
}

/** The server half of a suite, bound to one key pair and OPRF seed. */
export interface OpaqueServer {
  /** The suite id. */
  readonly suite: string;
  /** The server's OPAQUE public key: what fleet trust pins. */
  readonly publicKey: Uint8Array;
  /** RFC 9807 §5.2.2 CreateRegistrationResponse. Throws `PROTOCOL` on a malformed request. */
  registrationResponse(request: Uint8Array, binding: OpaqueBinding): Promise<Uint8Array>;
  /** Throws `PROTOCOL` unless `record` is a well-formed RegistrationRecord of this suite. */
  checkRecord(record: Uint8Array): void;
  /**
   * RFC 9807 §6.2.4 GenerateKE2. `expected` is the server's secret state until KE3 (expected
   * client MAC and session key); the caller keeps it confidential and wipes it.
   */
  startLogin(
    ke1: Uint8Array,
    record: Uint8Array,
    binding: OpaqueBinding,
  ): Promise<{
    /** The serialized KE2 message to send to the client. */
    ke2: Uint8Array;
    /** Server secret state kept until KE3 (expected client MAC and session key); wipe after use. */
    expected: Uint8Array;
  }>;
  /**
   * RFC 9807 §6.2.4 ServerFinish: the session key when KE3 verifies, `undefined` when it does
   * not. Throws `PROTOCOL` when KE3 or `expected` is malformed.
   */
  finishLogin(ke3: Uint8Array, expected: Uint8Array): Uint8Array | undefined;
  /**
   * `DiffieHellman(server AKE private key, peerPublicKey)` (RFC 9807 §6.4.1), for the registration
   * authentication above OPAQUE (docs/PROTOCOL.md §3.1): a fresh array the caller wipes. Throws
   * `BackupError('PROTOCOL')` unless `peerPublicKey` is a valid, non-identity group element.
   */
  keyAgreement(peerPublicKey: Uint8Array): Uint8Array;
}

/**
 * An OPAQUE suite: client operations, server construction and server setup generation. The
 * suite id travels in every vault message and in the fleet's bundle entry, so a client never
 * runs a suite its fleet did not publish.
 */
export interface OpaqueSuite {
  /** Stable suite id, e.g. `opaque-ts/P256-SHA256-scrypt/v1`. */
  readonly id: string;
  /** Start a registration with the password bytes (the normalized recovery code). */
  startRegistration(password: Uint8Array): Promise<OpaqueRegistrationStart>;
  /** Start a login with the password bytes. */
  startLogin(password: Uint8Array): Promise<OpaqueLoginStart>;
  /** A fresh server setup (OPRF seed and AKE key pair), serialized; a secret of the vault. */
  generateServerSetup(): Promise<Uint8Array>;
  /** The public key inside a serialized server setup. */
  setupPublicKey(setup: Uint8Array): Uint8Array;
  /**
   * Diffie-Hellman in this suite's AKE group, for the client side of the registration
   * authentication (docs/PROTOCOL.md §3.1). Async so that a lazily loaded suite can load first.
   */
  keyAgreement(): Promise<OpaqueKeyAgreement>;
  /** An OPAQUE server for a setup and the fleet's server identity. */
  server(setup: Uint8Array, binding: Pick<OpaqueBinding, 'serverIdentity'>): OpaqueServer;
}
