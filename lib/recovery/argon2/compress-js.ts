/**
 * Argon2's compression function G (RFC 9106 §3.5, §3.6) in plain JavaScript: the fallback where
 * WebAssembly cannot run (a page whose Content-Security-Policy lacks 'wasm-unsafe-eval', Safari's
 * Lockdown Mode, an engine without `WebAssembly`). Same contract and memory layout as the
 * WebAssembly module (scripts/argon2-wasm.ts), but for its scratch (`S` here, not block 0): blocks
 * of 256 little-endian 32-bit words, the 64-bit word `i` of a block as words `2i` (low half) and
 * `2i + 1` (high half).
 *
 * JavaScript has no fast 64-bit integers, so each 64-bit word is a pair of 32-bit halves, and
 * BlaMka's `2 · trunc(x) · trunc(y)` needs the 64-bit product of two 32-bit numbers: its low half
 * is `Math.imul`; the double product `x · y` is within 2^11 of the exact one (53-bit mantissa, <
 * 2^64), so `(x · y − low) / 2^32` rounded to the nearest integer is the exact high half (the
 * technique of `@noble/hashes`' argon2.ts, whose speed this matches). The WebAssembly module, with
 * i64, compresses 7-10× faster (bench/RESULTS.md, "Our Argon2id").
 *
 * @module
 * @internal
 */

/**
 * The scratch block (R, then Q), a small array of its own: V8 keeps the permutation's reads and
 * writes of it fast. compressJs zeroes it before returning.
 */
const S = new Uint32Array(256);

/**
 * The high half of BlaMka's `x + y + 2 · trunc(x) · trunc(y)` (RFC 9106 Figure 19) of the 64-bit
 * words `x` and `y` given as halves; the low half is {@link blamkaLo}. Values stay int32 (`| 0`),
 * which V8 keeps unboxed; `>>> 0` only where an unsigned value enters a product or a carry.
 */
function blamkaHi(xl: number, xh: number, yl: number, yh: number): number {
  const lo = Math.imul(xl, yl);
  const mh = (((xl >>> 0) * (yl >>> 0) - (lo >>> 0)) / 0x100000000 + 0.5) | 0;
  const s = (xl >>> 0) + (yl >>> 0) + ((lo << 1) >>> 0);
  return (xh + yh + ((mh << 1) | (lo >>> 31)) + ((s / 0x100000000) | 0)) | 0;
}

/** The low half of BlaMka's result (see {@link blamkaHi}). */
const blamkaLo = (xl: number, yl: number): number => (xl + yl + (Math.imul(xl, yl) << 1)) | 0;

/** GB (RFC 9106 Figure 19) on the 64-bit words `a`, `b`, `c`, `d` of the scratch block. */
function gb(a: number, b: number, c: number, d: number): void {
  let al = S[2 * a]! | 0, ah = S[2 * a + 1]! | 0, bl = S[2 * b]! | 0, bh = S[2 * b + 1]! | 0; // prettier-ignore
  let cl = S[2 * c]! | 0, ch = S[2 * c + 1]! | 0, dl = S[2 * d]! | 0, dh = S[2 * d + 1]! | 0; // prettier-ignore
  let x: number;

  // a = blamka(a, b); d = rotr64(d ^ a, 32)
  ah = blamkaHi(al, ah, bl, bh);
  al = blamkaLo(al, bl);
  x = dh ^ ah;
  dh = dl ^ al;
  dl = x;

  // c = blamka(c, d); b = rotr64(b ^ c, 24)
  ch = blamkaHi(cl, ch, dl, dh);
  cl = blamkaLo(cl, dl);
  x = bh ^ ch;
  bl ^= cl;
  bh = (x >>> 24) | (bl << 8);
  bl = (bl >>> 24) | (x << 8);

  // a = blamka(a, b); d = rotr64(d ^ a, 16)
  ah = blamkaHi(al, ah, bl, bh);
  al = blamkaLo(al, bl);
  x = dh ^ ah;
  dl ^= al;
  dh = (x >>> 16) | (dl << 16);
  dl = (dl >>> 16) | (x << 16);

  // c = blamka(c, d); b = rotr64(b ^ c, 63) (= rotl64 by 1)
  ch = blamkaHi(cl, ch, dl, dh);
  cl = blamkaLo(cl, dl);
  x = bh ^ ch;
  bl ^= cl;
  bh = (x << 1) | (bl >>> 31);
  bl = (bl << 1) | (x >>> 31);

  S[2 * a] = al;
  S[2 * a + 1] = ah;
  S[2 * b] = bl;
  S[2 * b + 1] = bh;
  S[2 * c] = cl;
  S[2 * c + 1] = ch;
  S[2 * d] = dl;
  S[2 * d + 1] = dh;
}

/**
 * P (RFC 9106 Figure 18) on 16 64-bit words of the scratch block: 8 pairs, pair k at word
 * `b + k·s`, a row (s = 2) or a column (s = 16) of the 8×8 matrix of 16-byte registers.
 */
function p(b: number, s: number): void {
  const s2 = 2 * s, s3 = 3 * s, s4 = 4 * s, s5 = 5 * s, s6 = 6 * s, s7 = 7 * s; // prettier-ignore
  gb(b, b + s2, b + s4, b + s6);
  gb(b + 1, b + s2 + 1, b + s4 + 1, b + s6 + 1);
  gb(b + s, b + s3, b + s5, b + s7);
  gb(b + s + 1, b + s3 + 1, b + s5 + 1, b + s7 + 1);
  gb(b, b + s2 + 1, b + s5, b + s7 + 1);
  gb(b + 1, b + s3, b + s5 + 1, b + s6);
  gb(b + s, b + s3 + 1, b + s4, b + s6 + 1);
  gb(b + s + 1, b + s2, b + s4 + 1, b + s7);
}

/**
 * G(X, Y) (RFC 9106 §3.5) of the blocks at byte offsets `x` and `y` of `m`'s buffer into the block
 * at `out`; `xor` = 1 XORs it into the block there (passes after the first, version 0x13). The
 * WebAssembly module's `c` export, in JavaScript (its scratch is `S`, not block 0).
 */
export function compressJs(m: Uint32Array, x: number, y: number, out: number, xor: number): void {
  x >>>= 2;
  y >>>= 2;
  out >>>= 2;
  for (let i = 0; i < 256; i++) {
    const r = m[x + i]! ^ m[y + i]!;
    S[i] = r;
    m[out + i] = xor ? m[out + i]! ^ r : r;
  }
  for (let i = 0; i < 128; i += 16) p(i, 2);
  for (let i = 0; i < 16; i += 2) p(i, 16);
  for (let i = 0; i < 256; i++) m[out + i] ^= S[i]!;
  S.fill(0);
}
