/**
 * Recovery codes and app-chosen PINs / passwords, turned into the exact bytes the OPAQUE suite
 * takes as its password. Spec: docs/RECOVERY-CODE.md.
 *
 * A generated code is 28 symbols of Crockford's base32 alphabet (no I, L, O, U): a version symbol,
 * 25 random symbols (125 bits) and two check symbols of a Reed-Solomon code over GF(32). Any two
 * wrong symbols (so every single substitution and every adjacent transposition) are caught on the
 * device as `RECOVERY_CODE_TYPO` before the vault is asked, so a typo never costs a guess.
 *
 * Every function returns a fresh `Uint8Array`; the caller wipes it after the OPAQUE run.
 *
 * @module
 */
import { BackupError } from '../errors.js';
import * as labels from '../labels.js';
import { abytes, concatBytes, secureRandom, utf8, wipe, type RandomSource } from '../util/bytes.js';

/** Crockford's base32 alphabet (https://www.crockford.com/base32.html): digits, then A–Z without I, L, O, U. */
export const RECOVERY_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** The version symbol's value for codes made by this SDK (the code starts with `"1"`). */
export const RECOVERY_CODE_VERSION = 1;
/** Symbols in a code: version ‖ 25 random ‖ 2 check. */
export const RECOVERY_CODE_SYMBOLS = 28;
/** Random bits in a code (25 symbols × 5 bits). */
export const RECOVERY_CODE_BITS = 125;

const DATA_SYMBOLS = 25;
const GROUP = 4;
/** Cap on raw input before any Unicode work: a code with generous separators is ~40 chars. */
const MAX_CODE_INPUT = 256;
/** Hard caps on PIN/password input (UTF-16 units before, code points after normalization). */
const MAX_PASSWORD_INPUT = 4096;
const MAX_PASSWORD_LENGTH = 1024;

// --- GF(32) arithmetic, primitive polynomial x^5 + x^2 + 1 (0x25), α = x ---------------------
const EXP = new Uint8Array(62);
const LOG = new Uint8Array(32);
{
  let x = 1;
  for (let i = 0; i < 31; i++) {
    EXP[i] = x;
    EXP[i + 31] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x20) x ^= 0x25;
  }
}
function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}
// g(x) = (x − α)(x − α²) = x² + (α + α²)x + α³ (characteristic 2: minus is plus).
const G1 = EXP[1]! ^ EXP[2]!;
const G0 = EXP[3]!;

/** The two check symbols: the remainder of m(x)·x² divided by g(x) (systematic RS encoding). */
function checkSymbols(message: ArrayLike<number>): [number, number] {
  let r1 = 0;
  let r0 = 0;
  for (let i = 0; i < message.length; i++) {
    const f = message[i]! ^ r1;
    r1 = r0 ^ gfMul(f, G1);
    r0 = gfMul(f, G0);
  }
  return [r1, r0];
}

/** True when c(α) = c(α²) = 0 for c(x) = Σ s_i x^(n−1−i): a codeword of the RS code. */
function syndromesZero(symbols: ArrayLike<number>): boolean {
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < symbols.length; i++) {
    s1 = gfMul(s1, EXP[1]!) ^ symbols[i]!;
    s2 = gfMul(s2, EXP[2]!) ^ symbols[i]!;
  }
  return s1 === 0 && s2 === 0;
}

// --- normalization ------------------------------------------------------------------------------

/**
 * Look-alikes mapped to the symbol they are mistaken for (applied after NFKC and upper-casing):
 * Crockford's own O→0, I→1, L→1, plus U→V, and the Cyrillic and Greek capitals that render like
 * Latin ones (text pasted from an OCR app or typed with a non-Latin layout active).
 */
const CONFUSABLES: Readonly<Record<string, string>> = {
  O: '0',
  I: '1',
  L: '1',
  U: 'V',
  // Cyrillic
  '\u0410': 'A', '\u0412': 'B', '\u0415': 'E', '\u041A': 'K', '\u041C': 'M', '\u041D': 'H',
  '\u041E': '0', '\u0420': 'P', '\u0421': 'C', '\u0422': 'T', '\u0425': 'X', '\u0405': 'S',
  '\u0406': '1', '\u0408': 'J',
  // Greek
  '\u0391': 'A', '\u0392': 'B', '\u0395': 'E', '\u0396': 'Z', '\u0397': 'H', '\u0399': '1',
  '\u039A': 'K', '\u039C': 'M', '\u039D': 'N', '\u039F': '0', '\u03A1': 'P', '\u03A4': 'T',
  '\u03A5': 'Y', '\u03A7': 'X',
};

