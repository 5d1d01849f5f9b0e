import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../lib/labels.js';
import { createKeyring, decodeKeyring, deriveEscrowKek, encodeKeyring, openKeyring, rotateKeyring, sealKeyring } from '../../lib/recovery/keyring.js';
import {
  formatSelfCustodyKey,
  generateSelfCustodyKey,
  openKeyringWithRecoveryKey,
  parseSelfCustodyKey,
  sealKeyringWithRecoveryKey,
} from '../../lib/recovery/self-custody.js';
import { concatBytes, equalBytes, fromHex, toHex, utf8, writeU32BE } from '../../lib/util/bytes.js';
import { errorCode } from '../support/errors.js';

interface Vectors {
  key: string;
  text: string;
  accountId: string;
  kekInfo: string;
  kek: string;
  aadContext: string;
  nonce: string;
  keyringEncoding: string;
  sealed: string;
  texts: { key: string; text: string }[];
}
const V = JSON.parse(readFileSync(new URL('../vectors/keyring-self-custody-v1.json', import.meta.url), 'utf8')) as Vectors;

const lp = (b: Uint8Array) => {
  const len = new Uint8Array(4);
  writeU32BE(len, 0, b.length);
  return concatBytes(len, b);
};

// An independent, table-driven CRC-16/XMODEM, checked against the catalogue's check value.
const TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n << 8;
  for (let k = 0; k < 8; k++) c = c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1;
  return c & 0xffff;
});
const xmodem = (b: Uint8Array) => b.reduce((crc, x) => ((crc << 8) ^ TABLE[((crc >> 8) ^ x) & 0xff]!) & 0xffff, 0);

const arbKey = fc.uint8Array({ minLength: 32, maxLength: 32 });
const digitsOf = (text: string) => text.replace(/ /g, '');

beforeAll(async () => {
  await sodium.ready;
});

describe('self-custody recovery key text', () => {
  it('matches the frozen vectors and an independent CRC-16/XMODEM', () => {
    expect(xmodem(utf8('123456789'))).toBe(0x31c3);
    for (const v of [...V.texts, { key: V.key, text: V.text }]) {
      expect(formatSelfCustodyKey(fromHex(v.key))).toBe(v.text);
      expect(toHex(parseSelfCustodyKey(v.text))).toBe(v.key);
    }
    fc.assert(
      fc.property(arbKey, (key) => {
        const text = formatSelfCustodyKey(key);
        expect(text).toMatch(/^[0-9A-F]{4}( [0-9A-F]{4}){16}$/);
        expect(digitsOf(text).slice(0, 64)).toBe(toHex(key).toUpperCase());
        expect(parseInt(digitsOf(text).slice(64), 16)).toBe(xmodem(key));
      }),
    );
  });

  it('round-trips generate → text → parse, across case and separators', () => {
    fc.assert(
      fc.property(arbKey, fc.constantFrom(' ', '', '-', '\n', '\u00a0'), fc.boolean(), (raw, sep, lower) => {
        const { key, text } = generateSelfCustodyKey(() => Uint8Array.from(raw));
        expect(equalBytes(key, raw)).toBe(true);
        let typed = text.replace(/ /g, sep);
        if (lower) typed = typed.toLowerCase();
        expect(equalBytes(parseSelfCustodyKey(typed), raw)).toBe(true);
      }),
    );
    expect(generateSelfCustodyKey().key).toHaveLength(32);
  });

  it('catches every single wrong digit and every adjacent swap as a typo', () => {
    fc.assert(
      fc.property(arbKey, (key) => {
        const d = digitsOf(formatSelfCustodyKey(key));
        for (let i = 0; i < d.length; i++) {
          for (const c of '0123456789ABCDEF') {
            if (c === d[i]) continue;
            expect(errorCode(() => parseSelfCustodyKey(d.slice(0, i) + c + d.slice(i + 1)))).toBe('RECOVERY_CODE_TYPO');
          }
        }
        for (let i = 0; i + 1 < d.length; i++) {
          if (d[i] === d[i + 1]) continue;
          expect(errorCode(() => parseSelfCustodyKey(d.slice(0, i) + d[i + 1] + d[i] + d.slice(i + 2)))).toBe(
            'RECOVERY_CODE_TYPO',
          );
        }
      }),
      { numRuns: 15 },
    );
  });

  it('turns anything else into RECOVERY_CODE_INVALID, never a crash', () => {
    const d = digitsOf(V.text);
    expect(errorCode(() => parseSelfCustodyKey(d.slice(0, 64)))).toBe('RECOVERY_CODE_INVALID'); // no check group
    expect(errorCode(() => parseSelfCustodyKey(d + '0'))).toBe('RECOVERY_CODE_INVALID');
    expect(errorCode(() => parseSelfCustodyKey(d.slice(0, 10) + 'G' + d.slice(11)))).toBe('RECOVERY_CODE_INVALID');
    expect(() => parseSelfCustodyKey(d.slice(0, 64))).toThrow('a recovery key has 68 hex digits; this has 64');
    expect(() => parseSelfCustodyKey(d.slice(0, 10) + 'G' + d.slice(11))).toThrow('digit 11 of the recovery key is not a hex digit');
    expect(errorCode(() => parseSelfCustodyKey('0'.repeat(10_000)))).toBe('RECOVERY_CODE_INVALID');
    expect(() => parseSelfCustodyKey(undefined as unknown as string)).toThrow(TypeError);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        const code = errorCode(() => parseSelfCustodyKey(s));
        expect(['RECOVERY_CODE_INVALID', 'RECOVERY_CODE_TYPO']).toContain(code);
      }),
      { numRuns: 500 },
    );
  });
});

