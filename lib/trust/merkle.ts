/**
 * Merkle tree hashing and proof verification for the witness's audit log, exactly as RFC 9162
 * (Certificate Transparency v2) §2.1 specifies, so any RFC 6962/9162 tooling can audit the log.
 *
 * Verification works on tree sizes up to {@link MAX_TREE_SIZE} with plain arithmetic (no 32-bit
 * bit operations, which would silently truncate sizes above 2^31) and refuses proofs longer than
 * {@link MAX_PROOF_HASHES}: a proof for a tree of at most 2^48 leaves never needs more than 48
 * hashes (inclusion) or 2·48 (consistency, in theory; ≤ 2·log2 n in practice), and anything
 * longer is an attacker wasting our time.
 *
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, isBytes } from '../util/bytes.js';

/** Length of every hash in the tree (SHA-256). */
export const HASH_LENGTH = 32;
/** Most hashes accepted in one inclusion or consistency proof. */
export const MAX_PROOF_HASHES = 64;
/** Largest tree size accepted (2^48 leaves; far beyond any real fleet log). */
export const MAX_TREE_SIZE = 2 ** 48;

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

/**
 * RFC 9162 §2.1.1: the hash of a leaf is `SHA-256(0x00 ‖ data)`. The 0x00/0x01 prefixes keep a
 * leaf from ever being taken for an interior node (second-preimage resistance of the tree).
 *
 * @example
 * ```ts
 * const h = leafHash(new TextEncoder().encode('entry'));
 * ```
 */
export function leafHash(data: Uint8Array): Uint8Array {
  if (!isBytes(data)) throw new TypeError('data must be a Uint8Array');
  const buf = new Uint8Array(1 + data.length);
  buf[0] = LEAF_PREFIX;
  buf.set(data, 1);
  return sha256(buf);
}

/**
 * RFC 9162 §2.1.1: an interior node is `SHA-256(0x01 ‖ left ‖ right)`.
 *
 * @example
 * ```ts
 * const parent = nodeHash(leafHash(a), leafHash(b));
 * ```
 */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (!isBytes(left) || left.length !== HASH_LENGTH) throw new RangeError('left must be 32 bytes');
  if (!isBytes(right) || right.length !== HASH_LENGTH) throw new RangeError('right must be 32 bytes');
  const buf = new Uint8Array(1 + 2 * HASH_LENGTH);
  buf[0] = NODE_PREFIX;
  buf.set(left, 1);
  buf.set(right, 1 + HASH_LENGTH);
  return sha256(buf);
}

/**
 * RFC 9162 §2.1.1: the root of the empty tree is the hash of the empty string.
 *
 * @example
 * ```ts
 * const root0 = emptyRoot();
 * ```
 */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}

const isSize = (n: unknown): n is number =>
  typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= MAX_TREE_SIZE;

const isHashList = (p: unknown): p is readonly Uint8Array[] =>
  Array.isArray(p) &&
  p.length <= MAX_PROOF_HASHES &&
  p.every((h) => isBytes(h) && h.length === HASH_LENGTH);

const odd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

/**
 * Verify an inclusion proof (RFC 9162 §2.1.3.2): `leaf` (a leaf *hash*) is entry `index` of the
 * tree of `treeSize` leaves whose root is `root`. Returns `false` for any proof that does not
 * verify, including over-long proofs, out-of-range indexes and wrong-length hashes; it never
 * throws on attacker-controlled input.
 *
 * @example
 * ```ts
 * if (!verifyInclusion(leafHash(entry), 3, checkpoint.size, proof, checkpoint.root)) refuse();
 * ```
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isBytes(leaf) || leaf.length !== HASH_LENGTH || !isBytes(root) || root.length !== HASH_LENGTH) {
    return false;
  }
  if (!isSize(index) || !isSize(treeSize) || !isHashList(proof)) return false;
  // Step 1: the index must lie inside the tree.
  if (index >= treeSize) return false;
  // Steps 2-3.
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  // Step 4.
  for (const p of proof) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  return sn === 0 && equalBytes(r, root);
}

/** True when `n` is an exact power of two (n ≥ 1). */
function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/**
 * Verify a consistency proof (RFC 9162 §2.1.4.2): the tree of `size1` leaves with root `root1`
 * is a prefix of the tree of `size2` leaves with root `root2`, i.e. the log only appended.
 *
 * Edge cases the RFC leaves to the caller: equal sizes are consistent only with an empty proof and
 * equal roots; the empty tree (`size1` = 0) is a prefix of every tree and takes an empty proof;
 * `size1 > size2` is never consistent. Returns `false` (never throws) on any bad input.
 *
 * @example
 * ```ts
 * if (!verifyConsistency(old.size, cp.size, proof, old.root, cp.root)) throw splitView();
 * ```
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  if (!isBytes(root1) || root1.length !== HASH_LENGTH || !isBytes(root2) || root2.length !== HASH_LENGTH) {
    return false;
  }
  if (!isSize(size1) || !isSize(size2) || !isHashList(proof)) return false;
  if (size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && equalBytes(root1, root2);
  if (size1 === 0) return proof.length === 0;
  // Step 1: a non-trivial proof is never empty.
  if (proof.length === 0) return false;
  // Step 2: when size1 is a power of two, the old root is itself a node of the new tree and
  // the proof omits it.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  // Steps 3-4.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr = path[0]!;
  let sr = path[0]!;
  // Step 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7: both roots reproduced and the whole path consumed.
  return sn === 0 && equalBytes(fr, root1) && equalBytes(sr, root2);
}