/**
 * Separators users type or paste between groups, all removed: Unicode white space and space
 * separators, dash punctuation and the minus sign, format characters (zero-width space, soft
 * hyphen, BOM) and . _ / · • ‧ .
 */
const SEPARATORS = /[\p{White_Space}\p{Z}\p{Pd}\p{Cf}\u2212._/\u00B7\u2022\u2027]/gu;

/**
 * @internal The shared first steps for generated codes and self-custody keys: cap, NFKC, upper
 * case, drop separators, map look-alikes. Returns the candidate symbol string (not yet checked).
 */
export function normalizeCodeText(input: unknown, name: string, maxInput: number): string {
  if (typeof input !== 'string') throw new TypeError(`${name} must be a string`);
  if (input.length > maxInput) {
    throw new BackupError('RECOVERY_CODE_INVALID', `${name} is far too long to be a code`);
  }
  const upper = input.normalize('NFKC').toUpperCase().replace(SEPARATORS, '');
  let out = '';
  for (const ch of upper) out += CONFUSABLES[ch] ?? ch;
  return out;
}

/** @internal How a kind of code names itself and its characters in error messages. */
export interface CodeWords {
  /** The code, e.g. `recovery code`. */
  readonly name: string;
  /** One character, e.g. `symbol`. */
  readonly unit: string;
  /** Characters, counted, e.g. `symbols`. */
  readonly units: string;
  /** What each character must be, e.g. `a code character`. */
  readonly kind: string;
}

/**
 * @internal Normalized code text (from {@link normalizeCodeText}) as exactly `count` characters
 * of `alphabet`, returned as their indices: secret, the caller wipes them. `RECOVERY_CODE_INVALID`
 * on a wrong count or a character outside the alphabet (wiping what was read), naming its
 * position only.
 */
export function codeSymbols(text: string, alphabet: string, count: number, words: CodeWords): Uint8Array {
  if (text.length !== count) {
    throw new BackupError('RECOVERY_CODE_INVALID', `a ${words.name} has ${count} ${words.units}; this has ${text.length}`);
  }
  const symbols = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const v = alphabet.indexOf(text[i]!);
    if (v < 0) {
      wipe(symbols);
      // Position only, never the character: the message must not leak any part of the code.
      throw new BackupError('RECOVERY_CODE_INVALID', `${words.unit} ${i + 1} of the ${words.name} is not ${words.kind}`);
    }
    symbols[i] = v;
  }
  return symbols;
}

// --- generated recovery codes -----------------------------------------------------------------

const CODE_WORDS: CodeWords = { name: 'recovery code', unit: 'symbol', units: 'symbols', kind: 'a code character' };

function secretBytes(label: string, canonical: string): Uint8Array {
  // label ‖ 0x00 ‖ text: labels never contain 0x00 and differ before it, so the two kinds of
  // secret can never produce the same bytes (docs/RECOVERY-CODE.md §Password bytes).
  return concatBytes(utf8(label), Uint8Array.of(0), utf8(canonical));
}

function format(symbols: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < symbols.length; i++) {
    if (i > 0 && i % GROUP === 0) s += '-';
    s += RECOVERY_CODE_ALPHABET[symbols[i]!];
  }
  return s;
}

/**
 * Generate a recovery code to show the user, e.g. `1K7Q-9ZD3-…-XW4M` (7 groups of 4 symbols):
 * version `1`, 125 random bits, 2 check symbols.
 *
 * The code is returned as a string because it must be displayed; the app should show it once,
 * not persist it, and drop references to it. {@link parseRecoveryCode} turns it (or what the user
 * types back) into the password bytes.
 *
 * @param random - Source of randomness (WebCrypto by default). The 16 bytes it returns are wiped
 *   after use.
 *
 * @example
 * ```ts
 * const code = generateRecoveryCode();
 * showOnce(code);
 * const password = parseRecoveryCode(code); // bytes for OPAQUE; wipe after use
 * ```
 */