describe('keyring sealed under a self-custody key', () => {
  it('reproduces the frozen vector; node:crypto and libsodium agree on the KEK and the envelope', () => {
    const key = fromHex(V.key);
    const keyring = decodeKeyring(fromHex(V.keyringEncoding));
    const sealed = sealKeyringWithRecoveryKey(keyring, key, V.accountId, () => fromHex(V.nonce));
    expect(toHex(sealed)).toBe(V.sealed);
    const info = concatBytes(lp(utf8(LABELS.selfCustodyKek)), lp(utf8(V.accountId)));
    expect(toHex(info)).toBe(V.kekInfo);
    const kek = new Uint8Array(hkdfSync('sha256', key, new Uint8Array(0), info, 32));
    expect(toHex(kek)).toBe(V.kek);
    const aad = concatBytes(lp(utf8(LABELS.keyringAad)), Uint8Array.of(1), lp(fromHex(V.aadContext)));
    const pt = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed.subarray(25), aad, sealed.subarray(1, 25), kek);
    expect(toHex(pt)).toBe(V.keyringEncoding);
    const opened = openKeyringWithRecoveryKey(sealed, parseSelfCustodyKey(V.text), V.accountId);
    expect(toHex(encodeKeyring(opened))).toBe(V.keyringEncoding);
  });

  it('unlocks with the right key and account only', () => {
    const keyring = rotateKeyring(createKeyring());
    const { key, text } = generateSelfCustodyKey();
    const sealed = sealKeyringWithRecoveryKey(keyring, key, 'acct-1');
    const opened = openKeyringWithRecoveryKey(sealed, parseSelfCustodyKey(text.toLowerCase()), 'acct-1');
    expect(equalBytes(encodeKeyring(opened), encodeKeyring(keyring))).toBe(true);
    const other = generateSelfCustodyKey().key;
    expect(errorCode(() => openKeyringWithRecoveryKey(sealed, other, 'acct-1'))).toBe('KEYRING_AUTH_FAILED');
    expect(errorCode(() => openKeyringWithRecoveryKey(sealed, key, 'acct-2'))).toBe('KEYRING_AUTH_FAILED');
    const flipped = Uint8Array.from(sealed);
    flipped[40]! ^= 4;
    expect(errorCode(() => openKeyringWithRecoveryKey(flipped, key, 'acct-1'))).toBe('KEYRING_AUTH_FAILED');
    expect(errorCode(() => openKeyringWithRecoveryKey(sealed.subarray(0, 30), key, 'acct-1'))).toBe('KEYRING_MALFORMED');
  });

  it('cannot be confused with an escrow envelope made from the same bytes', () => {
    const keyring = createKeyring();
    const key = generateSelfCustodyKey().key;
    // The same 32 bytes used as an OPAQUE export key for the escrow give a different KEK and
    // context: neither envelope opens as the other.
    const escrowKek = deriveEscrowKek(key, 'fleet-1', 'acct-1');
    const escrow = sealKeyring(keyring, escrowKek, utf8('fleet-1/acct-1'));
    expect(errorCode(() => openKeyringWithRecoveryKey(escrow, key, 'acct-1'))).toBe('KEYRING_AUTH_FAILED');
    const selfCustody = sealKeyringWithRecoveryKey(keyring, key, 'acct-1');
    expect(errorCode(() => openKeyring(selfCustody, escrowKek, utf8('fleet-1/acct-1')))).toBe('KEYRING_AUTH_FAILED');
  });

  it('rejects misuse naming the argument', () => {
    const keyring = createKeyring();
    expect(() => sealKeyringWithRecoveryKey(keyring, new Uint8Array(31), 'a')).toThrow(/recoveryKey/);
    expect(() => sealKeyringWithRecoveryKey(keyring, new Uint8Array(32), '')).toThrow(/accountId/);
    expect(() => openKeyringWithRecoveryKey('x' as unknown as Uint8Array, new Uint8Array(32), 'a')).toThrow(/sealed/);
    expect(() => formatSelfCustodyKey(new Uint8Array(16))).toThrow(RangeError);
  });
});
