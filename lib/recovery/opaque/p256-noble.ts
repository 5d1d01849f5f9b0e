/**
 * @internal A faster group backend for opaque-ts P-256: the OPRF (blind, evaluate, finalize, the
 * per-user key) and the AKE key derivations run on `@noble/curves` instead of the sjcl arithmetic that
 * `@cloudflare/voprf-ts` 0.8 uses. opaque-ts takes its group operations from a `Config` object
 * (its `Config` type is public); this module builds one whose bytes are identical to the library's
 * own: the same draft-08 VOPRF context strings, RFC 9380 hash-to-curve
 * (`P256_XMD:SHA-256_SSWU_RO_`), hash-to-scalar (`expand_message_xmd`, L = 48, mod n) and SEC1
 * compressed points; and its hash, MAC and KDF on `@noble/hashes`. The 3DH multiplications inside
 * opaque-ts still use voprf-ts (they are not behind the `Config`).
 *
 * Equivalence is tested by running this client against the library's server and the library's
 * client against ours (test/recovery/opaque.test.ts).
 *
 * @module
 */
import type { Config } from '@cloudflare/opaque-ts';
// Only the hasher (and its Point): importing `p256` itself would add noble's ECDSA (signing,
// DER, ECDH), which OPAQUE never uses (docs/SIZE.md).
import { p256_hasher } from '@noble/curves/nist.js';
import { getMinHashLength, mapHashToField } from '@noble/curves/abstract/modular.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { concatBytes, equalBytes, secureRandom, utf8 } from '../../util/bytes.js';

type OPRFFn = Config['oprf'];
type AKEFn = Config['ake'];

const Point = p256_hasher.Point;
const Fn = Point.Fn;
/** Random bytes per fresh scalar: 48 for P-256 (FIPS 186-5 A.2.1), as noble's `randomSecretKey`. */
const SCALAR_SEED_BYTES = Math.max(getMinHashLength(Fn.ORDER), 16);
/** voprf-ts draft 08: "VOPRF08-" ‖ mode (0, base) ‖ u16 suite id (3, P256-SHA256). */
const CONTEXT = concatBytes(utf8('VOPRF08-'), Uint8Array.of(0, 0, 3));
const DST_HASH_TO_GROUP = concatBytes(utf8('HashToGroup-'), CONTEXT);
const DST_FINALIZE = concatBytes(utf8('Finalize-'), CONTEXT);
const DST_HASH_TO_SCALAR = concatBytes(utf8('HashToScalar-'), CONTEXT);
/** Draft-08 evaluation context with empty `info`: "Context-" ‖ contextString ‖ u16(0). */
const EVAL_CONTEXT = concatBytes(utf8('Context-'), CONTEXT, Uint8Array.of(0, 0));
/** opaque-ts draft 07 label for the per-user OPRF key (RFC 9807 §5.2.2 DeriveKeyPair). */
const DST_DERIVE_KEY_PAIR = utf8('OPAQUE-DeriveKeyPair');
/** opaque-ts draft 07 label for DeriveAuthKeyPair (RFC 9807 §6.4.1 uses "OPAQUE-DeriveDiffieHellmanKeyPair"). */
const DST_DERIVE_AUTH_KEY_PAIR = utf8('OPAQUE-DeriveAuthKeyPair');

function u16(n: number): Uint8Array {
  if (n > 0xffff) throw new RangeError('length above 2^16 - 1');
  return Uint8Array.of(n >>> 8, n & 0xff);
}

function randomScalar(): bigint {
  // Rejection-free, exactly noble's `p256.utils.randomSecretKey()`: 48 random bytes reduced to
  // 1..n-1 (FIPS 186-5 A.2.1), without importing the ECDSA object that carries it.
  return Fn.fromBytes(mapHashToField(randomBytes(SCALAR_SEED_BYTES), Fn.ORDER));
}

function scalarBytes(s: bigint): Uint8Array {
  return Fn.toBytes(s);
}

class NobleOprf implements OPRFFn {
  readonly id = 3;
  readonly Noe = 33;
  readonly hash = 'SHA-256';
  readonly name = 'OPRF_P256_SHA256';

  async blind(input: Uint8Array): Promise<{ blind: Uint8Array; blindedElement: Uint8Array }> {
    const r = randomScalar();
    const P = p256_hasher.hashToCurve(input, { DST: DST_HASH_TO_GROUP });
    return { blind: scalarBytes(r), blindedElement: P.multiply(r).toBytes(true) };
  }

