/**
 * Checkpoints of the witness's audit log, in the C2SP shape: a signed note
 * (c2sp.org/signed-note) whose text is a tlog checkpoint (c2sp.org/tlog-checkpoint):
 *
 * ```text
 * <origin>\n
 * <tree size, decimal>\n
 * <base64 root hash>\n
 * \n
 * — <key name> <base64(4-byte key ID ‖ 64-byte Ed25519 signature)>\n
 * ```
 *
 * Signatures are Ed25519 (signed-note signature type 0x01) over the note text, including its
 * final newline; the key ID is `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`. Parsing is strict
 * and capped: the note, the origin, the extension lines and the signature lines all have limits,
 * and any deviation is `TRUST_MALFORMED`.
 *
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { BackupError } from '../errors.js';
import { abytes, concatBytes, equalBytes, fromBase64, fromUtf8, isBytes, toBase64, utf8 } from '../util/bytes.js';
import { malformed } from './codec.js';
import { signEd25519, verifyEd25519 } from './ed25519.js';
import { MAX_TREE_SIZE } from './merkle.js';

/** Largest checkpoint note accepted, in bytes. */
export const MAX_CHECKPOINT_BYTES = 8192;
/** Most signature lines accepted on one note (c2sp signed-note asks verifiers to take ≥ 16). */
export const MAX_NOTE_SIGNATURES = 16;
/** Most extension lines accepted (they are opaque to us and ignored). */
export const MAX_EXTENSION_LINES = 8;
/** Longest origin line or key name, in characters. */
export const MAX_ORIGIN_LENGTH = 256;

const ED25519_TYPE = 0x01;
const SIG_PREFIX = '\u2014 ';
// Key names and origins: non-empty, no Unicode spaces, no '+' (signed-note §Format).
const NAME_RE = /^[^\s+\u2014]+$/u;

/** A checkpoint's signed content. */
export interface CheckpointBody {
  /** The log's identity, e.g. `"example.com/fleet-log"`. */
  readonly origin: string;
  /** Number of leaves. */
  readonly size: number;
  /** RFC 9162 root hash of the first `size` leaves. */
  readonly root: Uint8Array;
}

/** One signature line of a note. */
export interface NoteSignature {
  /** Key name from the line. */
  readonly name: string;
  /** The 4-byte key ID. */
  readonly keyId: Uint8Array;
  /** The signature bytes after the key ID. */
  readonly signature: Uint8Array;
}

/** A parsed (not yet verified) checkpoint. */
export interface Checkpoint extends CheckpointBody {
  /** Extension lines, ignored by this SDK. */
  readonly extensions: readonly string[];
  /** The exact signed text (UTF-8, with its final newline). */
  readonly text: Uint8Array;
  /** Every signature line, known keys or not. */
  readonly signatures: readonly NoteSignature[];
}

/** A key that may sign checkpoints. */
export interface NoteKey {
  /** Key name used on signature lines. */
  readonly name: string;
  /** Ed25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
}

/**
 * The signed-note key ID: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ publicKey)[:4]` (c2sp signed-note,
 * "Ed25519 signatures").
 *
 * @example
 * ```ts
 * const id = noteKeyId('witness.example/log', publicKey);
 * ```
 */
export function noteKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  abytes(publicKey, 'publicKey', 32);
  return sha256(concatBytes(utf8(name), Uint8Array.of(0x0a, ED25519_TYPE), publicKey)).slice(0, 4);
}

const CANONICAL_SIZE = /^(0|[1-9][0-9]{0,15})$/;

function decodeBase64Strict(s: string, what: string): Uint8Array {
  let b: Uint8Array;
  try {
    b = fromBase64(s);
  } catch {
    throw malformed(`${what} is not base64`);
  }
  // Only the canonical standard encoding (RFC 4648 §4, padded): one text per value.
  if (toBase64(b) !== s) throw malformed(`${what} is not canonical base64`);
  return b;
}

