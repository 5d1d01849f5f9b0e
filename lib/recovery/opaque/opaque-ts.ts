/**
 * The default OPAQUE suite: `@cloudflare/opaque-ts` 0.7.5 with P-256 and SHA-256
 * (`OPAQUE_P256`; its group work on @noble/curves through the library's `Config`, byte-identical),
 * and scrypt (N = 2^15, r = 8, p = 1, empty salt) as the key stretching function
 * (RFC 9807 §3.3.2 "KSF"). Suite id: `opaque-ts/P256-SHA256-scrypt/v1`.
 *
 * This module is the implementation: the server and testing entries import it statically; the
 * browser entry reaches it only through the lazy front in `opaque-ts-lazy.ts` (a dynamic
 * `import()` on first use), so it is not in an app's first download.
 *
 * opaque-ts speaks `number[]` and strings and never zeroes its buffers; this adapter keeps its
 * quirks inside: `Uint8Array` in and out, every parse failure mapped to `BackupError('PROTOCOL')`,
 * wrong-code outcomes to `undefined`, and the `number[]` copies of `export_key`/`session_key` it
 * hands back are zero-filled after conversion. (Its internal copies of the password and blind
 * cannot be zeroed from outside; docs/PROTOCOL.md §Known limits.)
 *
 * @module
 */
import {
  KE1,
  KE2,
  KE3,
  OpaqueClient,
  OpaqueServer as TsServer,
  RegistrationRecord,
  RegistrationRequest,
  RegistrationResponse,
  ExpectedAuthResult,
  type Config,
  type MemoryHardFn,
} from '@cloudflare/opaque-ts';
import { scrypt } from '@noble/hashes/scrypt.js';
import { p256_hasher } from '@noble/curves/nist.js';
import { mapHashToField } from '@noble/curves/abstract/modular.js';
import { nobleP256Config } from './p256-noble.js';
import { BackupError } from '../../errors.js';
import { abytes, concatBytes, fromUtf8, secureRandom, toHex, wipe } from '../../util/bytes.js';
import type { OpaqueBinding } from '../protocol.js';
import { OPAQUE_TS_SUITE_ID, provideOpaqueTs } from './opaque-ts-lazy.js';
import type {
  OpaqueKeyAgreement,
  OpaqueLoginResult,
  OpaqueLoginStart,
  OpaqueRegistrationResult,
  OpaqueRegistrationStart,
  OpaqueServer,
  OpaqueSuite,
} from './suite.js';

export { OPAQUE_TS_SUITE_ID };

/**
 * @internal A key stretching function (RFC 9807 §3.3.2). Its `id` becomes part of the suite id,
 * so a vault configured for one KSF refuses clients running another.
 */
export interface OpaqueKsf {
  /** Short name in the suite id, e.g. `scrypt`. */
  readonly id: string;
  /** Stretch the OPRF output. */
  harden(input: Uint8Array): Uint8Array;
}

/** @internal scrypt with opaque-ts's own parameters (N = 2^15, r = 8, p = 1, no salt; RFC 7914). */
export const SCRYPT_KSF: OpaqueKsf = Object.freeze({
  id: 'scrypt',
  harden: (input: Uint8Array) => scrypt(input, new Uint8Array(0), { N: 32768, r: 8, p: 1, dkLen: 32 }),
});

/**
 * @internal The identity KSF (RFC 9807 §3.3.2 "Identity"): NO stretching. For tests only; its
 * suite id says so, and the public entry cannot reach it.
 */
export const INSECURE_IDENTITY_KSF: OpaqueKsf = Object.freeze({
  id: 'identity-INSECURE',
  harden: (input: Uint8Array) => Uint8Array.from(input),
});

const SEED_BYTES = 32;
const SK_BYTES = 32;
const PK_BYTES = 33;
/** Serialized server setup: OPRF seed(32) ‖ AKE private key(32) ‖ AKE public key(33, SEC1 compressed). */
const SETUP_BYTES = SEED_BYTES + SK_BYTES + PK_BYTES;
/** Longest password accepted (a generous bound for app-chosen passwords; bounds the KSF input). */
const MAX_PASSWORD_BYTES = 4096;