  async finalize(input: Uint8Array, blind: Uint8Array, evaluation: Uint8Array): Promise<Uint8Array> {
    const r = Fn.fromBytes(blind);
    // Point.fromBytes checks the encoding and that the point is on the curve (and not infinity).
    const Z = Point.fromBytes(evaluation);
    const unblinded = Z.multiply(Fn.inv(r)).toBytes(true);
    return sha256(
      concatBytes(u16(input.length), input, u16(0), u16(unblinded.length), unblinded, u16(DST_FINALIZE.length), DST_FINALIZE),
    );
  }

  async evaluate(key: Uint8Array, blinded: Uint8Array): Promise<Uint8Array> {
    // Draft-08 base-mode evaluation with empty info: Z = (1 / (sk + H(context))) · blinded.
    const m = p256_hasher.hashToScalar(EVAL_CONTEXT, { DST: DST_HASH_TO_SCALAR });
    const t = Fn.add(Fn.fromBytes(key), m);
    if (Fn.is0(t)) throw new Error('inverse of zero');
    return Point.fromBytes(blinded).multiply(Fn.inv(t)).toBytes(true);
  }

  async deriveOPRFKey(seed: Uint8Array): Promise<Uint8Array> {
    return scalarBytes(p256_hasher.hashToScalar(seed, { DST: DST_DERIVE_KEY_PAIR }));
  }
}

class NobleAke implements AKEFn {
  readonly Nsk = 32;
  readonly Npk = 33;

  async deriveAuthKeyPair(seed: Uint8Array): Promise<{ private_key: Uint8Array; public_key: Uint8Array }> {
    const s = p256_hasher.hashToScalar(seed, { DST: DST_DERIVE_AUTH_KEY_PAIR });
    if (s === 0n) throw new Error('derived a zero scalar');
    return { private_key: scalarBytes(s), public_key: Point.BASE.multiply(s).toBytes(true) };
  }

  recoverPublicKey(private_key: Uint8Array): { private_key: Uint8Array; public_key: Uint8Array } {
    return { private_key, public_key: Point.BASE.multiply(Fn.fromBytes(private_key)).toBytes(true) };
  }

  async generateAuthKeyPair(): Promise<{ private_key: number[]; public_key: number[] }> {
    const s = randomScalar();
    return { private_key: Array.from(scalarBytes(s)), public_key: Array.from(Point.BASE.multiply(s).toBytes(true)) };
  }
}

/** SHA-256 output length (RFC 9807 `Nh`, `Nm`, `Nx`). */
const NH = 32;

/**
 * SHA-256, HMAC-SHA-256 and HKDF-SHA-256 (RFC 2104, RFC 5869) on @noble/hashes, with the
 * interfaces of opaque-ts's WebCrypto-based `Hash`, `Hmac` and `Hkdf` (same outputs). Building the
 * whole `Config` here, instead of starting from `getOpaqueConfig`, keeps the library's unused
 * default OPRF (voprf-ts's OPRF client and server) out of the bundle (docs/SIZE.md).
 */
const HASH: Config['hash'] = { name: 'SHA-256', Nh: NH, sum: async (msg) => sha256(msg) };
const MAC: Config['mac'] = {
  Nm: NH,
  async with_key(key) {
    const k = Uint8Array.from(key);
    return {
      sign: async (msg) => hmac(sha256, k, msg),
      // Constant-time comparison, as the library's `ctEqual`.
      verify: async (msg, output) => equalBytes(output, hmac(sha256, k, msg)),
    };
  },
};
const KDF: Config['kdf'] = {
  Nx: NH,
  extract: async (salt, ikm) => extract(sha256, ikm, salt),
  // opaque-ts only expands 32-byte PRKs (extract outputs and the 32-byte OPRF seed).
  expand: async (prk, info, lenBytes) => expand(sha256, prk, info, lenBytes),
};
const PRNG: Config['prng'] = { random: (n) => Array.from(secureRandom(n)) };

/** @internal An opaque-ts P-256 `Config` (`OPAQUE_P256`) with the group work on @noble/curves. */
export function nobleP256Config(): Config {
  return {
    // opaque-ts's own constants for every suite: Nn (nonce) and Nseed (seed) are 32 bytes.
    constants: { Nn: 32, Nseed: 32 },
    prng: PRNG,
    oprf: new NobleOprf(),
    hash: HASH,
    mac: MAC,
    kdf: KDF,
    ake: new NobleAke(),
  };
}
