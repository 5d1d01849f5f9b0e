/**
 * Byte helpers shared by every module. Cross-realm safe: bytes read back from another realm
 * (fake-indexeddb under jsdom, a worker, an iframe) fail `instanceof Uint8Array`, so we check the
 * tag instead (as noble's `isBytes`).
 *
 * @module
 * @internal
 */

/** True for any `Uint8Array`, from any realm. */
export function isBytes(a: unknown): a is Uint8Array {
  return (
    a instanceof Uint8Array ||
    (ArrayBuffer.isView(a) && Object.prototype.toString.call(a) === '[object Uint8Array]')
  );
}

/**
 * Assert `value` is a `Uint8Array` (TypeError otherwise) of one of `lengths` (RangeError
 * otherwise). The argument's name goes in the message; its value never does.
 */
export function abytes(value: unknown, name: string, ...lengths: number[]): Uint8Array {
  if (!isBytes(value)) throw new TypeError(`${name} must be a Uint8Array`);
  if (lengths.length > 0 && !lengths.includes(value.length)) {
    throw new RangeError(`${name} must be ${lengths.join(' or ')} bytes, got ${value.length}`);
  }
  return value;
}

/** Constant-time equality of two byte arrays (time depends only on the lengths). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Overwrite every given array with zeros. Accepts `undefined` for convenience in `finally`. */
export function wipe(...arrays: (Uint8Array | undefined | null)[]): void {
  for (const a of arrays) if (a) a.fill(0);
}

/** Concatenate byte arrays into a new one. */
export function concatBytes(...arrays: Uint8Array[]): Uint8Array {
  return concatChunks(arrays);
}

/**
 * Concatenate a list of byte arrays into a new one: {@link concatBytes} for a list of any length
 * (a body read chunk by chunk may have more chunks than a call may take arguments).
 */
export function concatChunks(arrays: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const a of arrays) len += a.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

/** Copy into a fresh, zero-offset, ArrayBuffer-backed array of this realm. */
export function copyBytes(a: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length);
  out.set(a);
  return out;
}

const encoder = /* @__PURE__ */ new TextEncoder();
// fatal: an invalid sequence throws instead of becoming U+FFFD. ignoreBOM: a leading byte-order
// mark is KEPT as U+FEFF instead of silently dropped, so `utf8(fromUtf8(b))` is `b` for every `b`
// that decodes: two parsers can never read different text from the same bytes, nor the same text
// from different bytes (issue 13, finding 6). Callers whose format forbids U+FEFF refuse it.
const decoder = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 encode. */
export function utf8(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s);
}

/**
 * Strict UTF-8 decode: throws TypeError on an invalid sequence (overlong, surrogate, truncated);
 * a leading byte-order mark is kept as U+FEFF, never dropped, so the result re-encodes to exactly
 * `b`.
 */
export function fromUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}

/** Lowercase hex. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

/** Parse hex (even length, [0-9a-fA-F]); TypeError otherwise. */
export function fromHex(s: string): Uint8Array<ArrayBuffer> {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new TypeError('expected an even-length hex string');
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard base64 (with padding). */
export function toBase64(b: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < b.length; i += 0x8000) {
    bin += String.fromCharCode(...b.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Parse standard or URL-safe base64; TypeError on bad input. */
export function fromBase64(s: string): Uint8Array<ArrayBuffer> {
  if (typeof s !== 'string') throw new TypeError('expected a base64 string');
  const norm = s.replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(norm)) throw new TypeError('invalid base64');
  const bin = atob(norm.padEnd(Math.ceil(norm.length / 4) * 4, '='));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** URL-safe base64 without padding. */
export function toBase64Url(b: Uint8Array): string {
  return toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Big-endian unsigned 32-bit write. */
export function writeU32BE(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

/** Big-endian unsigned 32-bit read. */
export function readU32BE(b: Uint8Array, offset: number): number {
  return ((b[offset]! << 24) | (b[offset + 1]! << 16) | (b[offset + 2]! << 8) | b[offset + 3]!) >>> 0;
}

/** Big-endian unsigned 16-bit read. */
export function readU16BE(b: Uint8Array, offset: number): number {
  return (b[offset]! << 8) | b[offset + 1]!;
}

/**
 * `n`, checked to be a safe integer of at least `min` (0 or 1): else a RangeError naming it, "must
 * be a non-negative safe integer" or "must be a positive integer".
 */
export function safeInt(n: unknown, name: string, min: 0 | 1 = 0): number {
  if (!Number.isSafeInteger(n) || (n as number) < min) throw new RangeError(`${name} must be a ${min ? 'positive' : 'non-negative safe'} integer`);
  return n as number;
}

/** Big-endian unsigned 64-bit write of a safe integer. */
export function writeU64BE(out: Uint8Array, offset: number, value: number): void {
  safeInt(value, 'value');
  writeU32BE(out, offset, Math.floor(value / 2 ** 32));
  writeU32BE(out, offset + 4, value >>> 0);
}

/** Big-endian unsigned 64-bit read; RangeError above 2^53 - 1. */
export function readU64BE(b: Uint8Array, offset: number): number {
  const hi = readU32BE(b, offset);
  const lo = readU32BE(b, offset + 4);
  const v = hi * 2 ** 32 + lo;
  if (!Number.isSafeInteger(v)) throw new RangeError('64-bit value above 2^53 - 1');
  return v;
}

/** A source of randomness; injectable for deterministic tests. */
export type RandomSource = (length: number) => Uint8Array;

/** Cryptographically secure random bytes from WebCrypto (browsers and Node ≥ 20). */
export const secureRandom: RandomSource = (length) => {
  const out = new Uint8Array(length);
  // getRandomValues is limited to 65536 bytes per call.
  for (let i = 0; i < length; i += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  }
  return out;
};
