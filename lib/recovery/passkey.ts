/**
 * Passkeys: protect the keyring with a WebAuthn passkey's PRF output (the `prf` extension, WebAuthn
 * Level 3 §10.1.4), as WhatsApp's passkey-encrypted backups and Bitwarden's passkey unlock do. The
 * PRF output is a 256-bit secret held by the authenticator, so no vault and no guess limit are
 * needed. Spec and vector: docs/PASSKEYS.md.
 *
 * Each passkey has an **envelope** the app may store anywhere (the blob store, or its own backend
 * through {@link PasskeyEnvelopeStore}): an X25519 key pair whose private key is sealed under a KEK
 * from the PRF output, and the keyring sealed to the public key. A keyring rotation re-seals the
 * keyring to every envelope's public key ({@link resealPasskeyEnvelope}) with no prompt; a PRF salt
 * rotates through the ceremony's second output ({@link openPasskeyEnvelope} with `next`).
 *
 * @module
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { BackupError } from '../errors.js';
import { LABELS } from '../labels.js';
import {
  abytes,
  concatBytes,
  equalBytes,
  fromUtf8,
  readU16BE,
  readU32BE,
  secureRandom,
  toHex,
  utf8,
  wipe,
  writeU32BE,
  type RandomSource,
} from '../util/bytes.js';
import { idBytes, lengthPrefixed, openKeyring, sealKeyring, wipeKeyring, type Keyring } from './keyring.js';

/** The envelope's magic bytes, "E2PK". */
const MAGIC = Uint8Array.of(0x45, 0x32, 0x50, 0x4b);
/** Envelope format version. */
export const PASSKEY_ENVELOPE_VERSION = 1;
/** Length of a PRF salt (the WebAuthn PRF input we choose) and of a PRF output. */
export const PASSKEY_PRF_LENGTH = 32;
/** WebAuthn allows credential ids of at most 1023 bytes (WebAuthn L3 §5.8.3, Credential ID). */
export const MAX_CREDENTIAL_ID_LENGTH = 1023;
/** Longest passkey name in UTF-8 bytes. */
export const MAX_PASSKEY_NAME_LENGTH = 128;
/** Longest sealed keyring an envelope may carry (256 generations, as the keyring format caps). */
const MAX_BOX_LENGTH = 64 * 1024;
const NONCE = 24;
const TAG = 16;
/** nonce ‖ XChaCha20-Poly1305(KEK, private key ‖ box MAC key). */
const SEALED_PRIVATE = NONCE + 64 + TAG;
const BOX_TAG = 32;

/** A passkey as the app lists it: no secret. */
export interface PasskeyInfo {
  /** The WebAuthn credential id (raw bytes). */
  readonly credentialId: Uint8Array;
  /** Hex id of the passkey (SHA-256 of the credential id, 16 bytes): stable, safe for URLs and blob keys. */
  readonly id: string;
  /** The name the user gave it ("MacBook", "Pixel"). */
  readonly name: string;
  /** When it was added, ms since the epoch. */
  readonly createdAt: number;
}

/** A parsed envelope (docs/PASSKEYS.md §Envelope). Holds no secret in the clear. */
export interface PasskeyEnvelope extends PasskeyInfo {
  /** The PRF input (salt) the private key is currently sealed under. */
  readonly prfSalt: Uint8Array;
  /** The envelope's X25519 public key: new keyring generations are sealed to it. */
  readonly publicKey: Uint8Array;
  /** nonce ‖ XChaCha20-Poly1305(KEK, private key ‖ box MAC key), AAD = the envelope header. */
  readonly sealedPrivateKey: Uint8Array;
  /** Ephemeral X25519 public key of the keyring box. */
  readonly boxEphemeral: Uint8Array;
  /** The keyring, sealed (docs/KEYRING.md) under a key from X25519(ephemeral, publicKey). */
  readonly boxKeyring: Uint8Array;
  /**
   * HMAC-SHA-256 of the box under the box MAC key, which only the PRF output (through the sealed
   * private key) or the account's keyring (its first generation) gives: whoever merely writes
   * envelopes cannot seal a keyring of their own into one.
   */
  readonly boxTag: Uint8Array;
}