/**
 * Parse a checkpoint note strictly. Throws `TRUST_MALFORMED` on anything else; never verifies.
 *
 * @example
 * ```ts
 * const cp = parseCheckpoint(noteBytes);
 * console.log(cp.origin, cp.size);
 * ```
 */
export function parseCheckpoint(note: Uint8Array): Checkpoint {
  if (!isBytes(note)) throw new TypeError('note must be a Uint8Array');
  if (note.length > MAX_CHECKPOINT_BYTES) throw malformed('checkpoint is too long', MAX_CHECKPOINT_BYTES);
  let s: string;
  try {
    s = fromUtf8(note);
  } catch {
    throw malformed('checkpoint is not UTF-8');
  }
  // A byte-order mark anywhere (the shared decoder keeps a leading one) is refused: the signature
  // covers the note's exact bytes, and `BOM ‖ note` must not parse as `note` (issue 13, finding 6).
  if (s.includes('\uFEFF')) throw malformed('checkpoint has a byte-order mark');
  // signed-note: no ASCII control characters other than newline.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x0a) || c === 0x7f) throw malformed('checkpoint has control characters');
  }
  const sep = s.lastIndexOf('\n\n');
  if (sep < 0) throw malformed('checkpoint has no signature block');
  const textStr = s.slice(0, sep + 1);
  const sigStr = s.slice(sep + 2);
  if (!sigStr.endsWith('\n')) throw malformed('checkpoint does not end in a newline');
  const lines = textStr.slice(0, -1).split('\n');
  if (lines.length < 3 || lines.length > 3 + MAX_EXTENSION_LINES) {
    throw malformed('checkpoint text must have 3 lines plus at most 8 extension lines', MAX_EXTENSION_LINES);
  }
  const [origin, sizeStr, rootStr, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0 || origin.length > MAX_ORIGIN_LENGTH || !NAME_RE.test(origin)) {
    throw malformed('checkpoint origin is empty, too long or has spaces', MAX_ORIGIN_LENGTH);
  }
  if (!CANONICAL_SIZE.test(sizeStr)) throw malformed('checkpoint tree size is not canonical decimal');
  const size = Number(sizeStr);
  if (size > MAX_TREE_SIZE) throw malformed('checkpoint tree size is over the cap', MAX_TREE_SIZE);
  const root = decodeBase64Strict(rootStr, 'checkpoint root');
  if (root.length !== 32) throw malformed('checkpoint root is not 32 bytes');
  if (extensions.some((e) => e.length === 0)) throw malformed('checkpoint has an empty extension line');

  const sigLines = sigStr.slice(0, -1).split('\n');
  if (sigLines.length > MAX_NOTE_SIGNATURES) throw malformed('too many checkpoint signatures', MAX_NOTE_SIGNATURES);
  const signatures: NoteSignature[] = [];
  for (const line of sigLines) {
    if (!line.startsWith(SIG_PREFIX)) throw malformed('checkpoint signature line is malformed');
    const rest = line.slice(SIG_PREFIX.length);
    const sp = rest.indexOf(' ');
    if (sp < 0) throw malformed('checkpoint signature line is malformed');
    const name = rest.slice(0, sp);
    if (name.length === 0 || name.length > MAX_ORIGIN_LENGTH || !NAME_RE.test(name)) {
      throw malformed('checkpoint signature key name is invalid');
    }
    const raw = decodeBase64Strict(rest.slice(sp + 1), 'checkpoint signature');
    // 4-byte key ID plus a non-empty signature; ML-DSA-sized signatures still fit the note cap.
    if (raw.length < 5) throw malformed('checkpoint signature is too short');
    signatures.push({ name, keyId: raw.slice(0, 4), signature: raw.slice(4) });
  }
  return { origin, size, root, extensions, text: utf8(textStr), signatures };
}

