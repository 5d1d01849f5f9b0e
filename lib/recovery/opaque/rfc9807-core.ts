/**
 * @internal OPAQUE-3DH as published in RFC 9807, on our RFC 9497 OPRF (rfc9497.ts), `@noble/curves`
 * (the group arithmetic) and `@noble/hashes` (HKDF, HMAC, SHA-2): the envelope (§4), registration (§5),
 * credential retrieval (§6.3) and the 3DH key schedule (§6.4), as pure functions whose randomness
 * (blinds, nonces, key-share seeds) is an explicit argument, so RFC 9807 Appendix C's vectors run
 * through the same code as production (test/recovery/opaque-rfc9807.test.ts).
 *
 * Every function takes and returns `Uint8Array`s; intermediate secrets (OPRF output, randomized
 * password, envelope keys, Diffie-Hellman outputs, the PRK and handshake secret, MAC keys) are
 * wiped before returning. Scalars inside noble's arithmetic are `bigint`s, which cannot be wiped
 * (docs/PROTOCOL.md §Known limits).
 *
 * Wire sizes (Nn = Nseed = Nok = 32; Nm = Nx = Nh):
 *
 * | message              | bytes                                   |
 * |----------------------|-----------------------------------------|
 * | RegistrationRequest  | Noe                                     |
 * | RegistrationResponse | Noe + Npk                               |
 * | RegistrationRecord   | Npk + Nh + Nn + Nm                      |
 * | KE1                  | Noe + Nn + Npk                          |
 * | KE2                  | Noe + Nn + (Npk + Nn + Nm) + Nn + Npk + Nm |
 * | KE3                  | Nm                                      |
 *
 * @module
 */
import { extract, expand } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import type { CHash } from '@noble/hashes/utils.js';
import { concatBytes, equalBytes, utf8, wipe, type RandomSource } from '../../util/bytes.js';
import { lp, u16, type Rfc9497Oprf } from './rfc9497.js';

/** Nonce length (RFC 9807 §4 `Nn`). */
export const NN = 32;
/** Seed length for DeriveDiffieHellmanKeyPair (`Nseed`) and the OPRF key seed (`Nok`). */
export const NSEED = 32;

/** A hash function as noble describes it (what HKDF and HMAC need). */
export type Rfc9807Hash = CHash;

/**
 * @internal One prime-order group with its RFC 9497 OPRF (mode 0x00) and hash, as RFC 9807 §7
 * pairs them (`ristretto255-SHA512`, `P256-SHA256`).
 */
export interface Rfc9807Group extends Rfc9497Oprf {
  /** RFC 9497 suite name, also the OPRF's context string suffix. */
  readonly name: string;
  /** Serialized element length (`Noe` = `Npk`). */
  readonly Noe: number;
  /** Serialized scalar length (`Nsk`). */
  readonly Nsk: number;
  /** Hash output length (`Nh` = `Nm` = `Nx`). */
  readonly Nh: number;
  /** The hash (SHA-512 or SHA-256). */
  readonly hash: Rfc9807Hash;
}

/** The sizes of one suite's messages. */
export interface Rfc9807Sizes {
  readonly Noe: number;
  readonly Npk: number;
  readonly Nsk: number;
  readonly Nh: number;
  readonly request: number;
  readonly response: number;
  readonly envelope: number;
  readonly record: number;
  readonly credentialResponse: number;
  readonly ke1: number;
  readonly ke2: number;
  readonly ke3: number;
}

/** @internal Message sizes for a group. */
export function sizes(g: Rfc9807Group): Rfc9807Sizes {
  const { Noe, Nsk, Nh } = g;
  const Npk = Noe;
  const envelope = NN + Nh;
  const credentialResponse = Noe + NN + Npk + envelope;
  return {
    Noe,
    Npk,
    Nsk,
    Nh,
    request: Noe,
    response: Noe + Npk,
    envelope,
    record: Npk + Nh + envelope,
    credentialResponse,
    ke1: Noe + NN + Npk,
    ke2: credentialResponse + NN + Npk + Nh,
    ke3: Nh,
  };
}

/**
 * A key stretching function (RFC 9807 §2.3 "KSF"): `Stretch(msg)`, Nh bytes out. Its
 * `id` (with its parameters) is part of the suite id.
 */
