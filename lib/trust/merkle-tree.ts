/**
 * Building an RFC 9162 Merkle tree and generating its proofs, for the witness log and the
 * operator tools. Clients only verify ({@link ./merkle.ts}); this side lives apart so the browser
 * bundle does not carry it.
 *
 * The definitions follow RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH) and §2.1.4.1 (PROOF/SUBPROOF)
 * directly. Subtree hashes of complete power-of-two subtrees are cached, so a proof costs
 * O(log² n) hashes after the first time.
 *
 * @module
 */
import { emptyRoot, leafHash, MAX_TREE_SIZE, nodeHash } from './merkle.js';
import { isBytes } from '../util/bytes.js';

/** Largest power of two strictly below `n` (n ≥ 2), RFC 9162 §2.1.1's `k`. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * An append-only Merkle tree over leaf hashes (RFC 9162 §2.1).
 *
 * @example
 * ```ts
 * const tree = new MerkleTree();
 * tree.append(entryBytes);
 * const proof = tree.inclusionProof(0, tree.size);
 * ```
 */
export class MerkleTree {
  readonly #leaves: Uint8Array[] = [];
  // Cache of complete subtrees: key `${start}:${width}` with width a power of two.
  readonly #cache = new Map<string, Uint8Array>();

  /**
   * @param leafHashes - Leaf hashes to start from (e.g. reloaded from disk), in log order.
   */
  constructor(leafHashes: readonly Uint8Array[] = []) {
    for (const h of leafHashes) this.appendHash(h);
  }

  /** Number of leaves. */
  get size(): number {
    return this.#leaves.length;
  }

  /** Append an entry's data (hashed as a leaf); returns its index. */
  append(data: Uint8Array): number {
    return this.appendHash(leafHash(data));
  }

  /** Append an already-computed leaf hash; returns its index. */
  appendHash(hash: Uint8Array): number {
    if (!isBytes(hash) || hash.length !== 32) throw new RangeError('hash must be 32 bytes');
    if (this.#leaves.length >= MAX_TREE_SIZE) throw new RangeError('tree is full');
    this.#leaves.push(Uint8Array.from(hash));
    return this.#leaves.length - 1;
  }

  /** The leaf hash at `index`. */
  leaf(index: number): Uint8Array {
    this.#checkRange(index, 0, this.size - 1, 'index');
    return Uint8Array.from(this.#leaves[index]!);
  }

  /** Every leaf hash, in order (for persisting the log). */
  leafHashes(): Uint8Array[] {
    return this.#leaves.map((l) => Uint8Array.from(l));
  }

  /** MTH of the first `size` leaves (RFC 9162 §2.1.1). */
  root(size: number = this.size): Uint8Array {
    this.#checkRange(size, 0, this.size, 'size');
    return size === 0 ? emptyRoot() : this.#mth(0, size);
  }

  /** PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), from the leaf upwards. */
  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    this.#checkRange(size, 1, this.size, 'size');
    this.#checkRange(index, 0, size - 1, 'index');
    return this.#path(index, 0, size);
  }

  /** PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1); empty when size1 is 0 or equals size2. */
  consistencyProof(size1: number, size2: number = this.size): Uint8Array[] {
    this.#checkRange(size2, 0, this.size, 'size2');
    this.#checkRange(size1, 0, size2, 'size1');
    if (size1 === 0 || size1 === size2) return [];
    return this.#subproof(size1, 0, size2, true);
  }

  #checkRange(v: number, min: number, max: number, name: string): void {
    if (!Number.isSafeInteger(v)) throw new TypeError(`${name} must be an integer`);
    if (v < min || v > max) throw new RangeError(`${name} must be in [${min}, ${max}]`);
  }

  // MTH(D[start:start+n]), n ≥ 1.
  #mth(start: number, n: number): Uint8Array {
    if (n === 1) return this.#leaves[start]!;
    const complete = splitPoint(n) * 2 === n; // n is a power of two (no 32-bit bit tricks)
    const key = `${start}:${n}`;
    if (complete) {
      const hit = this.#cache.get(key);
      if (hit) return hit;
    }
    const k = splitPoint(n);
    const h = nodeHash(this.#mth(start, k), this.#mth(start + k, n - k));
    if (complete) this.#cache.set(key, h);
    return h;
  }

  // PATH(m, D[start:start+n]).
  #path(m: number, start: number, n: number): Uint8Array[] {
    if (n === 1) return [];
    const k = splitPoint(n);
    if (m < k) return [...this.#path(m, start, k), this.#mth(start + k, n - k)];
    return [...this.#path(m - k, start + k, n - k), this.#mth(start, k)];
  }

  // SUBPROOF(m, D[start:start+n], b).
  #subproof(m: number, start: number, n: number, b: boolean): Uint8Array[] {
    if (m === n) return b ? [] : [this.#mth(start, n)];
    const k = splitPoint(n);
    if (m <= k) return [...this.#subproof(m, start, k, b), this.#mth(start + k, n - k)];
    return [...this.#subproof(m - k, start + k, n - k, false), this.#mth(start, k)];
  }
}
