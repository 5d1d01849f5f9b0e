/**
 * @internal The client side of RFC 9807 OPAQUE-3DH behind the {@link OpaqueSuite} interface:
 * registration and login, the key agreement the vault client uses, and the server setup. The vault
 * side (`server()`) is in rfc9807.ts, so the browser client, which never runs a vault, does not
 * carry it (docs/SIZE.md); {@link rfc9807Suite} (`e2ee-backup/protocol`) builds the full suite.
 * Both run on `@noble/curves` and `@noble/hashes` only (no big-number code of our own), for the
 * groups `ristretto255-SHA512` and `P256-SHA256` and a pluggable key stretching function.
 *
 * Suite ids are `rfc9807/<group>/<ksf>`, the KSF with its parameters, e.g.
 * `rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1` (the default for new fleets,
 * {@link RFC9807_DEFAULT_SUITE_ID}).
 * Wire messages are exactly RFC 9807's (§5.1, §6.1), so a vault or client built on another
 * implementation of the RFC (opaque-ke, through `@serenity-kit/opaque`) interoperates when it runs
 * the same group and KSF (test/recovery/opaque-rfc9807-interop.test.ts).
 *
 * Mapping to the vault protocol: the password is the recovery code's password bytes as given
 * (RFC 9807's password is a byte string); the client and server identities and the AKE context
 * are those of `opaqueBinding()`; the credential identifier is the binding's (fleet, suite,
 * account and a per-record random salt). The server setup is `oprf_seed (Nh) ‖ server_private_key
 * (32) ‖ server_public_key (Npk)`.
 *
 * @module
 */
import { BackupError } from '../../errors.js';
import { abytes, secureRandom, wipe, type RandomSource } from '../../util/bytes.js';
import type { OpaqueBinding } from '../protocol.js';
import {
  NN,
  NSEED,
  blindRandom,
  deriveDhKeyPair,
  dh,
  finalizeRegistrationRequest,
  generateKE1,
  generateKE3,
  sizes,
  type Rfc9807Group,
  type Rfc9807Ksf,
} from './rfc9807-core.js';
import { loadGroup } from './rfc9807-groups.js';
import { parseKsf } from './rfc9807-ksf.js';
import type {
  OpaqueKeyAgreement,
  OpaqueLoginResult,
  OpaqueLoginStart,
  OpaqueRegistrationResult,
  OpaqueRegistrationStart,
  OpaqueServer,
  OpaqueSuite,
} from './suite.js';

/** The groups an RFC 9807 suite id may name. */
export type Rfc9807GroupName = 'ristretto255-SHA512' | 'P256-SHA256';

/**
 * The suite new fleets run: ristretto255-SHA512 with Argon2id, 46 MiB, one pass, one lane
 * (OWASP's first Argon2id setting; RFC 9106 §4 memory-hard, within the client CPU budget of a
 * recovery). docs/PROTOCOL.md §Suites gives what it costs a device, and an attacker after a vault
 * HSM break.
 */
export const RFC9807_DEFAULT_SUITE_ID = 'rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1';

/**
 * The suite `@serenity-kit/opaque` 1.1.0 (opaque-ke 4) runs by default: ristretto255-SHA512 with
 * its "memory-constrained" Argon2id (RFC 9106 §4: m = 64 MiB, t = 3, p = 4).
 */
export const RFC9807_SERENITY_SUITE_ID = 'rfc9807/ristretto255-SHA512/argon2id-m65536-t3-p4';

/** Longest password accepted (bounds the OPRF input; RFC 9497 allows up to 2^16 - 1). */
const MAX_PASSWORD_BYTES = 4096;
const PREFIX = 'rfc9807/';

/** @internal */
export function malformed(what: string, cause?: unknown): BackupError {
  return new BackupError('PROTOCOL', `malformed OPAQUE ${what}`, cause === undefined ? {} : { cause });
}

