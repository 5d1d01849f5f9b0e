/**
 * A bounds-checked reader and a writer for the trust formats (docs/TRUST.md). Every read that
 * would run past the end, and every cap, fails with `TRUST_MALFORMED`.
 *
 * @module
 * @internal
 */
import { BackupError } from '../errors.js';
import { concatChunks, fromUtf8, readU16BE, readU32BE, readU64BE, utf8, writeU32BE, writeU64BE } from '../util/bytes.js';

/** @internal A `TRUST_MALFORMED` error. */
export function malformed(what: string, limit?: number): BackupError {
  return new BackupError('TRUST_MALFORMED', `malformed trust data: ${what}`, limit === undefined ? {} : { limit });
}

/** @internal Sequential reader over untrusted bytes. */
export class Reader {
  #off = 0;
  constructor(private readonly buf: Uint8Array) {}
  get remaining(): number {
    return this.buf.length - this.#off;
  }
  bytes(n: number, what: string): Uint8Array {
    if (n > this.remaining) throw malformed(`${what} is truncated`);
    const out = this.buf.slice(this.#off, this.#off + n);
    this.#off += n;
    return out;
  }
  u8(what: string): number {
    return this.bytes(1, what)[0]!;
  }
  u16(what: string): number {
    return readU16BE(this.bytes(2, what), 0);
  }
  u32(what: string): number {
    return readU32BE(this.bytes(4, what), 0);
  }
  /** u64, refused above 2^53 - 1. */
  u64(what: string): number {
    const b = this.bytes(8, what);
    try {
      return readU64BE(b, 0);
    } catch {
      throw malformed(`${what} is above 2^53 - 1`);
    }
  }
  /** u8 length-prefixed ASCII string matching `pattern`, length in [1, max]. */
  ascii(what: string, max: number, pattern: RegExp): string {
    const n = this.u8(`${what} length`);
    if (n < 1 || n > max) throw malformed(`${what} length must be 1..${max}`, max);
    const raw = this.bytes(n, what);
    let s: string;
    try {
      s = fromUtf8(raw);
    } catch {
      throw malformed(`${what} is not UTF-8`);
    }
    // A byte-order mark is text like any other to the decoder (it keeps it); here it is refused
    // outright, whatever `pattern` says, so no field has two encodings.
    if (s.includes('\uFEFF')) throw malformed(`${what} has a byte-order mark`);
    if (!pattern.test(s)) throw malformed(`${what} has characters outside its alphabet`);
    return s;
  }
  end(what: string): void {
    if (this.remaining !== 0) throw malformed(`trailing bytes after ${what}`);
  }
}

/** @internal Growable writer. */
export class Writer {
  readonly #parts: Uint8Array[] = [];
  bytes(b: Uint8Array): this {
    this.#parts.push(Uint8Array.from(b));
    return this;
  }
  u8(v: number): this {
    return this.bytes(Uint8Array.of(v));
  }
  u16(v: number): this {
    return this.bytes(Uint8Array.of(v >>> 8, v & 0xff));
  }
  u32(v: number): this {
    const b = new Uint8Array(4);
    writeU32BE(b, 0, v);
    return this.bytes(b);
  }
  u64(v: number): this {
    const b = new Uint8Array(8);
    writeU64BE(b, 0, v);
    return this.bytes(b);
  }
  ascii(s: string): this {
    const b = utf8(s);
    return this.u8(b.length).bytes(b);
  }
  finish(): Uint8Array {
    return concatChunks(this.#parts);
  }
}

/** @internal Lexicographic byte comparison. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