export function generateRecoveryCode(random: RandomSource = secureRandom): string {
  if (typeof random !== 'function') throw new TypeError('random must be a function');
  const bytes = abytes(random(16), 'random(16)', 16);
  const symbols = new Uint8Array(RECOVERY_CODE_SYMBOLS);
  symbols[0] = RECOVERY_CODE_VERSION;
  // The first 125 of the 128 random bits, 5 at a time, most significant first: uniform symbols.
  for (let i = 0; i < DATA_SYMBOLS; i++) {
    let v = 0;
    for (let b = 0; b < 5; b++) {
      const bit = i * 5 + b;
      v = (v << 1) | ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1);
    }
    symbols[1 + i] = v;
  }
  wipe(bytes);
  const [c1, c0] = checkSymbols(symbols.subarray(0, 1 + DATA_SYMBOLS));
  symbols[26] = c1;
  symbols[27] = c0;
  const text = format(symbols);
  wipe(symbols);
  return text;
}

/**
 * Parse what the user typed and return the OPAQUE password bytes
 * `labels.recoveryCodeSecret ‖ 0x00 ‖ canonical 28 symbols` (ASCII, no separators).
 *
 * Accepted: any case, any separators (spaces, dashes, dots, line breaks), full-width and other
 * NFKC-equivalent forms, look-alikes O/I/L/U and Cyrillic/Greek capitals.
 *
 * @throws BackupError `RECOVERY_CODE_INVALID` when the input cannot be a code (length, a symbol
 *   outside the alphabet, an unknown version); `RECOVERY_CODE_TYPO` when it has the right shape but
 *   the check symbols do not match. Neither ever reaches the vault.
 *
 * @example
 * ```ts
 * try {
 *   const password = parseRecoveryCode(input);
 *   try { keyring = await vault.recover({ password }); } finally { password.fill(0); }
 * } catch (e) {
 *   if (isBackupError(e, 'RECOVERY_CODE_TYPO')) showCheckYourCode();
 * }
 * ```
 */
export function parseRecoveryCode(input: string): Uint8Array {
  const text = normalizeCodeText(input, CODE_WORDS.name, MAX_CODE_INPUT);
  const symbols = codeSymbols(text, RECOVERY_CODE_ALPHABET, RECOVERY_CODE_SYMBOLS, CODE_WORDS);
  const ok = syndromesZero(symbols);
  const version = symbols[0];
  wipe(symbols);
  // The checksum before the version: a substituted version symbol is a typo like any other.
  if (!ok) throw new BackupError('RECOVERY_CODE_TYPO', 'the recovery code has a typo (its check symbols do not match)');
  if (version !== RECOVERY_CODE_VERSION) {
    throw new BackupError('RECOVERY_CODE_INVALID', 'this recovery code is from an unsupported version');
  }
  return secretBytes(labels.recoveryCodeSecret, text);
}

// --- app-chosen PINs and passwords --------------------------------------------------------------

/** The app's rules for user-chosen secrets. */
export interface PasswordPolicy {
  /** `'pin'`: decimal digits only (any script's digits, separators dropped); `'password'`: any text. */
  readonly kind: 'pin' | 'password';
  /** Minimum length in Unicode code points after normalization (≥ 1). */
  readonly minLength: number;
  /** Maximum length in code points after normalization (default 128, at most 1024). */
  readonly maxLength?: number;
  /** Refused values (e.g. `'123456'`), normalized the same way before comparing. */
  readonly denyList?: readonly string[];
}

function checkPolicy(policy: unknown): Required<PasswordPolicy> {
  if (typeof policy !== 'object' || policy === null) throw new TypeError('policy must be a PasswordPolicy');
  const p = policy as Partial<PasswordPolicy>;
  if (p.kind !== 'pin' && p.kind !== 'password') throw new TypeError("policy.kind must be 'pin' or 'password'");
  const min = p.minLength;
  const max = p.maxLength ?? 128;
  if (typeof min !== 'number' || !Number.isInteger(min) || min < 1) {
    throw new RangeError('policy.minLength must be an integer ≥ 1');
  }
  if (typeof max !== 'number' || !Number.isInteger(max) || max < min || max > MAX_PASSWORD_LENGTH) {
    throw new RangeError(`policy.maxLength must be an integer from minLength to ${MAX_PASSWORD_LENGTH}`);
  }
  const deny = p.denyList ?? [];
  if (!Array.isArray(deny) || deny.some((d) => typeof d !== 'string')) {
    throw new TypeError('policy.denyList must be an array of strings');
  }
  return { kind: p.kind, minLength: min, maxLength: max, denyList: deny };
}