/** Check the password; its copy (the caller wipes it) unless `copy` is false. */
function checkPassword(password: Uint8Array, copy = true): Uint8Array {
  abytes(password, 'password');
  if (password.length === 0) throw new RangeError('password must not be empty');
  if (password.length > MAX_PASSWORD_BYTES) throw new RangeError(`password must be at most ${MAX_PASSWORD_BYTES} bytes`);
  return copy ? Uint8Array.from(password) : password;
}

/** @internal Check a message's length and run `f`; any throw (bad length, bad element) is `PROTOCOL`. */
export function parse<T>(what: string, value: unknown, length: number, f: (b: Uint8Array) => T): T {
  const bytes = abytes(value, what);
  if (bytes.length !== length) throw malformed(what);
  try {
    return f(bytes);
  } catch (e) {
    throw malformed(what, e);
  }
}

/**
 * @internal The client side of an RFC 9807 OPAQUE-3DH suite for a group and KSF: what the vault
 * client runs. The server setup and `server()` are `Rfc9807Suite`'s (rfc9807.ts).
 */
export class Rfc9807ClientSuite implements OpaqueSuite {
  readonly id: string;
  protected readonly group: Rfc9807GroupName;
  readonly #ksf: Rfc9807Ksf;
  readonly #random: RandomSource;

  constructor(group: Rfc9807GroupName, ksf: Rfc9807Ksf, random: RandomSource = secureRandom) {
    if (group !== 'ristretto255-SHA512' && group !== 'P256-SHA256') throw new RangeError('group must be ristretto255-SHA512 or P256-SHA256');
    if (typeof ksf !== 'object' || ksf === null || typeof ksf.stretch !== 'function' || !/^[A-Za-z0-9-]{1,40}$/.test(ksf.id)) {
      throw new TypeError('ksf must be an Rfc9807Ksf');
    }
    if (typeof random !== 'function') throw new TypeError('random must be a function');
    this.group = group;
    this.#ksf = ksf;
    this.#random = random;
    this.id = `${PREFIX}${group}/${ksf.id}`;
  }

