import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  emptyRoot,
  leafHash,
  MAX_PROOF_HASHES,
  nodeHash,
  verifyConsistency,
  verifyInclusion,
} from '../../lib/trust/merkle.js';
import { MerkleTree } from '../../lib/trust/merkle-tree.js';
import { fromHex, toHex } from '../../lib/util/bytes.js';

// Independent SHA-256 (node:crypto) for a naive tree written straight from RFC 9162 §2.1.
const sha = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const naiveLeaf = (d: Uint8Array) => sha(Uint8Array.of(0), d);
const naiveNode = (l: Uint8Array, r: Uint8Array) => sha(Uint8Array.of(1), l, r);
const k = (n: number) => {
  let x = 1;
  while (x * 2 < n) x *= 2;
  return x;
};
// MTH over leaf hashes (D already hashed).
const mth = (d: Uint8Array[]): Uint8Array =>
  d.length === 0 ? sha() : d.length === 1 ? d[0]! : naiveNode(mth(d.slice(0, k(d.length))), mth(d.slice(k(d.length))));
const path = (m: number, d: Uint8Array[]): Uint8Array[] => {
  if (d.length === 1) return [];
  const s = k(d.length);
  return m < s ? [...path(m, d.slice(0, s)), mth(d.slice(s))] : [...path(m - s, d.slice(s)), mth(d.slice(0, s))];
};
const subproof = (m: number, d: Uint8Array[], b: boolean): Uint8Array[] => {
  if (m === d.length) return b ? [] : [mth(d)];
  const s = k(d.length);
  return m <= s
    ? [...subproof(m, d.slice(0, s), b), mth(d.slice(s))]
    : [...subproof(m - s, d.slice(s), false), mth(d.slice(0, s))];
};

// Certificate Transparency's reference leaves and roots (the RFC 6962 test data every CT
// implementation checks), used as they are.
const CT_DATA = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(fromHex);
const CT_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

describe('RFC 9162 hashing', () => {
  it('matches the CT reference roots for sizes 0..8', () => {
    expect(toHex(emptyRoot())).toBe(CT_ROOTS[0]);
    const tree = new MerkleTree();
    expect(toHex(tree.root())).toBe(CT_ROOTS[0]);
    for (const d of CT_DATA) tree.append(d);
    for (let n = 0; n <= 8; n++) expect(toHex(tree.root(n))).toBe(CT_ROOTS[n]);
  });

  it('prefixes leaves with 0x00 and nodes with 0x01 (cross-checked with node:crypto)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (d, r) => {
        expect(toHex(leafHash(d))).toBe(toHex(naiveLeaf(d)));
        const l = leafHash(d);
        expect(toHex(nodeHash(l, r))).toBe(toHex(naiveNode(l, r)));
      }),
    );
  });

  it('verifies the CT reference proofs', () => {
    const leaves = CT_DATA.map(leafHash);
    const root8 = fromHex(CT_ROOTS[8]!);
    const inc0 = ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'].map(fromHex);
    const inc5 = ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'].map(fromHex);
    expect(verifyInclusion(leaves[0]!, 0, 8, inc0, root8)).toBe(true);
    expect(verifyInclusion(leaves[5]!, 5, 8, inc5, root8)).toBe(true);
    expect(verifyInclusion(leaves[4]!, 5, 8, inc5, root8)).toBe(false);
    const cons25 = ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b'].map(fromHex);
    expect(verifyConsistency(2, 5, cons25, fromHex(CT_ROOTS[2]!), fromHex(CT_ROOTS[5]!))).toBe(true);
    expect(verifyConsistency(2, 5, cons25, fromHex(CT_ROOTS[3]!), fromHex(CT_ROOTS[5]!))).toBe(false);
  });
});