function malformed(message: string): BackupError {
  return new BackupError('KEYRING_MALFORMED', `passkey envelope: ${message}`);
}

/** Hex id of a credential: SHA-256(credentialId)[0..16]. */
export function passkeyId(credentialId: Uint8Array): string {
  abytes(credentialId, 'credentialId');
  return toHex(sha256(credentialId).subarray(0, 16));
}

function checkCredentialId(credentialId: Uint8Array): void {
  abytes(credentialId, 'credentialId');
  if (credentialId.length === 0 || credentialId.length > MAX_CREDENTIAL_ID_LENGTH) {
    throw new RangeError(`credentialId must be 1 to ${MAX_CREDENTIAL_ID_LENGTH} bytes`);
  }
}

/** magic ‖ version ‖ u16 len ‖ credentialId ‖ u8 len ‖ name ‖ u64 createdAt ‖ prfSalt ‖ publicKey */
function header(e: Omit<PasskeyEnvelope, 'sealedPrivateKey' | 'boxEphemeral' | 'boxKeyring' | 'boxTag' | 'id'>): Uint8Array {
  const name = utf8(e.name);
  const out = new Uint8Array(4 + 1 + 2 + e.credentialId.length + 1 + name.length + 8 + 32 + 32);
  let o = 0;
  out.set(MAGIC, o);
  o += 4;
  out[o++] = PASSKEY_ENVELOPE_VERSION;
  out[o++] = e.credentialId.length >> 8;
  out[o++] = e.credentialId.length & 0xff;
  out.set(e.credentialId, o);
  o += e.credentialId.length;
  out[o++] = name.length;
  out.set(name, o);
  o += name.length;
  writeU32BE(out, o, Math.floor(e.createdAt / 2 ** 32));
  writeU32BE(out, o + 4, e.createdAt >>> 0);
  o += 8;
  out.set(e.prfSalt, o);
  o += 32;
  out.set(e.publicKey, o);
  return out;
}

/** Encode an envelope: header ‖ sealedPrivateKey (104) ‖ boxEphemeral (32) ‖ u32 len ‖ boxKeyring ‖ boxTag (32). */
export function encodePasskeyEnvelope(e: PasskeyEnvelope): Uint8Array {
  const len = new Uint8Array(4);
  writeU32BE(len, 0, e.boxKeyring.length);
  return concatBytes(header(e), e.sealedPrivateKey, e.boxEphemeral, len, e.boxKeyring, e.boxTag);
}

/**
 * Parse an envelope, capping every length (credential id, name, keyring box).
 *
 * @throws BackupError `KEYRING_MALFORMED` for bytes that are not a version-1 envelope.
 */
export function decodePasskeyEnvelope(bytes: Uint8Array): PasskeyEnvelope {
  abytes(bytes, 'envelope');
  if (bytes.length > 4 + 1 + 2 + MAX_CREDENTIAL_ID_LENGTH + 1 + MAX_PASSKEY_NAME_LENGTH + 8 + 64 + SEALED_PRIVATE + 36 + MAX_BOX_LENGTH + BOX_TAG) {
    throw malformed('too long');
  }
  let o = 0;
  const need = (n: number) => {
    if (o + n > bytes.length) throw malformed('truncated');
    const v = bytes.slice(o, o + n);
    o += n;
    return v;
  };
  if (!equalBytes(need(4), MAGIC)) throw malformed('not a passkey envelope');
  if (need(1)[0] !== PASSKEY_ENVELOPE_VERSION) throw malformed('unsupported version');
  const idLen = readU16BE(need(2), 0);
  if (idLen === 0 || idLen > MAX_CREDENTIAL_ID_LENGTH) throw malformed('credential id length out of range');
  const credentialId = need(idLen);
  const nameLen = need(1)[0]!;
  if (nameLen > MAX_PASSKEY_NAME_LENGTH) throw malformed('name too long');
  let name: string;
  try {
    name = fromUtf8(need(nameLen));
  } catch {
    throw malformed('name is not UTF-8');
  }
  const t = need(8);
  const createdAt = readU32BE(t, 0) * 2 ** 32 + readU32BE(t, 4);
  if (!Number.isSafeInteger(createdAt)) throw malformed('creation time out of range');
  const prfSalt = need(32);
  const publicKey = need(32);
  const sealedPrivateKey = need(SEALED_PRIVATE);
  const boxEphemeral = need(32);
  const boxLen = readU32BE(need(4), 0);
  if (boxLen > MAX_BOX_LENGTH) throw malformed('keyring box too long');
  const boxKeyring = need(boxLen);
  const boxTag = need(BOX_TAG);
  if (o !== bytes.length) throw malformed('trailing bytes');
  return Object.freeze({
    credentialId,
    id: passkeyId(credentialId),
    name,
    createdAt,
    prfSalt,
    publicKey,
    sealedPrivateKey,
    boxEphemeral,
    boxKeyring,
    boxTag,
  });
}