/**
 * opaque-ts takes the password as a JavaScript string and UTF-8-encodes it. Our password is bytes
 * (the recovery code module's domain-separated secret, which need not be UTF-8), so the suite
 * defines the OPAQUE password as the lowercase hex of those bytes: injective and lossless for
 * every input. (A JS string cannot be zeroed; docs/PROTOCOL.md §Known limits.)
 */
function passwordString(password: Uint8Array): string {
  abytes(password, 'password');
  if (password.length === 0) throw new RangeError('password must not be empty');
  if (password.length > MAX_PASSWORD_BYTES) throw new RangeError(`password must be at most ${MAX_PASSWORD_BYTES} bytes`);
  return toHex(password);
}

function text(b: Uint8Array): string {
  return fromUtf8(b);
}

function toArray(b: Uint8Array): number[] {
  return Array.from(b);
}

/** Turn a number[] secret into a Uint8Array and zero the number[] copy. */
function takeSecret(a: number[]): Uint8Array {
  const out = Uint8Array.from(a);
  a.fill(0);
  return out;
}

function malformed(what: string, cause?: unknown): BackupError {
  return new BackupError('PROTOCOL', `malformed OPAQUE ${what}`, cause === undefined ? {} : { cause });
}

/** Run a deserializer; any throw (wrong length, point not on the curve) is `PROTOCOL`. */
function parse<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw malformed(what, e);
  }
}

/**
 * P-256 Diffie-Hellman as RFC 9807 §6.4.1 defines it for P256-SHA256 (and as opaque-ts's 3DH
 * does): the SEC1 compressed encoding of `k·B`. `B` must be a 33-byte compressed point on the
 * curve (`Point.fromBytes` checks; the identity has no such encoding); `k` in 1..n-1.
 */
function p256Dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const Point = p256_hasher.Point;
  abytes(secretKey, 'secretKey', SK_BYTES);
  abytes(publicKey, 'publicKey');
  const k = Point.Fn.fromBytes(secretKey);
  if (Point.Fn.is0(k)) throw new RangeError('secretKey must not be zero');
  const B = parse('public key', () => {
    if (publicKey.length !== PK_BYTES) throw new RangeError('public key must be 33 bytes');
    return Point.fromBytes(publicKey);
  });
  return B.multiply(k).toBytes(true);
}

const P256_KEY_AGREEMENT: OpaqueKeyAgreement = Object.freeze({
  generateKeyPair() {
    const Point = p256_hasher.Point;
    // 48 random bytes reduced to 1..n-1 (FIPS 186-5 A.2.1), as noble's randomSecretKey.
    const seed = secureRandom(48);
    const secretKey = Point.Fn.toBytes(Point.Fn.fromBytes(mapHashToField(seed, Point.Fn.ORDER)));
    wipe(seed);
    return { secretKey, publicKey: Point.BASE.multiply(Point.Fn.fromBytes(secretKey)).toBytes(true) };
  },
  dh: p256Dh,
});

/**
 * @internal The opaque-ts suite with a chosen KSF. The public entry exposes only
 * {@link opaqueTsSuite} (scrypt); the testing entry may construct it with
 * {@link INSECURE_IDENTITY_KSF}.
 */
export class OpaqueTsSuite implements OpaqueSuite {
  readonly id: string;
  private readonly cfg: Config;
  private readonly memHard: MemoryHardFn;

  constructor(ksf: OpaqueKsf = SCRYPT_KSF) {
    if (typeof ksf !== 'object' || ksf === null || typeof ksf.harden !== 'function' || !/^[A-Za-z0-9-]{1,24}$/.test(ksf.id)) {
      throw new TypeError('ksf must be an OpaqueKsf');
    }
    // Same bytes as the library's own P-256 config, with the OPRF and key derivations on
    // @noble/curves (several times faster than voprf-ts's sjcl); see p256-noble.ts.
    this.cfg = nobleP256Config();
    this.id = `opaque-ts/P256-SHA256-${ksf.id}/v1`;
    this.memHard = { name: ksf.id, harden: (x: Uint8Array) => ksf.harden(x) };
  }

