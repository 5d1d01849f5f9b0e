import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { beforeAll, describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { LABELS } from '../../lib/labels.js';
import {
  KEY_ID_LENGTH,
  MAX_KEYRING_GENERATIONS,
  createKeyring,
  decodeKeyring,
  deriveEscrowKek,
  encodeKeyring,
  keyForId,
  openKeyring,
  rotateKeyring,
  sealKeyring,
  wipeKeyring,
  type KeyGeneration,
  type Keyring,
} from '../../lib/recovery/keyring.js';
import { concatBytes, equalBytes, fromHex, toHex, utf8, writeU32BE } from '../../lib/util/bytes.js';
import { expectCode } from '../support/errors.js';
import { sharedVector } from '../support/shared-vectors.js';

interface Vectors {
  keyring: { generations: { keyId: string; key: string; createdAt: number }[] };
  encoding: string;
  escrowKek: { exportKey: string; fleetId: string; accountId: string; info: string; kek: string };
  sealed: { kek: string; aadContext: string; nonce: string; aad: string; sealed: string };
}
const V = JSON.parse(readFileSync(new URL('../vectors/keyring-v1.json', import.meta.url), 'utf8')) as Vectors;

/** A random source that replays fixed arrays, for frozen vectors. */
function replay(...arrays: Uint8Array[]) {
  const queue = arrays.map((a) => Uint8Array.from(a));
  return (n: number) => {
    const next = queue.shift();
    if (next === undefined || next.length !== n) throw new Error(`unexpected random(${n})`);
    return next;
  };
}

const lp = (b: Uint8Array) => {
  const len = new Uint8Array(4);
  writeU32BE(len, 0, b.length);
  return concatBytes(len, b);
};

/** Arbitrary valid keyrings (1 to 6 generations, distinct keyIds). */
const arbKeyring: fc.Arbitrary<Keyring> = fc
  .uniqueArray(fc.uint8Array({ minLength: KEY_ID_LENGTH, maxLength: KEY_ID_LENGTH }), {
    minLength: 1,
    maxLength: 6,
    selector: (id) => toHex(id),
  })
  .chain((ids) =>
    fc.tuple(
      fc.constant(ids),
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: ids.length, maxLength: ids.length }),
      fc.array(fc.maxSafeNat(), { minLength: ids.length, maxLength: ids.length }),
    ),
  )
  .map(([ids, keys, times]) => {
    const generations: KeyGeneration[] = ids.map((keyId, i) => ({ keyId, key: keys[i]!, createdAt: times[i]! }));
    return { generations, current: generations[generations.length - 1]! };
  });

function sameKeyring(a: Keyring, b: Keyring): boolean {
  return (
    a.generations.length === b.generations.length &&
    a.generations.every(
      (g, i) =>
        equalBytes(g.keyId, b.generations[i]!.keyId) &&
        equalBytes(g.key, b.generations[i]!.key) &&
        g.createdAt === b.generations[i]!.createdAt,
    ) &&
    equalBytes(a.current.keyId, b.current.keyId)
  );
}

beforeAll(async () => {
  await sodium.ready;
});