describe('proofs for every tree size up to 64 and every index pair', () => {
  const N = 64;
  const data = Array.from({ length: N }, (_, i) => Uint8Array.of(i, i ^ 0x5a, 7));
  const hashes = data.map(naiveLeaf);
  const tree = new MerkleTree();
  for (const d of data) tree.append(d);
  const roots = Array.from({ length: N + 1 }, (_, n) => mth(hashes.slice(0, n)));
  const flip = (p: Uint8Array[], i: number) => p.map((h, j) => (j === i ? Uint8Array.from(h, (b, x) => (x === 0 ? b ^ 1 : b)) : h));

  it('inclusion: generated = naive PATH, verifies, and every tampering fails', () => {
    for (let n = 1; n <= N; n++) {
      expect(toHex(tree.root(n))).toBe(toHex(roots[n]!));
      for (let m = 0; m < n; m++) {
        const p = tree.inclusionProof(m, n);
        expect(p.map(toHex)).toEqual(path(m, hashes.slice(0, n)).map(toHex));
        expect(verifyInclusion(hashes[m]!, m, n, p, roots[n]!)).toBe(true);
        for (let i = 0; i < p.length; i++) expect(verifyInclusion(hashes[m]!, m, n, flip(p, i), roots[n]!)).toBe(false);
        if (p.length > 0) expect(verifyInclusion(hashes[m]!, m, n, p.slice(0, -1), roots[n]!)).toBe(false);
        expect(verifyInclusion(hashes[m]!, m, n, [...p, roots[n]!], roots[n]!)).toBe(false);
        if (n > 1) expect(verifyInclusion(hashes[m]!, (m + 1) % n, n, p, roots[n]!)).toBe(false);
        // (A wrong tree size may still recompute the same root for some shapes: RFC 9162 binds the
        // size through the signed checkpoint, not through the path, so that is not asserted here.)
        expect(verifyInclusion(hashes[m]!, m + n, n, p, roots[n]!)).toBe(false);
      }
    }
  });

  it('consistency: generated = naive PROOF, verifies, and every tampering fails', () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m <= n; m++) {
        const p = tree.consistencyProof(m, n);
        const naive = m === 0 || m === n ? [] : subproof(m, hashes.slice(0, n), true);
        expect(p.map(toHex)).toEqual(naive.map(toHex));
        expect(verifyConsistency(m, n, p, roots[m]!, roots[n]!)).toBe(true);
        if (m === 0 || m === n) continue;
        for (let i = 0; i < p.length; i++) expect(verifyConsistency(m, n, flip(p, i), roots[m]!, roots[n]!)).toBe(false);
        expect(verifyConsistency(m, n, p.slice(0, -1), roots[m]!, roots[n]!)).toBe(false);
        expect(verifyConsistency(m, n, [...p, roots[n]!], roots[m]!, roots[n]!)).toBe(false);
        expect(verifyConsistency(m, n, p, roots[m - 1]!, roots[n]!)).toBe(false);
        expect(verifyConsistency(m, n, p, roots[m]!, roots[n - 1]!)).toBe(false);
        expect(verifyConsistency(n, m, p, roots[n]!, roots[m]!)).toBe(false);
      }
    }
  });

  it('a forked log (same size, different history) is never consistent', () => {
    const forked = new MerkleTree(hashes.slice(0, 20));
    forked.append(Uint8Array.of(0xff));
    for (const d of data.slice(21, 40)) forked.append(d);
    for (let m = 21; m <= 40; m++) {
      // Honest old checkpoint at m, forked new tree at 40.
      expect(verifyConsistency(m, 40, forked.consistencyProof(m, 40), roots[m]!, forked.root(40))).toBe(false);
    }
  });
});

describe('caps and bad input', () => {
  const h = new Uint8Array(32);
  it(`refuses proofs longer than ${MAX_PROOF_HASHES} hashes and sizes over the cap`, () => {
    const long = Array.from({ length: MAX_PROOF_HASHES + 1 }, () => h);
    expect(verifyInclusion(h, 0, 2 ** 60, long, h)).toBe(false);
    expect(verifyConsistency(1, 2 ** 60, long, h, h)).toBe(false);
    expect(verifyInclusion(h, -1, 2, [h], h)).toBe(false);
    expect(verifyInclusion(h, 0.5, 2, [h], h)).toBe(false);
    expect(verifyInclusion(h, 0, 2, [new Uint8Array(31)], h)).toBe(false);
    expect(verifyConsistency(1, 2, [], h, h)).toBe(false);
  });
  it('large tree sizes use exact arithmetic (no 32-bit truncation)', () => {
    // A two-leaf tree and the same proof claimed for index 2^32 in a 2^32+2 tree must differ.
    const a = leafHash(Uint8Array.of(1));
    const b = leafHash(Uint8Array.of(2));
    const root = nodeHash(a, b);
    expect(verifyInclusion(a, 0, 2, [b], root)).toBe(true);
    expect(verifyInclusion(a, 2 ** 32, 2 ** 32 + 2, [b], root)).toBe(false);
  });
  it('tree misuse throws RangeError', () => {
    const t = new MerkleTree();
    t.append(Uint8Array.of(1));
    expect(() => t.inclusionProof(1, 1)).toThrow(RangeError);
    expect(() => t.consistencyProof(2, 1)).toThrow(RangeError);
    expect(() => t.root(2)).toThrow(RangeError);
  });
});
