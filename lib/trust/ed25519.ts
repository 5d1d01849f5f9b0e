/**
 * Ed25519 (RFC 8032) for trust roots, checkpoints and bundle signatures.
 *
 * One implementation everywhere: `@noble/curves` with strict RFC 8032 §5.1.7 verification
 * (`zip215: false`: canonical `R` and `A` encodings, `S < L`). We deliberately do not switch to
 * WebCrypto Ed25519 where present: platforms disagree on edge cases (non-canonical points,
 * small-order keys), and two clients of the same app must never disagree about whether a fleet
 * bundle is signed. Bundle verification is a handful of signatures per bundle, so speed is moot.
 *
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { abytes, isBytes } from '../util/bytes.js';

/** Ed25519 public key length (RFC 8032 §5.1.5). */
export const ED25519_PUBLIC_KEY_LENGTH = 32;
/** Ed25519 signature length (RFC 8032 §5.1.6). */
export const ED25519_SIGNATURE_LENGTH = 64;

/**
 * Verify an Ed25519 signature strictly (RFC 8032 §5.1.7). Returns `false` for any signature, key
 * or length that is not valid; never throws on attacker-controlled bytes.
 *
 * @example
 * ```ts
 * if (!verifyEd25519(sig, message, witnessKey)) refuse();
 * ```
 */
export function verifyEd25519(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!isBytes(signature) || !isBytes(message) || !isBytes(publicKey)) return false;
  if (signature.length !== ED25519_SIGNATURE_LENGTH || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/**
 * Sign with an Ed25519 32-byte secret seed (operator and witness tools only; clients never sign).
 *
 * @example
 * ```ts
 * const sig = signEd25519(message, secretKey);
 * ```
 */
export function signEd25519(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  abytes(message, 'message');
  abytes(secretKey, 'secretKey', 32);
  return ed25519.sign(message, secretKey);
}

/**
 * The public key of a 32-byte Ed25519 secret seed.
 *
 * @example
 * ```ts
 * const publicKey = ed25519PublicKey(secretKey);
 * ```
 */
export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  abytes(secretKey, 'secretKey', 32);
  return ed25519.getPublicKey(secretKey);
}
