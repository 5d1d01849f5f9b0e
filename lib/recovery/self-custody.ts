/**
 * Self-custody: WhatsApp's "64-digit encryption key" option. The user writes down a 256-bit
 * recovery key; the keyring is sealed under a KEK derived from it and stored anywhere (the blob
 * store, beside the backups). No vault, no guess counter: the key's 256 bits are the protection,
 * so it is never a PIN and is never stretched. Spec: docs/KEYRING.md §Self-custody.
 *
 * Display: 64 hex digits of the key plus one check group of 4 hex digits (CRC-16/XMODEM of the
 * key), 17 groups of 4. A CRC of degree 16 catches every error burst of up to 16 bits, so every
 * single wrong digit (4 bits) and every swap of two neighbouring digits (within 8 bits) is caught
 * as `RECOVERY_CODE_TYPO`, before any decryption is tried.
 *
 * @module
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { BackupError } from '../errors.js';
import { LABELS } from '../labels.js';
import { abytes, secureRandom, utf8, wipe, type RandomSource } from '../util/bytes.js';
import { codeSymbols, normalizeCodeText, type CodeWords } from './code.js';
import { idBytes, lengthPrefixed, openKeyring, sealKeyring, type Keyring } from './keyring.js';

/** Length of a self-custody recovery key in bytes (256 bits). */
export const SELF_CUSTODY_KEY_LENGTH = 32;
/** Hex digits shown to the user: 64 for the key, 4 for the check group. */
export const SELF_CUSTODY_DIGITS = 68;

const HEX = '0123456789ABCDEF';
const MAX_INPUT = 512;
const KEY_WORDS: CodeWords = { name: 'recovery key', unit: 'digit', units: 'hex digits', kind: 'a hex digit' };

/** A freshly generated self-custody key: the bytes to seal with and the text to show. */
export interface SelfCustodyKey {
  /** The 32-byte recovery key. Secret: wipe after sealing. */
  readonly key: Uint8Array;
  /** What the user writes down: 17 groups of 4 upper-case hex digits, the last one the check. */
  readonly text: string;
}

/**
 * CRC-16/XMODEM: width 16, polynomial 0x1021, init 0, no reflection, xorout 0
 * (check value 0x31C3 for "123456789", as catalogued by the CRC RevEng catalogue).
 */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i]! << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * The text shown for a 32-byte recovery key: `XXXX XXXX … XXXX` (64 key digits, then 4 check
 * digits), upper-case hex in groups of 4 separated by spaces.
 *
 * @example
 * ```ts
 * const text = formatSelfCustodyKey(key); // "3F2A 9C01 … 7B1E"
 * ```
 */
export function formatSelfCustodyKey(key: Uint8Array): string {
  abytes(key, 'key', SELF_CUSTODY_KEY_LENGTH);
  const check = crc16(key);
  let digits = '';
  for (let i = 0; i < key.length; i++) digits += HEX[key[i]! >> 4]! + HEX[key[i]! & 15]!;
  digits += HEX[check >> 12]! + HEX[(check >> 8) & 15]! + HEX[(check >> 4) & 15]! + HEX[check & 15]!;
  return digits.match(/.{4}/g)!.join(' ');
}

/**
 * Generate a self-custody recovery key.
 *
 * @param random - Source of randomness (WebCrypto by default). The bytes it returns are copied
 *   and then wiped.
 *
 * @example
 * ```ts
 * const { key, text } = generateSelfCustodyKey();
 * showOnce(text);
 * const sealed = sealKeyringWithRecoveryKey(keyring, key, accountId);
 * key.fill(0);
 * ```
 */
export function generateSelfCustodyKey(random: RandomSource = secureRandom): SelfCustodyKey {
  if (typeof random !== 'function') throw new TypeError('random must be a function');
  const raw = abytes(random(SELF_CUSTODY_KEY_LENGTH), 'random(32)', SELF_CUSTODY_KEY_LENGTH);
  const key = Uint8Array.from(raw);
  wipe(raw);
  return Object.freeze({ key, text: formatSelfCustodyKey(key) });
}

