import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { LABELS } from '../../lib/labels.js';
import {
  RECOVERY_CODE_ALPHABET,
  generateRecoveryCode,
  normalizePassword,
  parseRecoveryCode,
  type PasswordPolicy,
} from '../../lib/recovery/code.js';
import { concatBytes, equalBytes, fromHex, fromUtf8, toHex, utf8 } from '../../lib/util/bytes.js';
import { errorCode } from '../support/errors.js';

interface Vectors {
  generated: { random: string; code: string; secret: string }[];
  accepted: { input: string; secret: string }[];
  typos: { input: string; error: string }[];
  invalid: { input: string; error: string }[];
  policies: Record<string, PasswordPolicy>;
  passwords: { policy: string; input: string; secret?: string; error?: string }[];
}
const V = JSON.parse(readFileSync(new URL('../vectors/recovery-code-v1.json', import.meta.url), 'utf8')) as Vectors;

const arbCode = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => generateRecoveryCode(() => b));
const strip = (code: string) => code.replace(/-/g, '');
const withDashes = (s: string) => s.match(/.{1,4}/g)!.join('-');

// An independent GF(32) for the check equations: carry-less multiplication reduced by
// x^5 + x^2 + 1, written without tables, so it shares no code with lib/recovery/code.ts.
function mul(a: number, b: number): number {
  let p = 0;
  for (let i = 0; i < 5; i++) if ((b >> i) & 1) p ^= a << i;
  for (let d = 9; d >= 5; d--) if ((p >> d) & 1) p ^= 0x25 << (d - 5);
  return p;
}
function evalAt(symbols: number[], x: number): number {
  return symbols.reduce((acc, s) => mul(acc, x) ^ s, 0);
}
const ALPHA = 2;
const ALPHA2 = mul(2, 2);
/** Complete any 26 leading symbols into a codeword by brute force over the 1024 check pairs. */
function complete(lead: number[]): string {
  for (let a = 0; a < 32; a++) {
    for (let b = 0; b < 32; b++) {
      const s = [...lead, a, b];
      if (evalAt(s, ALPHA) === 0 && evalAt(s, ALPHA2) === 0) return s.map((v) => RECOVERY_CODE_ALPHABET[v]).join('');
    }
  }
  throw new Error('no codeword');
}