/**
 * KEK = HKDF-SHA-256(IKM = PRF output, salt = PRF salt,
 * info = lp(LABELS.passkeyKek) ‖ lp(accountId) ‖ lp(credentialId), L = 32).
 */
function deriveKek(prfOutput: Uint8Array, prfSalt: Uint8Array, account: Uint8Array, credentialId: Uint8Array): Uint8Array {
  abytes(prfOutput, 'PRF output', PASSKEY_PRF_LENGTH);
  return hkdf(sha256, prfOutput, prfSalt, lengthPrefixed(utf8(LABELS.passkeyKek), account, credentialId), 32);
}

function boxContext(account: Uint8Array, credentialId: Uint8Array): Uint8Array {
  return lengthPrefixed(utf8(LABELS.passkeyKeyringBox), account, credentialId);
}

/** Box key = HKDF-SHA-256(X25519 shared, ∅, lp(label) ‖ lp(account) ‖ lp(credentialId) ‖ lp(eph) ‖ lp(pub), 32). */
function boxKey(shared: Uint8Array, account: Uint8Array, credentialId: Uint8Array, eph: Uint8Array, pub: Uint8Array): Uint8Array {
  if (shared.every((b) => b === 0)) throw malformed('low-order public key');
  return hkdf(sha256, shared, undefined, lengthPrefixed(utf8(LABELS.passkeyKeyringBox), account, credentialId, eph, pub), 32);
}

/**
 * Box MAC key = HKDF-SHA-256(IKM = the keyring's first generation key, ∅,
 * lp(LABELS.passkeyBoxAuth) ‖ lp(accountId) ‖ lp(credentialId), 32). A rotation keeps the first
 * generation, so a rotated keyring re-seals without a prompt; a new keyring (a reset) cannot.
 */
function boxMacKey(keyring: Keyring, account: Uint8Array, credentialId: Uint8Array): Uint8Array {
  return hkdf(sha256, keyring.generations[0]!.key, undefined, lengthPrefixed(utf8(LABELS.passkeyBoxAuth), account, credentialId), 32);
}

/** HMAC-SHA-256(box MAC key, lp(header) ‖ boxEphemeral ‖ lp(boxKeyring)). */
function boxTagOf(macKey: Uint8Array, head: Uint8Array, boxEphemeral: Uint8Array, boxKeyring: Uint8Array): Uint8Array {
  return hmac(sha256, macKey, concatBytes(lengthPrefixed(head), boxEphemeral, lengthPrefixed(boxKeyring)));
}

function sealBox(keyring: Keyring, publicKey: Uint8Array, account: Uint8Array, credentialId: Uint8Array, random: RandomSource) {
  const eSecret = Uint8Array.from(abytes(random(32), 'random(32)', 32));
  let shared: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  try {
    const boxEphemeral = x25519.getPublicKey(eSecret);
    shared = x25519.getSharedSecret(eSecret, publicKey);
    key = boxKey(shared, account, credentialId, boxEphemeral, publicKey);
    return { boxEphemeral, boxKeyring: sealKeyring(keyring, key, boxContext(account, credentialId), random) };
  } finally {
    wipe(eSecret, shared, key);
  }
}