/**
 * Verify a parsed checkpoint against the given keys: at least `threshold` distinct known public
 * keys must have a valid signature (a key listed twice, or under two names, counts once). As c2sp signed-note requires, lines from unknown keys (name and
 * key ID not both matching) are ignored, and a line from a known key that fails to verify
 * rejects the whole note. Returns the keys that signed.
 *
 * Throws `TRUST_BAD_SIGNATURE` (a known key's signature fails, or none is present) or
 * `TRUST_THRESHOLD` (some, but fewer than `threshold`).
 *
 * @example
 * ```ts
 * const signers = verifyCheckpoint(parseCheckpoint(note), [{ name, publicKey }], 1);
 * ```
 */
export function verifyCheckpoint(cp: Checkpoint, keys: readonly NoteKey[], threshold: number): NoteKey[] {
  if (!Number.isSafeInteger(threshold) || threshold < 1) throw new RangeError('threshold must be a positive integer');
  const signed: NoteKey[] = [];
  for (const key of keys) {
    const id = noteKeyId(key.name, key.publicKey);
    // A key counts once toward the threshold, however many times or under however many names it
    // is listed (issue 13, finding 6): one signer must never pass a threshold of two.
    const counted = signed.some((k) => equalBytes(k.publicKey, key.publicKey));
    let seen = false;
    for (const sig of cp.signatures) {
      if (sig.name !== key.name || !equalBytes(sig.keyId, id)) continue;
      if (!verifyEd25519(sig.signature, cp.text, key.publicKey)) {
        throw new BackupError('TRUST_BAD_SIGNATURE', `checkpoint signature by ${key.name} does not verify`);
      }
      seen = true;
    }
    if (seen && !counted) signed.push(key);
  }
  if (signed.length === 0) throw new BackupError('TRUST_BAD_SIGNATURE', 'checkpoint carries no signature from a trusted witness');
  if (signed.length < threshold) {
    throw new BackupError('TRUST_THRESHOLD', `checkpoint has ${signed.length} of ${threshold} required witness signatures`, {
      limit: threshold,
    });
  }
  return signed;
}

/**
 * The note text of a checkpoint body (no signatures).
 *
 * @example
 * ```ts
 * const text = checkpointText({ origin, size: tree.size, root: tree.root() });
 * ```
 */
export function checkpointText(body: CheckpointBody): Uint8Array {
  if (typeof body.origin !== 'string' || !NAME_RE.test(body.origin) || body.origin.length > MAX_ORIGIN_LENGTH) {
    throw new RangeError('origin must be a non-empty name without spaces or +');
  }
  if (!Number.isSafeInteger(body.size) || body.size < 0 || body.size > MAX_TREE_SIZE) throw new RangeError('size is out of range');
  abytes(body.root, 'root', 32);
  return utf8(`${body.origin}\n${body.size}\n${toBase64(body.root)}\n`);
}

/**
 * Sign a checkpoint with one or more Ed25519 keys (the witness, and any cosigning witnesses).
 *
 * @example
 * ```ts
 * const note = signCheckpoint({ origin, size, root }, [{ name, secretKey, publicKey }]);
 * ```
 */
export function signCheckpoint(
  body: CheckpointBody,
  signers: readonly { readonly name: string; readonly secretKey: Uint8Array; readonly publicKey: Uint8Array }[],
): Uint8Array {
  if (signers.length < 1 || signers.length > MAX_NOTE_SIGNATURES) throw new RangeError('signers must have 1..16 keys');
  const text = checkpointText(body);
  let lines = '';
  for (const s of signers) {
    if (!NAME_RE.test(s.name)) throw new RangeError('signer name must have no spaces or +');
    const sig = signEd25519(text, s.secretKey);
    lines += `${SIG_PREFIX}${s.name} ${toBase64(concatBytes(noteKeyId(s.name, s.publicKey), sig))}\n`;
  }
  return concatBytes(text, utf8('\n' + lines));
}