export interface Rfc9807Ksf {
  /** Name and parameters, e.g. `argon2id-m65536-t1-p1`. */
  readonly id: string;
  /** Stretch the OPRF output to `dkLen` bytes. */
  stretch(input: Uint8Array, dkLen: number): Promise<Uint8Array>;
}

const LABEL_OPRF_KEY = utf8('OprfKey');
const LABEL_DERIVE_KEY_PAIR = utf8('OPAQUE-DeriveKeyPair');
const LABEL_DERIVE_DH_KEY_PAIR = utf8('OPAQUE-DeriveDiffieHellmanKeyPair');
const LABEL_MASKING_KEY = utf8('MaskingKey');
const LABEL_AUTH_KEY = utf8('AuthKey');
const LABEL_EXPORT_KEY = utf8('ExportKey');
const LABEL_PRIVATE_KEY = utf8('PrivateKey');
const LABEL_PAD = utf8('CredentialResponsePad');
const LABEL_PREAMBLE = utf8('OPAQUEv1-');
const EMPTY = new Uint8Array(0);

function xorInto(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** RFC 9807 §6.4.2 Expand-Label with the "OPAQUE-" prefix (TLS 1.3 HkdfLabel layout). */
function expandLabel(g: Rfc9807Group, secret: Uint8Array, label: string, context: Uint8Array, length: number): Uint8Array {
  const full = utf8(`OPAQUE-${label}`);
  const info = concatBytes(u16(length), Uint8Array.of(full.length), full, Uint8Array.of(context.length), context);
  return expand(g.hash, secret, info, length);
}

/** DeriveDiffieHellmanKeyPair (RFC 9807 §6.4.1): RFC 9497 DeriveKeyPair with the DH label. */
export function deriveDhKeyPair(g: Rfc9807Group, seed: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array } {
  return g.deriveKeyPair(seed, LABEL_DERIVE_DH_KEY_PAIR);
}

/** DiffieHellman(k, B) (RFC 9807 §6.4.1): SerializeElement(k · B). */
export function dh(g: Rfc9807Group, secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return g.decode(publicKey).multiply(g.scalar(secretKey)).toBytes();
}

/** The per-credential OPRF key (RFC 9807 §5.2.2): DeriveKeyPair(Expand(oprf_seed, id ‖ "OprfKey", Nok), "OPAQUE-DeriveKeyPair"). */
function oprfKey(g: Rfc9807Group, oprfSeed: Uint8Array, credentialIdentifier: Uint8Array): Uint8Array {
  const seed = expand(g.hash, oprfSeed, concatBytes(credentialIdentifier, LABEL_OPRF_KEY), NSEED);
  try {
    return g.deriveKeyPair(seed, LABEL_DERIVE_KEY_PAIR).secretKey;
  } finally {
    wipe(seed);
  }
}

/** Finalize, Stretch and Extract (RFC 9807 §5.2.3): randomized_password. */
async function randomizedPassword(
  g: Rfc9807Group,
  ksf: Rfc9807Ksf,
  password: Uint8Array,
  blind: Uint8Array,
  evaluated: Uint8Array,
): Promise<Uint8Array> {
  const oprfOutput = g.finalize(password, blind, evaluated);
  let stretched: Uint8Array | undefined;
  let ikm: Uint8Array | undefined;
  try {
    stretched = await ksf.stretch(oprfOutput, g.Nh);
    ikm = concatBytes(oprfOutput, stretched);
    return extract(g.hash, ikm, EMPTY);
  } finally {
    wipe(oprfOutput, stretched, ikm);
  }
}

/** The envelope's key material from randomized_password and a nonce (RFC 9807 §4.1.2). */
function envelopeKeys(g: Rfc9807Group, rwd: Uint8Array, nonce: Uint8Array) {
  const authKey = expand(g.hash, rwd, concatBytes(nonce, LABEL_AUTH_KEY), g.Nh);
  const exportKey = expand(g.hash, rwd, concatBytes(nonce, LABEL_EXPORT_KEY), g.Nh);
  const seed = expand(g.hash, rwd, concatBytes(nonce, LABEL_PRIVATE_KEY), NSEED);
  const kp = deriveDhKeyPair(g, seed);
  wipe(seed);
  return { authKey, exportKey, clientSecretKey: kp.secretKey, clientPublicKey: kp.publicKey };
}

/** The envelope MAC input: nonce ‖ CleartextCredentials (RFC 9807 §4.1.2, §4). */
function cleartextCredentials(serverPublicKey: Uint8Array, serverIdentity: Uint8Array, clientIdentity: Uint8Array): Uint8Array {
  return concatBytes(serverPublicKey, lp(serverIdentity), lp(clientIdentity));
}

// ---------------------------------------------------------------------------------------------
// Registration (RFC 9807 §5).

/** CreateRegistrationRequest / CreateCredentialRequest with a given blind: the blinded message. */
export function blindedMessage(g: Rfc9807Group, password: Uint8Array, blind: Uint8Array): Uint8Array {
  return g.blindWith(password, blind);
}

/** A fresh blind and blinded message (RFC 9497 Blind, the scalar from `random`). */
export function blindRandom(g: Rfc9807Group, password: Uint8Array, random: RandomSource): { blind: Uint8Array; blinded: Uint8Array } {
  return g.blind(password, random);
}

/** CreateRegistrationResponse (RFC 9807 §5.2.2). */
export function createRegistrationResponse(
  g: Rfc9807Group,
  request: Uint8Array,
  serverPublicKey: Uint8Array,
  credentialIdentifier: Uint8Array,
  oprfSeed: Uint8Array,
): Uint8Array {
  const k = oprfKey(g, oprfSeed, credentialIdentifier);
  try {
    return concatBytes(g.blindEvaluate(k, request), serverPublicKey);
  } finally {
    wipe(k);
  }
}

/** FinalizeRegistrationRequest (RFC 9807 §5.2.3) with Store (§4.1.2); identities default to public keys. */
export async function finalizeRegistrationRequest(
  g: Rfc9807Group,
  ksf: Rfc9807Ksf,
  password: Uint8Array,
  blind: Uint8Array,
  response: Uint8Array,
  serverIdentity: Uint8Array | undefined,
  clientIdentity: Uint8Array | undefined,
  envelopeNonce: Uint8Array,
): Promise<{ record: Uint8Array; exportKey: Uint8Array }> {
  const evaluated = response.subarray(0, g.Noe);
  const serverPublicKey = response.subarray(g.Noe);
  const rwd = await randomizedPassword(g, ksf, password, blind, evaluated);
  const maskingKey = expand(g.hash, rwd, LABEL_MASKING_KEY, g.Nh);
  const keys = envelopeKeys(g, rwd, envelopeNonce);
  wipe(rwd);
  try {
    const creds = cleartextCredentials(serverPublicKey, serverIdentity ?? serverPublicKey, clientIdentity ?? keys.clientPublicKey);
    const tag = hmac(g.hash, keys.authKey, concatBytes(envelopeNonce, creds));
    return { record: concatBytes(keys.clientPublicKey, maskingKey, envelopeNonce, tag), exportKey: keys.exportKey };
  } finally {
    wipe(maskingKey, keys.authKey, keys.clientSecretKey);
  }
}

// ---------------------------------------------------------------------------------------------
// Online AKE (RFC 9807 §6).

/** The client's state between KE1 and KE3 (RFC 9807 §6.4 ClientAkeState, plus the OPRF blind). */
export interface ClientLoginState {
  readonly blind: Uint8Array;
  readonly clientSecret: Uint8Array;
  readonly ke1: Uint8Array;
}

/** GenerateKE1 (RFC 9807 §6.2.3, §6.4.3 AuthClientStart) from explicit randomness. */
export function generateKE1(
  g: Rfc9807Group,
  blinded: Uint8Array,
  blind: Uint8Array,
  clientNonce: Uint8Array,
  clientKeyshareSeed: Uint8Array,
): ClientLoginState {
  const kp = deriveDhKeyPair(g, clientKeyshareSeed);
  return { blind, clientSecret: kp.secretKey, ke1: concatBytes(blinded, clientNonce, kp.publicKey) };
}

/** Preamble (RFC 9807 §6.4.2). */
function preamble(
  context: Uint8Array,
  clientIdentity: Uint8Array,
  ke1: Uint8Array,
  serverIdentity: Uint8Array,
  credentialResponse: Uint8Array,
  serverNonce: Uint8Array,
  serverKeyshare: Uint8Array,
): Uint8Array {
  return concatBytes(LABEL_PREAMBLE, lp(context), lp(clientIdentity), ke1, lp(serverIdentity), credentialResponse, serverNonce, serverKeyshare);
}

/** DeriveKeys (RFC 9807 §6.4.2): Km2, Km3, session_key. The caller wipes them. */
function deriveKeys(g: Rfc9807Group, ikm: Uint8Array, preambleHash: Uint8Array) {
  const prk = extract(g.hash, ikm, EMPTY);
  const hs = expandLabel(g, prk, 'HandshakeSecret', preambleHash, g.Nh);
  const sessionKey = expandLabel(g, prk, 'SessionKey', preambleHash, g.Nh);
  const km2 = expandLabel(g, hs, 'ServerMAC', EMPTY, g.Nh);
  const km3 = expandLabel(g, hs, 'ClientMAC', EMPTY, g.Nh);
  wipe(prk, hs);
  return { km2, km3, sessionKey };
}

/** What the server keeps between KE2 and KE3: expected_client_mac ‖ session_key. */
export interface ServerLoginOutput {
  readonly ke2: Uint8Array;
  /** expected_client_mac (Nm) ‖ session_key (Nx): secret, the caller wipes it. */
  readonly expected: Uint8Array;
}

/**
 * GenerateKE2 (RFC 9807 §6.2.4) with CreateCredentialResponse (§6.3.2.2) and AuthServerRespond
 * (§6.4.4), from explicit randomness. `record` may be a fake record (§6.3.2.2: a random public key
 * and masking key, an all-zero envelope) to answer for a client that is not registered.
 */
export function generateKE2(
  g: Rfc9807Group,
  serverIdentity: Uint8Array | undefined,
  serverPrivateKey: Uint8Array,
  serverPublicKey: Uint8Array,
  record: Uint8Array,
  credentialIdentifier: Uint8Array,
  oprfSeed: Uint8Array,
  ke1: Uint8Array,
  clientIdentity: Uint8Array | undefined,
  context: Uint8Array,
  maskingNonce: Uint8Array,
  serverNonce: Uint8Array,
  serverKeyshareSeed: Uint8Array,
): ServerLoginOutput {
  const s = sizes(g);
  const blinded = ke1.subarray(0, s.Noe);
  const clientKeyshare = ke1.subarray(s.Noe + NN);
  const clientPublicKey = record.subarray(0, s.Npk);
  const maskingKey = record.subarray(s.Npk, s.Npk + s.Nh);
  const envelope = record.subarray(s.Npk + s.Nh);

  // CreateCredentialResponse.
  const k = oprfKey(g, oprfSeed, credentialIdentifier);
  const evaluated = g.blindEvaluate(k, blinded);
  wipe(k);
  const pad = expand(g.hash, maskingKey, concatBytes(maskingNonce, LABEL_PAD), s.Npk + s.envelope);
  const masked = xorInto(pad, concatBytes(serverPublicKey, envelope));
  wipe(pad);
  const credentialResponse = concatBytes(evaluated, maskingNonce, masked);

  // AuthServerRespond.
  const eph = deriveDhKeyPair(g, serverKeyshareSeed);
  const pre = preamble(
    context,
    clientIdentity ?? clientPublicKey,
    ke1,
    serverIdentity ?? serverPublicKey,
    credentialResponse,
    serverNonce,
    eph.publicKey,
  );
  const dh1 = dh(g, eph.secretKey, clientKeyshare);
  const dh2 = dh(g, serverPrivateKey, clientKeyshare);
  const dh3 = dh(g, eph.secretKey, clientPublicKey);
  const ikm = concatBytes(dh1, dh2, dh3);
  wipe(eph.secretKey, dh1, dh2, dh3);
  const preHash = g.hash(pre);
  const { km2, km3, sessionKey } = deriveKeys(g, ikm, preHash);
  wipe(ikm);
  const serverMac = hmac(g.hash, km2, preHash);
  const expectedClientMac = hmac(g.hash, km3, g.hash(concatBytes(pre, serverMac)));
  try {
    return {
      ke2: concatBytes(credentialResponse, serverNonce, eph.publicKey, serverMac),
      expected: concatBytes(expectedClientMac, sessionKey),
    };
  } finally {
    wipe(km2, km3, sessionKey, expectedClientMac);
  }
}

/**
 * GenerateKE3 (RFC 9807 §6.2.3) with RecoverCredentials (§6.3.2.3), Recover (§4.1.3) and
 * AuthClientFinalize (§6.4.3). `undefined` when the envelope does not open or the server MAC
 * does not verify (a wrong password, or a server without this record). `ke2` must have the
 * suite's KE2 length and decodable elements (the caller parses it first).
 */
export async function generateKE3(
  g: Rfc9807Group,
  ksf: Rfc9807Ksf,
  password: Uint8Array,
  state: ClientLoginState,
  clientIdentity: Uint8Array | undefined,
  serverIdentity: Uint8Array | undefined,
  ke2: Uint8Array,
  context: Uint8Array,
): Promise<{ ke3: Uint8Array; sessionKey: Uint8Array; exportKey: Uint8Array } | undefined> {
  const s = sizes(g);
  const credentialResponse = ke2.subarray(0, s.credentialResponse);
  const evaluated = credentialResponse.subarray(0, s.Noe);
  const maskingNonce = credentialResponse.subarray(s.Noe, s.Noe + NN);
  const masked = credentialResponse.subarray(s.Noe + NN);
  const serverNonce = ke2.subarray(s.credentialResponse, s.credentialResponse + NN);
  const serverKeyshare = ke2.subarray(s.credentialResponse + NN, s.credentialResponse + NN + s.Npk);
  const serverMac = ke2.subarray(s.credentialResponse + NN + s.Npk);

  // RecoverCredentials.
  const rwd = await randomizedPassword(g, ksf, password, state.blind, evaluated);
  const maskingKey = expand(g.hash, rwd, LABEL_MASKING_KEY, s.Nh);
  const pad = expand(g.hash, maskingKey, concatBytes(maskingNonce, LABEL_PAD), s.Npk + s.envelope);
  const unmasked = xorInto(pad, masked);
  wipe(maskingKey, pad);
  const serverPublicKey = unmasked.subarray(0, s.Npk);
  const envelopeNonce = unmasked.subarray(s.Npk, s.Npk + NN);
  const authTag = unmasked.subarray(s.Npk + NN);

  // Recover (§4.1.3).
  const keys = envelopeKeys(g, rwd, envelopeNonce);
  wipe(rwd);
  let km2: Uint8Array | undefined;
  let km3: Uint8Array | undefined;
  let sessionKey: Uint8Array | undefined;
  let done = false;
  try {
    const sid = serverIdentity ?? serverPublicKey;
    const cid = clientIdentity ?? keys.clientPublicKey;
    const expectedTag = hmac(g.hash, keys.authKey, concatBytes(envelopeNonce, cleartextCredentials(serverPublicKey, sid, cid)));
    const opened = equalBytes(expectedTag, authTag);
    wipe(expectedTag);
    if (!opened) return undefined;

    // AuthClientFinalize. The server key opened from the envelope is the one the client checked at
    // registration; it decodes (decode throws otherwise).
    const dh1 = dh(g, state.clientSecret, serverKeyshare);
    const dh2 = dh(g, state.clientSecret, serverPublicKey);
    const dh3 = dh(g, keys.clientSecretKey, serverKeyshare);
    const ikm = concatBytes(dh1, dh2, dh3);
    wipe(dh1, dh2, dh3);
    const pre = preamble(context, cid, state.ke1, sid, credentialResponse, serverNonce, serverKeyshare);
    const preHash = g.hash(pre);
    ({ km2, km3, sessionKey } = deriveKeys(g, ikm, preHash));
    wipe(ikm);
    const expectedServerMac = hmac(g.hash, km2, preHash);
    if (!equalBytes(expectedServerMac, serverMac)) return undefined;
    const ke3 = hmac(g.hash, km3, g.hash(concatBytes(pre, expectedServerMac)));
    done = true;
    return { ke3, sessionKey, exportKey: keys.exportKey };
  } finally {
    wipe(unmasked, keys.authKey, keys.clientSecretKey, km2, km3);
    if (!done) wipe(sessionKey, keys.exportKey);
  }
}

/** ServerFinish (RFC 9807 §6.2.4, §6.4.4 AuthServerFinalize): the session key iff KE3 verifies. */
export function serverFinish(g: Rfc9807Group, ke3: Uint8Array, expected: Uint8Array): Uint8Array | undefined {
  const mac = expected.subarray(0, g.Nh);
  return equalBytes(mac, ke3) ? expected.slice(g.Nh) : undefined;
}