  async startRegistration(password: Uint8Array): Promise<OpaqueRegistrationStart> {
    const cfg = this.cfg;
    const client = new OpaqueClient(cfg, this.memHard);
    const req = await client.registerInit(passwordString(password));
    if (req instanceof Error) throw req;
    let used = false;
    const parseResponse = (response: Uint8Array): RegistrationResponse => {
      abytes(response, 'response');
      return parse('registration response', () => RegistrationResponse.deserialize(cfg, toArray(response)));
    };
    return {
      request: Uint8Array.from(req.serialize()),
      serverPublicKey: (response) => Uint8Array.from(parseResponse(response).server_public_key),
      finish: async (response: Uint8Array, binding: OpaqueBinding): Promise<OpaqueRegistrationResult> => {
        if (used) throw new Error('registration already finished');
        used = true;
        const res = parseResponse(response);
        let out: Awaited<ReturnType<OpaqueClient['registerFinish']>>;
        try {
          out = await client.registerFinish(res, text(binding.serverIdentity), text(binding.clientIdentity));
        } catch (e) {
          // The OPRF evaluation is a group element; a bad one makes the unblinding throw.
          throw malformed('registration response', e);
        }
        if (out instanceof Error) throw malformed('registration response', out);
        return {
          record: Uint8Array.from(out.record.serialize()),
          exportKey: takeSecret(out.export_key),
          serverPublicKey: Uint8Array.from(res.server_public_key),
        };
      },
    };
  }

  async startLogin(password: Uint8Array): Promise<OpaqueLoginStart> {
    const cfg = this.cfg;
    const client = new OpaqueClient(cfg, this.memHard);
    const ke1 = await client.authInit(passwordString(password));
    if (ke1 instanceof Error) throw ke1;
    let used = false;
    return {
      ke1: Uint8Array.from(ke1.serialize()),
      finish: async (ke2Bytes: Uint8Array, binding: OpaqueBinding): Promise<OpaqueLoginResult | undefined> => {
        if (used) throw new Error('login already finished');
        used = true;
        abytes(ke2Bytes, 'ke2');
        const ke2 = parse('KE2', () => KE2.deserialize(cfg, toArray(ke2Bytes)));
        let out: Awaited<ReturnType<OpaqueClient['authFinish']>>;
        try {
          out = await client.authFinish(ke2, text(binding.serverIdentity), text(binding.clientIdentity), text(binding.context));
        } catch (e) {
          throw malformed('KE2', e);
        }
        // EnvelopeRecoveryError (RFC 9807 §4.1.3 Recover) or a bad server MAC (§6.4.4): both mean
        // this code does not open this record at this vault: an ordinary "wrong code".
        if (out instanceof Error) return undefined;
        return {
          ke3: Uint8Array.from(out.ke3.serialize()),
          sessionKey: takeSecret(out.session_key),
          exportKey: takeSecret(out.export_key),
        };
      },
    };
  }

  async keyAgreement(): Promise<OpaqueKeyAgreement> {
    return P256_KEY_AGREEMENT;
  }

  async generateServerSetup(): Promise<Uint8Array> {
    const seed = Uint8Array.from(this.cfg.prng.random(this.cfg.hash.Nh));
    const kp = await this.cfg.ake.generateAuthKeyPair();
    const sk = takeSecret(kp.private_key);
    const pk = Uint8Array.from(kp.public_key);
    try {
      return concatBytes(seed, sk, pk);
    } finally {
      wipe(seed, sk);
    }
  }

  setupPublicKey(setup: Uint8Array): Uint8Array {
    abytes(setup, 'setup', SETUP_BYTES);
    return setup.slice(SEED_BYTES + SK_BYTES);
  }