/** Value 0–9 of a Unicode decimal digit (\p{Nd} come in runs of ten from zero). */
function digitValue(ch: string): string {
  const cp = ch.codePointAt(0)!;
  let zero = cp;
  while (zero > 0 && /\p{Nd}/u.test(String.fromCodePoint(zero - 1)) && cp - zero < 60) zero--;
  return String((cp - zero) % 10);
}

/** The specified normalization (docs/RECOVERY-CODE.md §PINs and passwords), no policy checks. */
function normalizeText(input: string, kind: 'pin' | 'password'): string {
  // RFC 8265 §4.2.1 (OpaqueString): map non-ASCII spaces to U+0020; then NFKC rather than the
  // RFC's NFC, so full-width forms from CJK input methods equal their ASCII twins. No case folding
  // and no trimming: every other character is part of the secret.
  let s = input.replace(/\p{Zs}/gu, ' ').normalize('NFKC');
  if (kind === 'pin') {
    s = s.replace(SEPARATORS, '').replace(/\p{Nd}/gu, digitValue);
  }
  return s;
}

/**
 * Normalize an app-chosen PIN or password, check it against the app's policy, and return the OPAQUE
 * password bytes `labels.passwordSecret ‖ 0x00 ‖ UTF-8(normalized)`: never equal to a generated
 * code's bytes, so PIN "1234" and a recovery code cannot collide.
 *
 * Passwords: non-ASCII spaces become U+0020, then Unicode NFKC; case is **not** folded and nothing
 * is trimmed. PINs: NFKC, separators dropped, every script's decimal digits mapped to ASCII 0–9.
 *
 * @throws BackupError `RECOVERY_CODE_POLICY` when too short, too long, not digits for a PIN, or on
 *   the deny list; `RECOVERY_CODE_INVALID` for text that is not well-formed Unicode or holds
 *   control characters.
 *
 * @example
 * ```ts
 * const password = normalizePassword(pinInput, { kind: 'pin', minLength: 6, denyList: ['123456'] });
 * try { await vault.enroll({ password, keyring }); } finally { password.fill(0); }
 * ```
 */
export function normalizePassword(input: string, policy: PasswordPolicy): Uint8Array {
  if (typeof input !== 'string') throw new TypeError('input must be a string');
  const p = checkPolicy(policy);
  if (input.length > MAX_PASSWORD_INPUT) {
    throw new BackupError('RECOVERY_CODE_POLICY', `too long: at most ${p.maxLength} characters`, { limit: p.maxLength });
  }
  // A lone surrogate would become U+FFFD in UTF-8, silently equal to other inputs.
  if (/\p{Cs}/u.test(input)) {
    throw new BackupError('RECOVERY_CODE_INVALID', 'the text is not well-formed Unicode');
  }
  const s = normalizeText(input, p.kind);
  if (/\p{Cc}/u.test(s)) {
    throw new BackupError('RECOVERY_CODE_INVALID', 'the text holds control characters');
  }
  if (p.kind === 'pin' && !/^[0-9]*$/.test(s)) {
    throw new BackupError('RECOVERY_CODE_POLICY', 'a PIN may contain only digits');
  }
  const length = [...s].length;
  if (length < p.minLength) {
    throw new BackupError('RECOVERY_CODE_POLICY', `too short: at least ${p.minLength} characters`, { limit: p.minLength });
  }
  if (length > p.maxLength) {
    throw new BackupError('RECOVERY_CODE_POLICY', `too long: at most ${p.maxLength} characters`, { limit: p.maxLength });
  }
  for (const d of p.denyList) {
    if (normalizeText(d, p.kind) === s) {
      throw new BackupError('RECOVERY_CODE_POLICY', 'this choice is too common; pick another');
    }
  }
  return secretBytes(labels.passwordSecret, s);
}