function sealPrivate(privateKey: Uint8Array, kek: Uint8Array, aad: Uint8Array, random: RandomSource): Uint8Array {
  const nonce = Uint8Array.from(abytes(random(NONCE), 'random(24)', NONCE));
  return concatBytes(nonce, xchacha20poly1305(kek, nonce, aad).encrypt(privateKey));
}

/** What {@link createPasskeyEnvelope} needs from the ceremony that made (or first used) the passkey. */
export interface NewPasskey {
  /** The credential's raw id. */
  readonly credentialId: Uint8Array;
  /** The salt that was given to the authenticator as PRF input `first`. */
  readonly prfSalt: Uint8Array;
  /** The authenticator's PRF output for `prfSalt`. Secret: the caller wipes it afterwards. */
  readonly prfOutput: Uint8Array;
  /** The name the user gives the passkey (at most 128 UTF-8 bytes). */
  readonly name: string;
  /** When it was added, ms since the epoch. */
  readonly createdAt: number;
}

/**
 * Make the envelope of a new passkey for this account: a fresh X25519 key pair, its private key
 * sealed under the KEK from the PRF output, the keyring sealed to its public key.
 *
 * @example
 * ```ts
 * const envelope = createPasskeyEnvelope(keyring, 'user-42', { credentialId, prfSalt, prfOutput, name: 'Laptop', createdAt: Date.now() });
 * ```
 */
export function createPasskeyEnvelope(
  keyring: Keyring,
  accountId: string,
  passkey: NewPasskey,
  random: RandomSource = secureRandom,
): PasskeyEnvelope {
  const account = idBytes(accountId, 'accountId');
  checkCredentialId(passkey.credentialId);
  abytes(passkey.prfSalt, 'prfSalt', PASSKEY_PRF_LENGTH);
  if (typeof passkey.name !== 'string' || utf8(passkey.name).length > MAX_PASSKEY_NAME_LENGTH) {
    throw new RangeError(`name must be a string of at most ${MAX_PASSKEY_NAME_LENGTH} UTF-8 bytes`);
  }
  if (!Number.isSafeInteger(passkey.createdAt) || passkey.createdAt < 0) throw new RangeError('createdAt must be ms since the epoch');
  const privateKey = Uint8Array.from(abytes(random(32), 'random(32)', 32));
  let kek: Uint8Array | undefined;
  let macKey: Uint8Array | undefined;
  let secret: Uint8Array | undefined;
  try {
    kek = deriveKek(passkey.prfOutput, passkey.prfSalt, account, passkey.credentialId);
    macKey = boxMacKey(keyring, account, passkey.credentialId);
    secret = concatBytes(privateKey, macKey);
    const base = {
      credentialId: Uint8Array.from(passkey.credentialId),
      name: passkey.name,
      createdAt: passkey.createdAt,
      prfSalt: Uint8Array.from(passkey.prfSalt),
      publicKey: x25519.getPublicKey(privateKey),
    };
    const head = header(base);
    const sealedPrivateKey = sealPrivate(secret, kek, head, random);
    const box = sealBox(keyring, base.publicKey, account, base.credentialId, random);
    return Object.freeze({
      ...base,
      id: passkeyId(base.credentialId),
      sealedPrivateKey,
      ...box,
      boxTag: boxTagOf(macKey, head, box.boxEphemeral, box.boxKeyring),
    });
  } finally {
    wipe(privateKey, kek, macKey, secret);
  }
}

/**
 * Re-seal the keyring (a new generation, say) to an envelope's public key: no ceremony, no PRF.
 *
 * @example
 * ```ts
 * const updated = resealPasskeyEnvelope(envelope, rotated, 'user-42');
 * ```
 */
