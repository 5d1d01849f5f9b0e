/**
 * The archive key schedule (docs/FORMAT.md §Keys): HKDF-SHA-256 (RFC 5869) from the backup key
 * and the header salt to the payload key, the nonce prefix and the key commitment; and the chunk
 * associated data.
 *
 * @module
 * @internal
 */
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import * as labels from '../labels.js';
import { concatBytes, utf8, wipe } from '../util/bytes.js';
import { COMMITMENT_LENGTH } from './format.js';

const PAYLOAD_INFO = /* @__PURE__ */ utf8(labels.archivePayloadKey);
const PREFIX_INFO = /* @__PURE__ */ utf8(labels.archiveNoncePrefix);
const COMMIT_INFO = /* @__PURE__ */ utf8(labels.archiveCommitment);

/** The per-archive secrets. Wipe `payloadKey` and `noncePrefix` once the engine has them. */
export interface ArchiveKeys {
  readonly payloadKey: Uint8Array;
  readonly noncePrefix: Uint8Array;
  readonly commitment: Uint8Array;
}

/**
 * PRK = HKDF-Extract(salt, BK); payload key = Expand(PRK, label, 32); nonce prefix =
 * Expand(PRK, label, 16); commitment = Expand(PRK, label ‖ headerPrefix, 32), where headerPrefix
 * is every header byte before the commitment (RFC 5869 §2.2, §2.3). The commitment is a PRF of
 * the key over the header, so it binds both: any header change or a different key changes it.
 */
export function deriveArchiveKeys(bk: Uint8Array, salt: Uint8Array, headerPrefix: Uint8Array): ArchiveKeys {
  const prk = extract(sha256, bk, salt);
  const info = concatBytes(COMMIT_INFO, headerPrefix);
  try {
    return {
      payloadKey: expand(sha256, prk, PAYLOAD_INFO, 32),
      noncePrefix: expand(sha256, prk, PREFIX_INFO, 16),
      commitment: expand(sha256, prk, info, COMMITMENT_LENGTH),
    };
  } finally {
    wipe(prk);
  }
}

/** Chunk associated data: SHA-256 of the whole header (prefix ‖ commitment). docs/FORMAT.md §Chunks. */
export function chunkAad(headerPrefix: Uint8Array, commitment: Uint8Array): Uint8Array {
  return sha256.create().update(headerPrefix).update(commitment).digest();
}