describe('keyring generations', () => {
  it('creates one random generation and rotates by appending a new current one', () => {
    let t = 1000;
    const k1 = createKeyring(undefined, () => t++);
    expect(k1.generations).toHaveLength(1);
    expect(k1.current).toBe(k1.generations[0]);
    expect(k1.current.keyId).toHaveLength(KEY_ID_LENGTH);
    expect(k1.current.key).toHaveLength(32);
    expect(k1.current.createdAt).toBe(1000);
    const k2 = rotateKeyring(k1, undefined, () => t++);
    expect(k2.generations).toHaveLength(2);
    expect(k2.current).toBe(k2.generations[1]);
    expect(k2.current.createdAt).toBe(1001);
    expect(equalBytes(k2.generations[0]!.key, k1.current.key)).toBe(true);
    expect(equalBytes(k2.current.key, k1.current.key)).toBe(false);
    // The rotated keyring owns copies: wiping the old one leaves it intact.
    const before = Uint8Array.from(k2.generations[0]!.key);
    wipeKeyring(k1);
    expect(k1.current.key.every((b) => b === 0)).toBe(true);
    expect(equalBytes(k2.generations[0]!.key, before)).toBe(true);
  });

  it('finds keys by keyId and hands out copies', () => {
    const k = rotateKeyring(createKeyring());
    for (const g of k.generations) {
      const key = keyForId(k, g.keyId)!;
      expect(equalBytes(key, g.key)).toBe(true);
      key.fill(0);
      expect(g.key.some((b) => b !== 0)).toBe(true);
    }
    expect(keyForId(k, new Uint8Array(KEY_ID_LENGTH).fill(0xee))).toBeUndefined();
  });

  it('looks keyIds up in views with a non-zero offset', () => {
    const k = createKeyring();
    const buf = new Uint8Array(KEY_ID_LENGTH + 5);
    buf.set(k.current.keyId, 5);
    expect(equalBytes(keyForId(k, buf.subarray(5))!, k.current.key)).toBe(true);
  });

  it('refuses to rotate past the cap', () => {
    let k = createKeyring();
    for (let i = 1; i < MAX_KEYRING_GENERATIONS; i++) k = rotateKeyring(k);
    expect(k.generations).toHaveLength(MAX_KEYRING_GENERATIONS);
    expect(() => rotateKeyring(k)).toThrow(RangeError);
  });

  it('rejects misuse with TypeError / RangeError naming the argument', () => {
    const k = createKeyring();
    expect(() => keyForId(k, new Uint8Array(15))).toThrow(/keyId/);
    expect(() => keyForId(k, 'abc' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => encodeKeyring({} as Keyring)).toThrow(TypeError);
    expect(() => encodeKeyring({ generations: [], current: k.current })).toThrow(RangeError);
    expect(() =>
      encodeKeyring({ generations: [k.current, k.current], current: k.current }),
    ).toThrow(/duplicates/);
    expect(() => createKeyring(() => new Uint8Array(3))).toThrow(RangeError);
    // A "random" source that repeats itself is refused instead of looping for ever.
    const zeros = (n: number) => new Uint8Array(n);
    expect(() => rotateKeyring(createKeyring(zeros), zeros)).toThrow(/repeated keyId/);
    const k2 = rotateKeyring(k);
    expect(() => encodeKeyring({ generations: k2.generations, current: k2.generations[0]! })).toThrow(/current/);
    expect(() => createKeyring(undefined, () => -1)).toThrow(/now/);
    expect(() => sealKeyring(k, new Uint8Array(16), new Uint8Array())).toThrow(/kek/);
    expect(() => deriveEscrowKek(new Uint8Array(16), 'f', 'a')).toThrow(/exportKey/);
    expect(() => deriveEscrowKek(new Uint8Array(32), '', 'a')).toThrow(/fleetId/);
    expect(() => deriveEscrowKek(new Uint8Array(32), 'f', '\ud800')).toThrow(/accountId/);
  });
});

describe('keyring encoding', () => {
  it('matches the frozen vector both ways', () => {
    const generations = V.keyring.generations.map((g) => ({
      keyId: fromHex(g.keyId),
      key: fromHex(g.key),
      createdAt: g.createdAt,
    }));
    const k: Keyring = { generations, current: generations[generations.length - 1]! };
    expect(toHex(encodeKeyring(k))).toBe(V.encoding);
    expect(sameKeyring(decodeKeyring(fromHex(V.encoding)), k)).toBe(true);
  });

  it('round-trips every keyring, and is canonical', () => {
    fc.assert(
      fc.property(arbKeyring, (k) => {
        const bytes = encodeKeyring(k);
        const back = decodeKeyring(bytes);
        expect(sameKeyring(back, k)).toBe(true);
        expect(equalBytes(encodeKeyring(back), bytes)).toBe(true);
      }),
    );
  });

  it('rejects every malformed shape with KEYRING_MALFORMED', () => {
    const good = fromHex(V.encoding);
    const mutate = (f: (b: Uint8Array) => Uint8Array) => f(Uint8Array.from(good));
    expectCode(() => decodeKeyring(new Uint8Array(0)), 'KEYRING_MALFORMED');
    expectCode(() => decodeKeyring(mutate((b) => ((b[0] = 0x46), b))), 'KEYRING_MALFORMED'); // magic
    expectCode(() => decodeKeyring(mutate((b) => ((b[4] = 2), b))), 'KEYRING_MALFORMED'); // version
    expectCode(() => decodeKeyring(mutate((b) => ((b[5] = 0), (b[6] = 0), b))), 'KEYRING_MALFORMED'); // count 0
    expectCode(() => decodeKeyring(mutate((b) => ((b[6] = 3), b))), 'KEYRING_MALFORMED'); // count ≠ length
    expectCode(() => decodeKeyring(good.subarray(0, good.length - 1)), 'KEYRING_MALFORMED'); // truncated
    expectCode(() => decodeKeyring(concatBytes(good, new Uint8Array(1))), 'KEYRING_MALFORMED'); // trailing
    // Duplicate keyId: copy generation 0's id into generation 1.
    expectCode(() => decodeKeyring(mutate((b) => (b.copyWithin(7 + 56, 7, 7 + 16), b))), 'KEYRING_MALFORMED');
    // createdAt above 2^53 − 1.
    expectCode(() => decodeKeyring(mutate((b) => ((b[7 + 48] = 0x00), (b[7 + 49] = 0x20), b))), 'KEYRING_MALFORMED');
    // Over the generation cap: a count of 257 with a matching length is still refused, before any
    // entry is read.
    const big = new Uint8Array(7 + 257 * 56);
    big.set(good.subarray(0, 5));
    big[5] = 0x01;
    big[6] = 0x01;
    expectCode(() => decodeKeyring(big), 'KEYRING_MALFORMED');
  });

  it('never crashes on random or mutated bytes: a keyring or KEYRING_MALFORMED', () => {
    const good = fromHex(V.encoding);
    const check = (bytes: Uint8Array) => {
      try {
        const k = decodeKeyring(bytes);
        expect(equalBytes(encodeKeyring(k), bytes)).toBe(true);
      } catch (e) {
        expect(isBackupError(e, 'KEYRING_MALFORMED')).toBe(true);
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), check), { numRuns: 500 });
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const b = Uint8Array.from(good);
        b[i]! ^= x;
        check(b);
      }),
      { numRuns: 500 },
    );
  });
});

