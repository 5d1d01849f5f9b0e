// Attacks on our RFC 9497 base-mode OPRF (lib/recovery/opaque/rfc9497.ts) from a malicious vault
// or a broken caller: non-canonical element and scalar encodings (RFC 9497 §2.1 DeserializeElement /
// DeserializeScalar, RFC 9807 §10.7), scalars at or above the group order, a RandomSource stuck at
// zero (§4.7 RandomScalar), and the secrets Blind and Finalize hold (the blind, the unblinded
// element) when they throw. The RFC 9497 vectors and the cross-check against noble are in
// rfc9497.test.ts.
import { describe, expect, it } from 'vitest';
import { ristretto255_hasher } from '@noble/curves/ed25519.js';
import { p256_hasher } from '@noble/curves/nist.js';
import { bytesToNumberBE, bytesToNumberLE, numberToBytesBE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { rfc9497Oprf, type Rfc9497Point, type Rfc9497Suite } from '../../lib/recovery/opaque/rfc9497.js';
import { ristretto255Group } from '../../lib/recovery/opaque/rfc9807-groups.js';
import { p256Group } from '../../lib/recovery/opaque/rfc9807-p256.js';
import { Rfc9807ClientSuite } from '../../lib/recovery/opaque/rfc9807-client.js';
import { Rfc9807Suite } from '../../lib/recovery/opaque/rfc9807.js';
import { INSECURE_IDENTITY_KSF_9807 } from '../../lib/recovery/opaque/rfc9807-ksf.js';
import { opaqueBinding } from '../../lib/recovery/protocol.js';
import { isBackupError } from '../../lib/errors.js';
import { concatBytes, toHex, utf8 } from '../../lib/util/bytes.js';

const RISTRETTO_P = 2n ** 255n - 19n;
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;

const input = new Uint8Array([1, 2, 3]);
const seed = new Uint8Array(32).fill(7);

describe('non-canonical and out-of-range encodings from a malicious vault', () => {
  it('ristretto255: the negative (odd) representative and s >= p of a valid element are refused', () => {
    const g = ristretto255Group();
    const { secretKey } = g.deriveKeyPair(seed, new Uint8Array(0));
    const blinded = g.blindWith(input, secretKey);
    const s = bytesToNumberLE(blinded); // canonical: 0 <= s < p, s even
    const negative = numberToBytesLE(RISTRETTO_P - s, 32); // the same |s|, odd: not canonical
    const highBit = Uint8Array.from(blinded);
    highBit[31]! |= 0x80;
    const aboveP = numberToBytesLE(RISTRETTO_P + 2n, 32); // 2 mod p, but not reduced
    for (const bad of [negative, highBit, aboveP]) {
      expect(() => g.blindEvaluate(secretKey, bad), toHex(bad)).toThrow();
      expect(() => g.finalize(input, secretKey, bad), toHex(bad)).toThrow();
    }
  });

  it('P-256: x >= p, an uncompressed or unknown prefix in 33 bytes, and an x off the curve are refused', () => {
    const g = p256Group();
    const { secretKey } = g.deriveKeyPair(seed, new Uint8Array(0));
    const blinded = g.blindWith(input, secretKey);
    const x = bytesToNumberBE(blinded.subarray(1));
    const bad: Uint8Array[] = [];
    if (x + P256_P < 2n ** 256n) bad.push(concatBytes(blinded.subarray(0, 1), numberToBytesBE(x + P256_P, 32)));
    bad.push(concatBytes(Uint8Array.of(2), numberToBytesBE(P256_P + 1n, 32)));
    for (const prefix of [0, 1, 4, 5, 6, 7]) bad.push(concatBytes(Uint8Array.of(prefix), blinded.subarray(1)));
    // An x whose x^3 - 3x + b is not a square: search from 1 for one the curve refuses.
    for (let i = 1n; bad.length < 10; i++) {
      const cand = concatBytes(Uint8Array.of(2), numberToBytesBE(i, 32));
      try {
        p256_hasher.Point.fromBytes(cand);
      } catch {
        bad.push(cand);
      }
    }
    for (const b of bad) {
      expect(() => g.blindEvaluate(secretKey, b), toHex(b)).toThrow();
      expect(() => g.finalize(input, secretKey, b), toHex(b)).toThrow();
    }
  });

  for (const [name, group, le] of [
    ['ristretto255-SHA512', ristretto255Group, true],
    ['P256-SHA256', p256Group, false],
  ] as const) {
    it(`${name}: a scalar equal to the order, or a valid one plus the order, is refused (never reduced)`, () => {
      const g = group();
      const n = (name === 'P256-SHA256' ? p256_hasher : ristretto255_hasher).Point.Fn.ORDER;
      const enc = (v: bigint) => (le ? numberToBytesLE(v, 32) : numberToBytesBE(v, 32));
      const dec = (b: Uint8Array) => (le ? bytesToNumberLE(b) : bytesToNumberBE(b));
      const { secretKey } = g.deriveKeyPair(seed, new Uint8Array(0));
      const blinded = g.blindWith(input, secretKey);
      const bad = [enc(n)];
      if (dec(secretKey) + n < 2n ** 256n) bad.push(enc(dec(secretKey) + n));
      bad.push(enc(n + 1n)); // 1 mod n
      for (const b of bad) {
        expect(() => g.scalar(b)).toThrow();
        expect(() => g.blindEvaluate(b, blinded)).toThrow();
        expect(() => g.blindWith(input, b)).toThrow();
        expect(() => g.finalize(input, b, blinded)).toThrow();
        expect(() => g.publicKey(b)).toThrow();
      }
    });

    it(`${name}: a vault reflecting the blinded element gives the unkeyed output, never the keyed one`, () => {
      // Base mode cannot detect a vault that answers with a key of its choosing (here sk = 1): the
      // output is then computable without the vault's key. OPAQUE binds it (the envelope MAC
      // fails at login, test/recovery/opaque-rfc9807.test.ts); this pins that nothing throws and
      // the output is not the honest one.
      const g = group();
      const { secretKey } = g.deriveKeyPair(seed, new Uint8Array(0));
      const b = g.blind(input, () => new Uint8Array(48).fill(9));
      const honest = g.finalize(input, b.blind, g.blindEvaluate(secretKey, b.blinded));
      const reflected = g.finalize(input, b.blind, b.blinded);
      expect(toHex(reflected)).not.toBe(toHex(honest));
      const one = new Uint8Array(32);
      one[le ? 0 : 31] = 1;
      expect(toHex(reflected)).toBe(toHex(g.finalize(input, b.blind, g.blindEvaluate(one, b.blinded))));
    });
  }
});

/**
 * A suite on ristretto255 whose points and scalar encoder record every byte string they hand out,
 * so a test can see whether the OPRF wiped them. `failHashToGroup`: hash-to-group gives the
 * identity (RFC 9497 InvalidInputError).
 */
function recordingSuite(failHashToGroup = false) {
  const h = ristretto255_hasher;
  type P = InstanceType<typeof h.Point>;
  const handedOut: Uint8Array[] = [];
  const scalarsOut: Uint8Array[] = [];
  interface W extends Rfc9497Point<W> {
    readonly p: P;
  }
  const wrap = (p: P): W => ({
    p,
    equals: (o: W) => p.equals(o.p),
    multiply: (s: bigint) => wrap(p.multiply(s)),
    toBytes: () => {
      const b = p.toBytes();
      handedOut.push(b);
      return b;
    },
  });
  const F = h.Point.Fn;
  // noble's field is frozen: what rfc9497.ts calls, with toBytes recording.
  const Fn = {
    ORDER: F.ORDER,
    BYTES: F.BYTES,
    is0: (v: bigint) => F.is0(v),
    create: (v: bigint) => F.create(v),
    fromBytes: (b: Uint8Array) => F.fromBytes(b),
    toBytes: (v: bigint) => {
      const b = F.toBytes(v);
      scalarsOut.push(b);
      return b;
    },
  } as unknown as typeof F;
  const suite: Rfc9497Suite<W> = {
    name: 'ristretto255-SHA512',
    Point: { fromBytes: (b) => wrap(h.Point.fromBytes(b)), ZERO: wrap(h.Point.ZERO), BASE: wrap(h.Point.BASE), Fn },
    hash: sha512,
    Noe: 32,
    hashToGroup: (m, o) => wrap(failHashToGroup ? h.Point.ZERO : (h.hashToCurve(m, o) as P)),
    hashToScalar: (m, o) => h.hashToScalar(m, o),
  };
  return { oprf: rfc9497Oprf(suite), handedOut, scalarsOut };
}

const zeroed = (bs: Uint8Array[]) => bs.every((b) => b.every((x) => x === 0));

describe('secrets are wiped when Blind and Finalize throw', () => {
  it('the recording suite is the real one (same outputs as the ristretto255 group)', () => {
    const { oprf } = recordingSuite();
    const g = ristretto255Group();
    const b = oprf.blind(input, () => new Uint8Array(48).fill(5));
    expect(toHex(b.blinded)).toBe(toHex(g.blindWith(input, b.blind)));
    const { secretKey } = g.deriveKeyPair(seed, new Uint8Array(0));
    const ev = g.blindEvaluate(secretKey, b.blinded);
    expect(toHex(oprf.finalize(input, b.blind, ev))).toBe(toHex(g.finalize(input, b.blind, ev)));
  });

  it('Finalize with an over-long input leaves no unblinded element behind', () => {
    const { oprf, handedOut } = recordingSuite();
    const g = ristretto255Group();
    const { secretKey } = g.deriveKeyPair(seed, new Uint8Array(0));
    const b = g.blind(input, () => new Uint8Array(48).fill(5));
    const ev = g.blindEvaluate(secretKey, b.blinded);
    handedOut.length = 0;
    expect(() => oprf.finalize(new Uint8Array(0x10000), b.blind, ev)).toThrow(RangeError);
    expect(zeroed(handedOut)).toBe(true);
  });

  it('Blind with an over-long input leaves no blind behind', () => {
    const { oprf, scalarsOut } = recordingSuite();
    expect(() => oprf.blind(new Uint8Array(0x10000), () => new Uint8Array(48).fill(5))).toThrow(RangeError);
    expect(zeroed(scalarsOut)).toBe(true);
  });

  it('Blind with an input that hashes to the identity leaves no blind behind', () => {
    const { oprf, scalarsOut } = recordingSuite(true);
    expect(() => oprf.blind(input, () => new Uint8Array(48).fill(5))).toThrow(RangeError);
    expect(zeroed(scalarsOut)).toBe(true);
  });
});

describe('a broken RandomSource', () => {
  it('one stuck at zero makes Blind throw instead of drawing forever', () => {
    const g = ristretto255Group();
    let calls = 0;
    const stuck = (n: number) => {
      if (++calls > 1000) throw new Error('still drawing after 1000 calls');
      return new Uint8Array(n);
    };
    let e: unknown;
    try {
      g.blind(input, stuck);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(RangeError);
    expect(calls).toBeLessThan(1000);
  });
});

describe('through the client-side RFC 9807 suite (what the vault client runs)', () => {
  for (const group of ['ristretto255-SHA512', 'P256-SHA256'] as const) {
    it(`${group}: a KE2 reflecting KE1's blinded element fails the login; an identity keyshare is PROTOCOL`, async () => {
      const server = new Rfc9807Suite(group, INSECURE_IDENTITY_KSF_9807);
      const client = new Rfc9807ClientSuite(group, INSECURE_IDENTITY_KSF_9807);
      const setup = await server.generateServerSetup();
      const pk = server.setupPublicKey(setup);
      const bind = opaqueBinding('fleet-a', server.id, 'acct', pk);
      const vault = server.server(setup, { serverIdentity: bind.serverIdentity });
      const reg = await client.startRegistration(utf8('pw'));
      const { record } = await reg.finish(await vault.registrationResponse(reg.request, bind), bind);
      const Noe = group === 'P256-SHA256' ? 33 : 32;

      const login = await client.startLogin(utf8('pw'));
      const { ke2 } = await vault.startLogin(login.ke1, record, bind);
      const reflected = Uint8Array.from(ke2);
      reflected.set(login.ke1.subarray(0, Noe), 0);
      expect(await login.finish(reflected, bind)).toBeUndefined();

      const login2 = await client.startLogin(utf8('pw'));
      const ke2b = Uint8Array.from((await vault.startLogin(login2.ke1, record, bind)).ke2);
      const keyshareAt = ke2b.length - (group === 'P256-SHA256' ? 32 : 64) - Noe;
      ke2b.fill(0, keyshareAt, keyshareAt + Noe);
      const e = await login2.finish(ke2b, bind).catch((x: unknown) => x);
      expect(isBackupError(e, 'PROTOCOL'), String(e)).toBe(true);

      // The honest run still works with the same record.
      const login3 = await client.startLogin(utf8('pw'));
      expect(await login3.finish((await vault.startLogin(login3.ke1, record, bind)).ke2, bind)).toBeDefined();
    });
  }
});