describe('generated recovery codes', () => {
  it('match the frozen vectors', () => {
    for (const v of V.generated) {
      expect(generateRecoveryCode(() => fromHex(v.random))).toBe(v.code);
      expect(toHex(parseRecoveryCode(v.code))).toBe(v.secret);
    }
    for (const v of V.accepted) expect(toHex(parseRecoveryCode(v.input))).toBe(v.secret);
    for (const v of V.typos) expect(errorCode(() => parseRecoveryCode(v.input))).toBe(v.error);
    for (const v of V.invalid) expect(errorCode(() => parseRecoveryCode(v.input))).toBe(v.error);
  });

  it('have the documented shape: version 1, 7 groups of 4, Crockford symbols, 125 random bits', () => {
    fc.assert(
      fc.property(arbCode, (code) => {
        expect(code).toMatch(/^1[0-9A-HJKMNP-TV-Z]{3}(-[0-9A-HJKMNP-TV-Z]{4}){6}$/);
      }),
    );
    // Injective on the first 125 random bits, blind to the last 3.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(124), (b, bit) => {
        const flipped = Uint8Array.from(b);
        flipped[bit >> 3]! ^= 0x80 >> (bit & 7);
        expect(generateRecoveryCode(() => Uint8Array.from(flipped))).not.toBe(generateRecoveryCode(() => Uint8Array.from(b)));
        const low = Uint8Array.from(b);
        low[15]! ^= 0x07;
        expect(generateRecoveryCode(() => low)).toBe(generateRecoveryCode(() => Uint8Array.from(b)));
      }),
    );
  });

  it('are codewords under an independent evaluation of the check equations', () => {
    fc.assert(
      fc.property(arbCode, (code) => {
        const s = [...strip(code)].map((c) => RECOVERY_CODE_ALPHABET.indexOf(c));
        expect(evalAt(s, ALPHA)).toBe(0);
        expect(evalAt(s, ALPHA2)).toBe(0);
        expect(complete(s.slice(0, 26))).toBe(strip(code));
      }),
      { numRuns: 50 },
    );
  });

  it('round-trip to the documented password bytes', () => {
    fc.assert(
      fc.property(arbCode, (code) => {
        const expected = concatBytes(utf8(LABELS.recoveryCodeSecret), Uint8Array.of(0), utf8(strip(code)));
        expect(equalBytes(parseRecoveryCode(code), expected)).toBe(true);
      }),
    );
  });

  it('catch every single substitution and every adjacent transposition as a typo', () => {
    fc.assert(
      fc.property(arbCode, (code) => {
        const s = strip(code);
        for (let i = 0; i < s.length; i++) {
          for (const c of RECOVERY_CODE_ALPHABET) {
            if (c === s[i]) continue;
            expect(errorCode(() => parseRecoveryCode(withDashes(s.slice(0, i) + c + s.slice(i + 1))))).toBe(
              'RECOVERY_CODE_TYPO',
            );
          }
        }
        for (let i = 0; i + 1 < s.length; i++) {
          if (s[i] === s[i + 1]) continue;
          const t = s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2);
          expect(errorCode(() => parseRecoveryCode(t))).toBe('RECOVERY_CODE_TYPO');
        }
      }),
      { numRuns: 40 },
    );
  });

  it('catch any two wrong symbols as a typo (distance 3)', () => {
    fc.assert(
      fc.property(arbCode, fc.nat(27), fc.nat(27), fc.integer({ min: 1, max: 31 }), fc.integer({ min: 1, max: 31 }), (code, i, j, x, y) => {
        fc.pre(i !== j);
        const s = [...strip(code)].map((c) => RECOVERY_CODE_ALPHABET.indexOf(c));
        s[i]! ^= x; // substitution = adding a non-zero element of GF(32)
        s[j]! ^= y;
        const typed = s.map((v) => RECOVERY_CODE_ALPHABET[v]).join('');
        expect(errorCode(() => parseRecoveryCode(typed))).toBe('RECOVERY_CODE_TYPO');
      }),
      { numRuns: 3000 },
    );
  });

  it('accept case, separator, NFKC and look-alike variants', () => {
    const toFullWidth = (c: string) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0);
    const lookAlike: Record<string, string[]> = {
      '0': ['O', 'o', '\u041E', '\u039F'],
      '1': ['I', 'i', 'L', 'l', '\u0406'],
      V: ['U', 'u'],
      A: ['\u0410', '\u0391'],
      B: ['\u0412'],
      E: ['\u0415'],
      H: ['\u041D'],
      K: ['\u041A'],
      M: ['\u041C'],
      P: ['\u0420'],
      T: ['\u0422'],
      X: ['\u0425'],
    };
    const separators = ['', ' ', '-', '  ', '\u2010', '\u2013', '\u2014', '\u2212', '\u00a0', '\u3000', '\u200b', '\t', '\n', '.', '_', '/', '\u00ad'];
    fc.assert(
      fc.property(
        arbCode,
        fc.array(fc.nat(), { minLength: 28, maxLength: 28 }),
        fc.array(fc.constantFrom(...separators), { minLength: 29, maxLength: 29 }),
        (code, choices, seps) => {
          const s = strip(code);
          let typed = seps[0]!;
          for (let i = 0; i < s.length; i++) {
            const c = s[i]!;
            const options = [c, c.toLowerCase(), toFullWidth(c), ...(lookAlike[c] ?? [])];
            typed += options[choices[i]! % options.length]! + seps[i + 1]!;
          }
          expect(fromUtf8(parseRecoveryCode(typed))).toBe(`${LABELS.recoveryCodeSecret}\u0000${s}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('turn random strings into a typed error, never a crash', () => {
    const check = (input: string) => {
      try {
        parseRecoveryCode(input);
      } catch (e) {
        expect(isBackupError(e, 'RECOVERY_CODE_INVALID') || isBackupError(e, 'RECOVERY_CODE_TYPO')).toBe(true);
      }
    };
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), check), { numRuns: 1000 });
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...RECOVERY_CODE_ALPHABET, '-', ' '), minLength: 20, maxLength: 40 }), check), {
      numRuns: 1000,
    });
    expect(errorCode(() => parseRecoveryCode('1'.repeat(100_000)))).toBe('RECOVERY_CODE_INVALID');
    expect(() => parseRecoveryCode(42 as unknown as string)).toThrow(TypeError);
  });

  it('tell a wrong shape or version apart from a typo, without echoing the code', () => {
    const code = generateRecoveryCode();
    const s = strip(code);
    expect(errorCode(() => parseRecoveryCode(s.slice(1)))).toBe('RECOVERY_CODE_INVALID');
    expect(errorCode(() => parseRecoveryCode(s + s[0]))).toBe('RECOVERY_CODE_INVALID');
    expect(() => parseRecoveryCode(s.slice(1))).toThrow('a recovery code has 28 symbols; this has 27');
    expect(() => parseRecoveryCode(s.slice(0, 10) + '#' + s.slice(11))).toThrow('symbol 11 of the recovery code is not a code character');
    for (const bad of ['*', '#', 'Ä', '😀']) {
      try {
        parseRecoveryCode(s.slice(0, 10) + bad + s.slice(11));
        expect.unreachable();
      } catch (e) {
        expect(isBackupError(e, 'RECOVERY_CODE_INVALID')).toBe(true);
        expect((e as Error).message).not.toContain(s.slice(0, 4));
      }
    }
    // A valid codeword of version 2 (the future) has good check symbols but an unknown version.
    const lead = [...s.slice(0, 26)].map((c) => RECOVERY_CODE_ALPHABET.indexOf(c));
    lead[0] = 2;
    expect(errorCode(() => parseRecoveryCode(complete(lead)))).toBe('RECOVERY_CODE_INVALID');
    lead[0] = 1;
    expect(errorCode(() => parseRecoveryCode(complete(lead)))).toBe('ok');
    // The typo message never holds the code either.
    try {
      parseRecoveryCode(s.slice(0, 27) + (s[27] === '0' ? '1' : '0'));
    } catch (e) {
      expect((e as Error).message).not.toContain(s.slice(4, 8));
    }
  });
});

describe('PINs and passwords', () => {
  it('match the frozen vectors', () => {
    for (const v of V.passwords) {
      const policy = V.policies[v.policy]!;
      if (v.secret !== undefined) expect(toHex(normalizePassword(v.input, policy))).toBe(v.secret);
      else expect(errorCode(() => normalizePassword(v.input, policy))).toBe(v.error);
    }
  });

  const password: PasswordPolicy = { kind: 'password', minLength: 1, maxLength: 1024 };
  const text = (input: string, policy = password) => {
    const b = normalizePassword(input, policy);
    const prefix = `${LABELS.passwordSecret}\u0000`;
    const s = fromUtf8(b);
    expect(s.startsWith(prefix)).toBe(true);
    return s.slice(prefix.length);
  };

  it('fold NFKC forms and non-ASCII spaces, but never case, and never trim', () => {
    expect(text('Secret')).not.toBe(text('secret'));
    expect(text('ＳＥＣＲＥＴ')).toBe('SECRET');
    expect(text('e\u0301t\u00e9')).toBe('\u00e9t\u00e9');
    expect(text('\ufb01ne')).toBe('fine');
    expect(text('a\u00a0b\u2003c')).toBe('a b c');
    expect(text(' pad ')).toBe(' pad ');
  });

  it('are idempotent and stable under NFC/NFD/NFKD of the input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), (s) => {
        fc.pre(!/\p{Cc}/u.test(s));
        const n = text(s);
        expect(text(n)).toBe(n);
        for (const form of ['NFC', 'NFD', 'NFKC', 'NFKD'] as const) expect(text(s.normalize(form))).toBe(n);
      }),
      { numRuns: 300 },
    );
  });

  it('map every script’s digits in a PIN and drop its separators', () => {
    const pin: PasswordPolicy = { kind: 'pin', minLength: 4 };
    for (const input of ['2580', '２５８０', '٢٥٨٠', '۲۵۸۰', '२५८०', '২৫৮০', '๒๕๘๐', '25 80', '25-80', '2.5.8.0']) {
      expect(text(input, pin)).toBe('2580');
    }
    expect(errorCode(() => normalizePassword('25a0', pin))).toBe('RECOVERY_CODE_POLICY');
    expect(errorCode(() => normalizePassword('258', pin))).toBe('RECOVERY_CODE_POLICY');
  });

  it('apply the policy: lengths in code points, deny list normalized too', () => {
    const p: PasswordPolicy = { kind: 'password', minLength: 3, maxLength: 5, denyList: ['ＡＢＣ'] };
    expect(text('😀😀😀', p)).toBe('😀😀😀'); // 3 code points, 6 UTF-16 units
    expect(errorCode(() => normalizePassword('ab', p))).toBe('RECOVERY_CODE_POLICY');
    expect(errorCode(() => normalizePassword('abcdef', p))).toBe('RECOVERY_CODE_POLICY');
    expect(errorCode(() => normalizePassword('ABC', p))).toBe('RECOVERY_CODE_POLICY');
    expect(text('abc', p)).toBe('abc');
    expect(errorCode(() => normalizePassword('x'.repeat(10_000), p))).toBe('RECOVERY_CODE_POLICY');
  });

  it('refuse malformed Unicode and control characters', () => {
    expect(errorCode(() => normalizePassword('ab\ud800cd', password))).toBe('RECOVERY_CODE_INVALID');
    expect(errorCode(() => normalizePassword('ab\u0000cd', password))).toBe('RECOVERY_CODE_INVALID');
    expect(errorCode(() => normalizePassword('ab\ncd', password))).toBe('RECOVERY_CODE_INVALID');
  });

  it('never give the bytes of a generated code, even for the same text', () => {
    fc.assert(
      fc.property(arbCode, (code) => {
        const asPassword = normalizePassword(code, password);
        const asCode = parseRecoveryCode(code);
        expect(equalBytes(asPassword, asCode)).toBe(false);
        // Neither is a prefix of the other's domain: the first byte after the common
        // "e2ee-backup/v1/secret/" differs.
        const common = 'e2ee-backup/v1/secret/'.length;
        expect(asPassword[common]).not.toBe(asCode[common]);
      }),
      { numRuns: 50 },
    );
  });

  it('reject a bad policy as misuse', () => {
    expect(() => normalizePassword('1234', undefined as unknown as PasswordPolicy)).toThrow(TypeError);
    expect(() => normalizePassword('1234', { kind: 'pin', minLength: 0 })).toThrow(/minLength/);
    expect(() => normalizePassword('1234', { kind: 'pin', minLength: 4, maxLength: 2000 })).toThrow(/maxLength/);
    expect(() => normalizePassword('1234', { kind: 'x', minLength: 4 } as unknown as PasswordPolicy)).toThrow(/kind/);
    expect(() => normalizePassword(1234 as unknown as string, { kind: 'pin', minLength: 4 })).toThrow(TypeError);
  });
});