describe('escrow KEK', () => {
  it('matches the frozen vector and node:crypto hkdfSync', () => {
    const { exportKey, fleetId, accountId, info, kek } = V.escrowKek;
    expect(toHex(deriveEscrowKek(fromHex(exportKey), fleetId, accountId))).toBe(kek);
    const expectedInfo = concatBytes(lp(utf8(LABELS.escrowKek)), lp(utf8(fleetId)), lp(utf8(accountId)));
    expect(toHex(expectedInfo)).toBe(info);
    const node = new Uint8Array(hkdfSync('sha256', fromHex(exportKey), new Uint8Array(0), expectedInfo, 32));
    expect(toHex(node)).toBe(kek);
  });

  it('agrees with node:crypto for any inputs, and binds ids unambiguously', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 64 }),
        fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
        fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
        (ek, fleetId, accountId) => {
          const info = concatBytes(lp(utf8(LABELS.escrowKek)), lp(utf8(fleetId)), lp(utf8(accountId)));
          const node = new Uint8Array(hkdfSync('sha256', ek, new Uint8Array(0), info, 32));
          expect(equalBytes(deriveEscrowKek(ek, fleetId, accountId), node)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
    const ek = new Uint8Array(32).fill(7);
    expect(equalBytes(deriveEscrowKek(ek, 'ab', 'c'), deriveEscrowKek(ek, 'a', 'bc'))).toBe(false);
    expect(equalBytes(deriveEscrowKek(ek, 'a', 'b'), deriveEscrowKek(ek, 'b', 'a'))).toBe(false);
  });
});