export function resealPasskeyEnvelope(
  envelope: PasskeyEnvelope,
  keyring: Keyring,
  accountId: string,
  random: RandomSource = secureRandom,
): PasskeyEnvelope {
  const account = idBytes(accountId, 'accountId');
  const box = sealBox(keyring, envelope.publicKey, account, envelope.credentialId, random);
  const macKey = boxMacKey(keyring, account, envelope.credentialId);
  try {
    return Object.freeze({ ...envelope, ...box, boxTag: boxTagOf(macKey, header(envelope), box.boxEphemeral, box.boxKeyring) });
  } finally {
    wipe(macKey);
  }
}

/** The result of {@link openPasskeyEnvelope}. */
export interface OpenedPasskeyEnvelope {
  /** The keyring: the caller owns it and wipes it. */
  readonly keyring: Keyring;
  /** The envelope re-sealed under the next salt, when `next` was given (store it in place of the old). */
  readonly rotated?: PasskeyEnvelope;
}

/**
 * Open an envelope with the PRF output for its salt; optionally re-seal the private key under the
 * ceremony's second PRF output (`next`: the new salt and its output), so the salt rotates in the
 * same prompt.
 *
 * @throws BackupError `PASSKEY_AUTH_FAILED` when the PRF output is not the one the envelope was
 *   sealed with (another passkey, another account, a changed authenticator), never a wrong key.
 *
 * @example
 * ```ts
 * const { keyring } = openPasskeyEnvelope(envelope, prfOutput, 'user-42');
 * ```
 */
export function openPasskeyEnvelope(
  envelope: PasskeyEnvelope,
  prfOutput: Uint8Array,
  accountId: string,
  next?: { readonly prfSalt: Uint8Array; readonly prfOutput: Uint8Array },
  random: RandomSource = secureRandom,
): OpenedPasskeyEnvelope {
  const account = idBytes(accountId, 'accountId');
  const kek = deriveKek(prfOutput, envelope.prfSalt, account, envelope.credentialId);
  const sealed = envelope.sealedPrivateKey;
  let secret: Uint8Array;
  try {
    secret = xchacha20poly1305(kek, sealed.subarray(0, NONCE), header(envelope)).decrypt(sealed.subarray(NONCE));
  } catch (e) {
    throw new BackupError(
      'PASSKEY_AUTH_FAILED',
      'the passkey gave a PRF output this envelope was not sealed with (another passkey or account, or the authenticator changed it)',
      { cause: e },
    );
  } finally {
    wipe(kek);
  }
  const privateKey = secret.subarray(0, 32);
  let shared: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  try {
    if (!equalBytes(x25519.getPublicKey(privateKey), envelope.publicKey)) throw malformed('public key does not match its private key');
    // The box must come from a holder of the PRF output or of the account's keyring (constant-time compare).
    if (!equalBytes(boxTagOf(secret.subarray(32), header(envelope), envelope.boxEphemeral, envelope.boxKeyring), envelope.boxTag)) {
      throw new BackupError(
        'PASSKEY_AUTH_FAILED',
        "the envelope's keyring was not sealed by a holder of this account's keyring (a substituted envelope, or one left from before a reset)",
      );
    }
    shared = x25519.getSharedSecret(privateKey, envelope.boxEphemeral);
    key = boxKey(shared, account, envelope.credentialId, envelope.boxEphemeral, envelope.publicKey);
    const keyring = openKeyring(envelope.boxKeyring, key, boxContext(account, envelope.credentialId));
    if (next === undefined) return { keyring };
    let nextKek: Uint8Array | undefined;
    try {
      abytes(next.prfSalt, 'next.prfSalt', PASSKEY_PRF_LENGTH);
      const base = { ...envelope, prfSalt: Uint8Array.from(next.prfSalt) };
      nextKek = deriveKek(next.prfOutput, base.prfSalt, account, envelope.credentialId);
      const head = header(base);
      return { keyring, rotated: Object.freeze({ ...base, sealedPrivateKey: sealPrivate(secret, nextKek, head, random), boxTag: boxTagOf(secret.subarray(32), head, base.boxEphemeral, base.boxKeyring) }) };
    } catch (e) {
      // The keyring is never returned on this path: wipe it.
      wipeKeyring(keyring);
      throw e;
    } finally {
      wipe(nextKek);
    }
  } finally {
    wipe(secret, shared, key);
  }
}