  server(setup: Uint8Array, binding: Pick<OpaqueBinding, 'serverIdentity'>): OpaqueServer {
    abytes(setup, 'setup', SETUP_BYTES);
    const cfg = this.cfg;
    const seed = setup.subarray(0, SEED_BYTES);
    const sk = setup.subarray(SEED_BYTES, SEED_BYTES + SK_BYTES);
    const pk = setup.slice(SEED_BYTES + SK_BYTES);
    // Refuse a setup whose public key does not belong to its private key.
    const derived = cfg.ake.recoverPublicKey(Uint8Array.from(sk)).public_key;
    if (derived.length !== pk.length || derived.some((v, i) => v !== pk[i])) {
      throw new RangeError('setup: public key does not match the private key');
    }
    const ts = new TsServer(cfg, toArray(seed), { private_key: toArray(sk), public_key: toArray(pk) }, text(binding.serverIdentity));
    const suite = this.id;
    return {
      suite,
      publicKey: pk,
      async registrationResponse(request: Uint8Array, b: OpaqueBinding): Promise<Uint8Array> {
        abytes(request, 'request');
        const req = parse('registration request', () => RegistrationRequest.deserialize(cfg, toArray(request)));
        let res: Awaited<ReturnType<TsServer['registerInit']>>;
        try {
          res = await ts.registerInit(req, text(b.credentialIdentifier));
        } catch (e) {
          throw malformed('registration request', e);
        }
        if (res instanceof Error) throw malformed('registration request', res);
        return Uint8Array.from(res.serialize());
      },
      checkRecord(record: Uint8Array): void {
        abytes(record, 'record');
        parse('registration record', () => RegistrationRecord.deserialize(cfg, toArray(record)));
      },
      async startLogin(ke1: Uint8Array, record: Uint8Array, b: OpaqueBinding) {
        abytes(ke1, 'ke1');
        const k1 = parse('KE1', () => KE1.deserialize(cfg, toArray(ke1)));
        const rec = parse('registration record', () => RegistrationRecord.deserialize(cfg, toArray(record)));
        let out: Awaited<ReturnType<TsServer['authInit']>>;
        try {
          out = await ts.authInit(k1, rec, text(b.credentialIdentifier), text(b.clientIdentity), text(b.context));
        } catch (e) {
          throw malformed('KE1', e);
        }
        if (out instanceof Error) throw malformed('KE1', out);
        const expected = Uint8Array.from(out.expected.serialize());
        out.expected.session_key.fill(0);
        out.expected.expected_client_mac.fill(0);
        return { ke2: Uint8Array.from(out.ke2.serialize()), expected };
      },
      keyAgreement(peerPublicKey: Uint8Array): Uint8Array {
        return p256Dh(sk, peerPublicKey);
      },
      finishLogin(ke3: Uint8Array, expected: Uint8Array): Uint8Array | undefined {
        abytes(ke3, 'ke3');
        abytes(expected, 'expected');
        const k3 = parse('KE3', () => KE3.deserialize(cfg, toArray(ke3)));
        const exp = parse('expected state', () => ExpectedAuthResult.deserialize(cfg, toArray(expected)));
        try {
          const out = ts.authFinish(k3, exp);
          if (out instanceof Error) return undefined;
          return takeSecret(out.session_key);
        } finally {
          exp.session_key.fill(0);
          exp.expected_client_mac.fill(0);
        }
      },
    };
  }
}

/**
 * The default OPAQUE suite: opaque-ts, P-256, SHA-256, scrypt (`opaque-ts/P256-SHA256-scrypt/v1`).
 *
 * @example
 * ```ts
 * const suite = opaqueTsSuite();
 * const vault = createVaultClient({ fleetId, accountId, baseUrl, fetch, getToken, trust, suite });
 * ```
 */
export function opaqueTsSuite(): OpaqueSuite {
  return new OpaqueTsSuite(SCRYPT_KSF);
}

// Let the lazy front (the browser entry's `opaqueTsSuite`) build this suite synchronously once
// this module is in memory, however it got there (see opaque-ts-lazy.ts).
provideOpaqueTs(opaqueTsSuite);