describe('sealed keyring', () => {
  const kek = fromHex(V.sealed.kek);
  const ctx = fromHex(V.sealed.aadContext);

  it('reproduces the frozen vector with a fixed nonce, and libsodium opens it', () => {
    const k = decodeKeyring(fromHex(V.encoding));
    const sealed = sealKeyring(k, kek, ctx, replay(fromHex(V.sealed.nonce)));
    expect(toHex(sealed)).toBe(V.sealed.sealed);
    const aad = concatBytes(lp(utf8(LABELS.keyringAad)), Uint8Array.of(1), lp(ctx));
    expect(toHex(aad)).toBe(V.sealed.aad);
    const pt = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed.subarray(25), aad, sealed.subarray(1, 25), kek);
    expect(toHex(pt)).toBe(V.encoding);
  });

  it('opens what libsodium seals, and libsodium opens what we seal (random keyrings)', () => {
    fc.assert(
      fc.property(arbKeyring, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 64 }), (k, key, context) => {
        const aad = concatBytes(lp(utf8(LABELS.keyringAad)), Uint8Array.of(1), lp(context));
        const ours = sealKeyring(k, key, context);
        const pt = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ours.subarray(25), aad, ours.subarray(1, 25), key);
        expect(equalBytes(pt, encodeKeyring(k))).toBe(true);
        const nonce = sodium.randombytes_buf(24);
        const theirs = concatBytes(
          Uint8Array.of(1),
          nonce,
          sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(encodeKeyring(k), aad, null, nonce, key),
        );
        expect(sameKeyring(openKeyring(theirs, key, context), k)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('uses a fresh nonce on every seal', () => {
    const k = createKeyring();
    const a = sealKeyring(k, kek, ctx);
    const b = sealKeyring(k, kek, ctx);
    expect(equalBytes(a.subarray(1, 25), b.subarray(1, 25))).toBe(false);
    expect(sameKeyring(openKeyring(a, kek, ctx), k)).toBe(true);
  });

  it('fails with KEYRING_AUTH_FAILED on a wrong KEK, a wrong context, or any flipped byte', () => {
    const sealed = fromHex(V.sealed.sealed);
    const wrongKek = Uint8Array.from(kek);
    wrongKek[31]! ^= 1;
    expectCode(() => openKeyring(sealed, wrongKek, ctx), 'KEYRING_AUTH_FAILED');
    expectCode(() => openKeyring(sealed, kek, utf8('fleet-eu-2/user-42@example.com')), 'KEYRING_AUTH_FAILED');
    expectCode(() => openKeyring(sealed, kek, new Uint8Array(0)), 'KEYRING_AUTH_FAILED');
    // Every byte after the version byte is authenticated (nonce via the subkey, the rest via the tag).
    for (let i = 1; i < sealed.length; i++) {
      const b = Uint8Array.from(sealed);
      b[i]! ^= 0x01;
      expectCode(() => openKeyring(b, kek, ctx), 'KEYRING_AUTH_FAILED');
    }
    // A KEK from another fleet or account opens nothing.
    const { exportKey, accountId } = V.escrowKek;
    const otherFleet = deriveEscrowKek(fromHex(exportKey), 'fleet-eu-2', accountId);
    expectCode(() => openKeyring(sealed, otherFleet, ctx), 'KEYRING_AUTH_FAILED');
  });

  it('rejects impossible lengths and unknown versions with KEYRING_MALFORMED', () => {
    const sealed = fromHex(V.sealed.sealed);
    const b = Uint8Array.from(sealed);
    b[0] = 2;
    expectCode(() => openKeyring(b, kek, ctx), 'KEYRING_MALFORMED');
    expectCode(() => openKeyring(sealed.subarray(0, 50), kek, ctx), 'KEYRING_MALFORMED');
    expectCode(() => openKeyring(new Uint8Array(20_000), kek, ctx), 'KEYRING_MALFORMED');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          openKeyring(bytes, kek, ctx);
          expect.unreachable();
        } catch (e) {
          expect(isBackupError(e, 'KEYRING_MALFORMED') || isBackupError(e, 'KEYRING_AUTH_FAILED')).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the AEAD as we call it agrees with the Wycheproof XChaCha20-Poly1305 vectors', () => {
    interface T { key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string }
    const w = JSON.parse(
      readFileSync(sharedVector('wycheproof', 'xchacha20_poly1305_test.json'), 'utf8'),
    ) as { testGroups: { keySize: number; ivSize: number; tests: T[] }[] };
    let valid = 0;
    let invalid = 0;
    for (const g of w.testGroups) {
      if (g.keySize !== 256 || g.ivSize !== 192) continue;
      for (const t of g.tests) {
        const sealed = concatBytes(fromHex(t.ct), fromHex(t.tag));
        let opened: Uint8Array | undefined;
        try {
          opened = xchacha20poly1305(fromHex(t.key), fromHex(t.iv), fromHex(t.aad)).decrypt(sealed);
        } catch {
          opened = undefined;
        }
        if (t.result === 'valid') {
          valid++;
          expect(opened && toHex(opened)).toBe(t.msg);
        } else if (t.result === 'invalid') {
          invalid++;
          expect(opened).toBeUndefined();
        }
      }
    }
    expect(valid).toBeGreaterThan(100);
    expect(invalid).toBeGreaterThan(10);
  });
});