  protected rand(n: number): Uint8Array {
    return Uint8Array.from(abytes(this.#random(n), `random(${n})`, n));
  }

  /** The group; P-256's code is loaded on first use in a browser bundle. */
  protected g(): Promise<Rfc9807Group> {
    return loadGroup(this.group);
  }

  async startRegistration(password: Uint8Array): Promise<OpaqueRegistrationStart> {
    checkPassword(password, false);
    const g = await this.g(); // may be ENGINE_UNAVAILABLE (P-256): before the password is copied
    const s = sizes(g);
    const pw = checkPassword(password);
    // RFC 9497 Blind (a fresh scalar; fails, negligibly, when the input maps to the identity).
    let b: { blind: Uint8Array; blinded: Uint8Array };
    try {
      b = blindRandom(g, pw, (n) => this.rand(n));
    } catch (e) {
      wipe(pw);
      throw e;
    }
    const { blind, blinded } = b;
    let used = false;
    const parseResponse = (response: Uint8Array): Uint8Array =>
      parse('registration response', response, s.response, (b) => {
        g.decode(b.subarray(0, s.Noe));
        g.decode(b.subarray(s.Noe));
        return b;
      });
    return {
      request: blinded,
      serverPublicKey: (response) => parseResponse(response).slice(s.Noe),
      finish: async (response: Uint8Array, binding: OpaqueBinding): Promise<OpaqueRegistrationResult> => {
        if (used) throw new Error('registration already finished');
        used = true;
        try {
          const res = Uint8Array.from(parseResponse(response));
          const nonce = this.rand(NN);
          // The response's elements are checked above; nothing below parses attacker bytes.
          const out = await finalizeRegistrationRequest(g, this.#ksf, pw, blind, res, binding.serverIdentity, binding.clientIdentity, nonce);
          return { record: out.record, exportKey: out.exportKey, serverPublicKey: res.slice(s.Noe) };
        } finally {
          wipe(pw, blind);
        }
      },
    };
  }

  async startLogin(password: Uint8Array): Promise<OpaqueLoginStart> {
    checkPassword(password, false);
    const g = await this.g(); // may be ENGINE_UNAVAILABLE (P-256): before the password is copied
    const s = sizes(g);
    const pw = checkPassword(password);
    let blind: Uint8Array | undefined;
    let seed: Uint8Array | undefined;
    let state: ReturnType<typeof generateKE1>;
    try {
      // RFC 9497 Blind (a fresh scalar; fails, negligibly, when the input maps to the identity).
      const b = blindRandom(g, pw, (n) => this.rand(n));
      blind = b.blind;
      seed = this.rand(NSEED);
      state = generateKE1(g, b.blinded, blind, this.rand(NN), seed);
    } catch (e) {
      wipe(pw, blind);
      throw e;
    } finally {
      wipe(seed);
    }
    let used = false;
    return {
      ke1: Uint8Array.from(state.ke1),
      finish: async (ke2Bytes: Uint8Array, binding: OpaqueBinding): Promise<OpaqueLoginResult | undefined> => {
        if (used) throw new Error('login already finished');
        used = true;
        try {
          const ke2 = parse('KE2', ke2Bytes, s.ke2, (b) => {
            g.decode(b.subarray(0, s.Noe)); // evaluated_message
            g.decode(b.subarray(s.credentialResponse + NN, s.credentialResponse + NN + s.Npk)); // server_public_keyshare
            return Uint8Array.from(b);
          });
          // KE2's elements are checked above; the server key inside the envelope is only used once
          // the envelope's MAC proves it is the key this client registered with.
          return await generateKE3(g, this.#ksf, pw, state, binding.clientIdentity, binding.serverIdentity, ke2, binding.context);
        } finally {
          wipe(pw, state.blind, state.clientSecret);
        }
      },
    };
  }

  async keyAgreement(): Promise<OpaqueKeyAgreement> {
    const g = await this.g();
    return Object.freeze({
      generateKeyPair: () => {
        const seed = this.rand(NSEED);
        try {
          return deriveDhKeyPair(g, seed);
        } finally {
          wipe(seed);
        }
      },
      dh: (secretKey: Uint8Array, publicKey: Uint8Array) => parse('public key', publicKey, g.Noe, (b) => dh(g, secretKey, b)),
    });
  }

  /** The vault side (setup, `server()`) is `Rfc9807Suite`'s (`rfc9807Suite()` from `e2ee-backup/protocol`). */
  generateServerSetup(): Promise<Uint8Array> {
    return Promise.reject(vaultSide());
  }
  setupPublicKey(setup: Uint8Array): Uint8Array;
  setupPublicKey(): Uint8Array {
    throw vaultSide();
  }
  server(setup: Uint8Array, binding: Pick<OpaqueBinding, 'serverIdentity'>): OpaqueServer;
  server(): OpaqueServer {
    throw vaultSide();
  }
}

function vaultSide(): BackupError {
  return new BackupError('ENGINE_UNAVAILABLE', "this is the vault client's suite: a vault takes rfc9807Suite() from e2ee-backup/protocol");
}

/** @internal The group and KSF an RFC 9807 suite id names (test-only KSFs never), else undefined. */
export function parseRfc9807Id(id: string): { group: Rfc9807GroupName; ksf: Rfc9807Ksf } | undefined {
  const parts = typeof id === 'string' ? id.split('/') : [];
  const ksf = parts.length === 3 && parts[0] === 'rfc9807' ? parseKsf(parts[2]!) : undefined;
  const group = parts[1];
  return ksf === undefined || (group !== 'ristretto255-SHA512' && group !== 'P256-SHA256') ? undefined : { group, ksf };
}

/** @internal The client side of the RFC 9807 suite `id` names (the vault client's), else undefined. */
export function rfc9807ClientSuite(id: string): OpaqueSuite | undefined {
  const p = parseRfc9807Id(id);
  return p && new Rfc9807ClientSuite(p.group, p.ksf);
}
