import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  abytes, concatBytes, concatChunks, equalBytes, fromBase64, fromHex, isBytes, readU64BE, toBase64, toBase64Url, toHex, writeU64BE,
} from '../../lib/util/bytes.js';
import { BackupError, isBackupError } from '../../lib/errors.js';

describe('bytes', () => {
  it('hex and base64 round-trip any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        expect(equalBytes(fromHex(toHex(b)), b)).toBe(true);
        expect(equalBytes(fromBase64(toBase64(b)), b)).toBe(true);
        expect(equalBytes(fromBase64(toBase64Url(b)), b)).toBe(true);
        expect(toBase64(b)).toBe(Buffer.from(b).toString('base64'));
      }),
    );
  });
  it('equalBytes agrees with Buffer.equals', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        expect(equalBytes(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)));
      }),
    );
  });
  it('u64 round-trips safe integers and refuses others', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const b = new Uint8Array(8);
        writeU64BE(b, 0, n);
        expect(readU64BE(b, 0)).toBe(n);
        expect(Buffer.from(b).readBigUInt64BE()).toBe(BigInt(n));
      }),
    );
    expect(() => readU64BE(new Uint8Array(8).fill(0xff), 0)).toThrow(RangeError);
  });
  it('abytes names the argument and never prints the value', () => {
    expect(() => abytes('x', 'key')).toThrow(new TypeError('key must be a Uint8Array'));
    expect(() => abytes(new Uint8Array(3), 'key', 32)).toThrow(/key must be 32 bytes, got 3/);
    expect(isBytes(new Uint16Array(2))).toBe(false);
  });
  it('rejects malformed hex and base64 with TypeError', () => {
    expect(() => fromHex('abc')).toThrow(TypeError);
    expect(() => fromHex('zz')).toThrow(TypeError);
    expect(() => fromBase64('!!!')).toThrow(TypeError);
  });
});

describe('concatChunks', () => {
  it('agrees with concatBytes and Buffer.concat, views with an offset included', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }), fc.nat(3), (parts, off) => {
        const views = parts.map((p) => {
          const big = new Uint8Array(p.length + off + 2).fill(0xee);
          big.set(p, off);
          return big.subarray(off, off + p.length);
        });
        const want = Buffer.concat(parts);
        expect(Buffer.from(concatChunks(views)).equals(want)).toBe(true);
        expect(Buffer.from(concatBytes(...views)).equals(want)).toBe(true);
      }),
    );
  });
  it('takes more chunks than a call could take arguments', () => {
    const chunks = Array.from({ length: 300_000 }, (_, i) => Uint8Array.of(i & 0xff));
    const out = concatChunks(chunks);
    expect(out.length).toBe(300_000);
    expect(out[299_999]).toBe(299_999 & 0xff);
  });
});

describe('BackupError', () => {
  it('carries a stable code, details and cause, and is detectable across realms', () => {
    const cause = new Error('inner');
    const e = new BackupError('WRONG_CODE', 'wrong recovery code', { guessesRemaining: 3, cause });
    expect(e.code).toBe('WRONG_CODE');
    expect(e.guessesRemaining).toBe(3);
    expect(e.cause).toBe(cause);
    expect(isBackupError(e, 'WRONG_CODE')).toBe(true);
    expect(isBackupError(e, 'LOCKED_OUT')).toBe(false);
    // A structured clone (another realm, a worker message) keeps name and code.
    const plain = { name: 'BackupError', code: 'LOCKED_OUT', message: 'x' };
    expect(isBackupError(plain, 'LOCKED_OUT')).toBe(true);
    expect(isBackupError(new Error('x'))).toBe(false);
  });
});