/**
 * Parse what the user typed back into the 32-byte recovery key. Normalization as for recovery
 * codes (NFKC, any case, any separators, O→0, I/L→1).
 *
 * @throws BackupError `RECOVERY_CODE_INVALID` unless it is 68 hex digits; `RECOVERY_CODE_TYPO`
 *   when the check group does not match.
 *
 * @example
 * ```ts
 * const key = parseSelfCustodyKey(input);
 * try { keyring = openKeyringWithRecoveryKey(sealed, key, accountId); } finally { key.fill(0); }
 * ```
 */
export function parseSelfCustodyKey(input: string): Uint8Array {
  const text = normalizeCodeText(input, KEY_WORDS.name, MAX_INPUT);
  const nibbles = codeSymbols(text, HEX, SELF_CUSTODY_DIGITS, KEY_WORDS);
  const key = new Uint8Array(SELF_CUSTODY_KEY_LENGTH);
  for (let i = 0; i < key.length; i++) key[i] = (nibbles[2 * i]! << 4) | nibbles[2 * i + 1]!;
  const check = (nibbles[64]! << 12) | (nibbles[65]! << 8) | (nibbles[66]! << 4) | nibbles[67]!;
  wipe(nibbles);
  if (crc16(key) !== check) {
    wipe(key);
    throw new BackupError('RECOVERY_CODE_TYPO', 'the recovery key has a typo (its check group does not match)');
  }
  return key;
}

/** KEK = HKDF-SHA-256(IKM = recovery key, salt = ∅, info = lp(label) ‖ lp(accountId), L = 32). */
function deriveKek(recoveryKey: Uint8Array, account: Uint8Array): Uint8Array {
  return hkdf(sha256, recoveryKey, undefined, lengthPrefixed(utf8(LABELS.selfCustodyKek), account), 32);
}

function context(account: Uint8Array): Uint8Array {
  return lengthPrefixed(utf8(LABELS.selfCustodyKek), account);
}

/**
 * Seal the keyring under a self-custody recovery key, for this account. The result is an ordinary
 * sealed keyring (docs/KEYRING.md) with KEK = HKDF-SHA-256(recoveryKey, ∅,
 * lp(LABELS.selfCustodyKek) ‖ lp(accountId), 32) and `aadContext` = lp(LABELS.selfCustodyKek) ‖
 * lp(accountId); it holds nothing secret in the clear and may be stored anywhere.
 *
 * @example
 * ```ts
 * const sealed = sealKeyringWithRecoveryKey(keyring, key, 'user-42');
 * await blobStore.put('self-custody', sealed);
 * ```
 */
export function sealKeyringWithRecoveryKey(
  keyring: Keyring,
  recoveryKey: Uint8Array,
  accountId: string,
  random: RandomSource = secureRandom,
): Uint8Array {
  abytes(recoveryKey, 'recoveryKey', SELF_CUSTODY_KEY_LENGTH);
  const account = idBytes(accountId, 'accountId');
  const kek = deriveKek(recoveryKey, account);
  try {
    return sealKeyring(keyring, kek, context(account), random);
  } finally {
    wipe(kek);
  }
}

/**
 * Open a keyring sealed by {@link sealKeyringWithRecoveryKey}: no vault involved.
 *
 * @throws BackupError `KEYRING_AUTH_FAILED` for a wrong key, another account or changed bytes;
 *   `KEYRING_MALFORMED` for bytes that cannot be a sealed keyring.
 *
 * @example
 * ```ts
 * const keyring = openKeyringWithRecoveryKey(sealed, parseSelfCustodyKey(input), 'user-42');
 * ```
 */
export function openKeyringWithRecoveryKey(sealed: Uint8Array, recoveryKey: Uint8Array, accountId: string): Keyring {
  abytes(sealed, 'sealed');
  abytes(recoveryKey, 'recoveryKey', SELF_CUSTODY_KEY_LENGTH);
  const account = idBytes(accountId, 'accountId');
  const kek = deriveKek(recoveryKey, account);
  try {
    return openKeyring(sealed, kek, context(account));
  } finally {
    wipe(kek);
  }
}
