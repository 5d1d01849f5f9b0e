/**
 * Argon2id (RFC 9106, version 0x13) whose compression function runs in WebAssembly with native
 * 64-bit integers (scripts/argon2-wasm.ts, committed as lib/recovery/argon2/compress-wasm.ts), or
 * in plain JavaScript (compress-js.ts) where WebAssembly cannot run: a page whose
 * Content-Security-Policy lacks 'wasm-unsafe-eval', Safari's Lockdown Mode. Both give the same
 * bytes. With 46 MiB, the WebAssembly compression takes 30-50 ms of the call in Node against
 * 300-400 ms for the JavaScript one; what is left of a call is mostly the operating system
 * handing over 46 MiB of fresh pages (bench/RESULTS.md, "Our Argon2id").
 *
 * JavaScript drives the per-block loop (RFC 9106 §3.2 steps 5-6, §3.4: the order of the blocks,
 * the reference index of each, the address blocks of Argon2id's data-independent first half of
 * pass 1) and calls `compress` once per 1 KiB block; H0 and H' are BLAKE2b from `@noble/hashes`.
 * It yields to the event loop about every 10 ms (lib/util/yield.ts), so a browser main thread
 * has no long task.
 *
 * Every call has its own memory (a WebAssembly.Memory, or an ArrayBuffer for the fallback), which
 * holds data derived from the password: it is zeroed before it is dropped, as is H0, whether the
 * call returns or throws.
 *
 * @module
 * @internal
 */
import { blake2b } from '@noble/hashes/blake2.js';
import { BackupError } from '../../errors.js';
import { fromBase64, isBytes } from '../../util/bytes.js';
import { createYielder } from '../../util/yield.js';
import { compressJs } from './compress-js.js';
import { COMPRESS_WASM_BASE64 } from './compress-wasm.js';

/** Argon2id's inputs besides the password and salt (RFC 9106 §3.1). */
export interface Argon2idOptions {
  /** Memory in KiB (`m`), 8·p..2^21. */
  readonly m: number;
  /** Passes (`t`), 1..10. */
  readonly t: number;
  /** Lanes (`p`), 1..16. */
  readonly p: number;
  /** Tag length in bytes (`T`), 4..1024. */
  readonly dkLen: number;
  /** Secret value `K` (optional, at most 1 KiB). */
  readonly secret?: Uint8Array;
  /** Associated data `X` (optional, at most 1 KiB). */
  readonly data?: Uint8Array;
  /**
   * Which compression function: `'auto'` (default) WebAssembly where it compiles and its memory
   * can be had, else JavaScript; `'wasm'` or `'js'` only that one (tests, the bench), throwing
   * `ENGINE_UNAVAILABLE` when `'wasm'` cannot run.
   */
  readonly engine?: 'auto' | 'wasm' | 'js';
  /**
   * The checkpoint between blocks: `undefined` to go on, or a promise to wait for (default:
   * {@link createYielder}, a macrotask about every 10 ms). A worker may pass `() => undefined`.
   */
  readonly pause?: () => Promise<void> | undefined;
}

const BLOCK = 1024;
/** Blocks before the first memory block: 0 the compression's scratch, then the zero, input and address blocks of §3.4.1.2. */
const SCRATCH_BLOCKS = 4;
const ZERO = 1 * BLOCK;
const INPUT = 2 * BLOCK;
const ADDRESS = 3 * BLOCK;
const VERSION = 0x13;
const TYPE_ID = 2;
const SYNC_POINTS = 4;
/** Blocks computed between two looks at the clock (0.03-0.3 ms of work, WebAssembly to JavaScript). */
const BLOCKS_PER_CHECK = 32;
// Why JavaScript drives the loop: one call into WebAssembly per block (47104 with the default
// suite) costs well under a millisecond in all, against the compression's 30-50 ms; the reference
// indices and address blocks are a few lines of JavaScript a reviewer can hold against RFC 9106,
// and the WebAssembly stays one small function (1.5 KB, the size budget).

type Compress = (x: number, y: number, out: number, xor: number) => void;

interface Work {
  /** The whole memory, as 32-bit little-endian words (block 0 first). */
  readonly words: Uint32Array;
  readonly compress: Compress;
}

let wasmModule: Promise<WebAssembly.Module | undefined> | undefined;

/**
 * The compiled module, compiled once (asynchronously: Chromium refuses a synchronous compile of
 * more than 4 KB on the main thread), or `undefined` where WebAssembly cannot run. A refusal (a
 * CSP without 'wasm-unsafe-eval' makes `WebAssembly.compile` throw) is remembered: the policy of
 * a page does not change.
 */
export function argon2WasmModule(): Promise<WebAssembly.Module | undefined> {
  wasmModule ??= (async () => {
    if (typeof WebAssembly !== 'object' || typeof WebAssembly.compile !== 'function') return undefined;
    try {
      return await WebAssembly.compile(fromBase64(COMPRESS_WASM_BASE64));
    } catch {
      return undefined;
    }
  })();
  return wasmModule;
}

/** The memory of one call in WebAssembly, or `undefined` when the module or that much memory cannot be had. */
async function wasmWork(bytes: number): Promise<Work | undefined> {
  const module = await argon2WasmModule();
  if (module === undefined) return undefined;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
  } catch {
    return undefined; // RangeError: the engine cannot reserve that much
  }
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, { e: { m: memory } });
  } catch {
    return undefined; // nothing derived from the password is in the memory yet
  }
  return { words: new Uint32Array(memory.buffer, 0, bytes / 4), compress: instance.exports.c as Compress };
}

/** The memory of one call for the JavaScript compression (`undefined` when it cannot be allocated). */
function jsWork(bytes: number): Work | undefined {
  let words: Uint32Array;
  try {
    words = new Uint32Array(bytes / 4);
  } catch {
    return undefined;
  }
  return { words, compress: (x, y, out, xor) => compressJs(words, x, y, out, xor) };
}

/**
 * Little-endian words are what the blocks are made of (WebAssembly's memory is little-endian too),
 * and the driver reads J1, J2 and writes the input block Z through a Uint32Array on both paths:
 * a big-endian host would compute a different key, so it gets none (ENGINE_UNAVAILABLE).
 */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** `v` if it is an integer in lo..hi, else a RangeError naming it (also rfc9807-ksf.ts's check). */
export function intIn(v: unknown, lo: number, hi: number, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${name} must be an integer in ${lo}..${hi}`);
  return v;
}

function bytesArg(v: unknown, name: string, min: number, max: number): Uint8Array {
  if (!isBytes(v)) throw new TypeError(`${name} must be a Uint8Array`);
  if (v.length < min || v.length > max) throw new RangeError(`${name} must be ${min}..${max} bytes, got ${v.length}`);
  return v;
}

const le32 = (n: number): Uint8Array => Uint8Array.of(n, n >>> 8, n >>> 16, n >>> 24);

/**
 * H' (RFC 9106 §3.3), the variable-length hash, of `parts` into `out` (its length is the output
 * length; its byteOffset a multiple of 4, as noble's `digestInto` wants).
 */
function hPrime(out: Uint8Array, ...parts: Uint8Array[]): void {
  const T = out.length;
  const first = blake2b.create({ dkLen: Math.min(T, 64) }).update(le32(T));
  for (const part of parts) first.update(part);
  if (T <= 64) {
    first.digestInto(out);
    first.destroy();
    return;
  }
  const v = new Uint8Array(64);
  try {
    first.digestInto(v);
    first.destroy();
    out.set(v.subarray(0, 32));
    let pos = 32;
    // V_2..V_r: 32 bytes of each, then V_{r+1} whole at the length left (T - 32·r, 33..64).
    for (; T - pos > 64; pos += 32) {
      const h = blake2b.create({ dkLen: 64 }).update(v);
      h.digestInto(v);
      h.destroy();
      out.set(v.subarray(0, 32), pos);
    }
    const last = blake2b.create({ dkLen: T - pos }).update(v);
    last.digestInto(out.subarray(pos));
    last.destroy();
  } finally {
    v.fill(0);
  }
}

/**
 * Argon2id (RFC 9106 §3, version 0x13, type 2) of `password` and `salt`.
 *
 * Failures: `TypeError`/`RangeError` for bad arguments; `BackupError` `ENGINE_UNAVAILABLE` when
 * the memory cannot be had (neither a WebAssembly.Memory nor an ArrayBuffer of that size), or when
 * `engine: 'wasm'` is asked for and WebAssembly cannot run, or on a big-endian host.
 *
 * @example
 * ```ts
 * const tag = await argon2id(new TextEncoder().encode('password'), new Uint8Array(16), { m: 47104, t: 1, p: 1, dkLen: 64 });
 * ```
 */
export async function argon2id(password: Uint8Array, salt: Uint8Array, options: Argon2idOptions): Promise<Uint8Array> {
  bytesArg(password, 'password', 0, 0xffffffff);
  bytesArg(salt, 'salt', 8, 0xffffffff);
  const p = intIn(options?.p, 1, 16, 'p');
  const m = intIn(options.m, 8 * p, 1 << 21, 'm');
  const t = intIn(options.t, 1, 10, 't');
  const dkLen = intIn(options.dkLen, 4, 1024, 'dkLen');
  const secret = options.secret === undefined ? new Uint8Array(0) : bytesArg(options.secret, 'secret', 0, 1024);
  const data = options.data === undefined ? new Uint8Array(0) : bytesArg(options.data, 'data', 0, 1024);
  const engine = options.engine ?? 'auto';

  // RFC 9106 §3.2 step 1: H0, before anything is awaited (a caller may reuse its buffers after).
  const h0 = new Uint8Array(72); // H0 || LE32(column) || LE32(lane), for the first blocks
  const h = blake2b.create({ dkLen: 64 });
  for (const n of [p, dkLen, m, t, VERSION, TYPE_ID]) h.update(le32(n));
  for (const field of [password, salt, secret, data]) h.update(le32(field.length)).update(field);
  h.digestInto(h0);
  h.destroy();

  let work: Work | undefined;
  try {
    // §3.2 step 2: m' = 4·p·floor(m / 4p) blocks, `q` per lane, in 4 segments of `seg`.
    const seg = Math.floor(m / (SYNC_POINTS * p));
    const q = seg * SYNC_POINTS;
    const blocks = q * p;
    const bytes = (SCRATCH_BLOCKS + blocks) * BLOCK;
    if (!LITTLE_ENDIAN) throw new BackupError('ENGINE_UNAVAILABLE', 'Argon2id: a big-endian host');
    if (engine !== 'js') work = await wasmWork(bytes);
    if (work === undefined && engine !== 'wasm') work = jsWork(bytes);
    if (work === undefined) throw new BackupError('ENGINE_UNAVAILABLE', `Argon2id: no memory of ${bytes >>> 20} MiB for it (${engine})`);
    const { words, compress } = work;
    const mem8 = new Uint8Array(words.buffer, words.byteOffset, bytes);
    const at = (lane: number, col: number) => (SCRATCH_BLOCKS + lane * q + col) * BLOCK;

    // §3.2 steps 3-4: B[i][0] = H'^1024(H0 || LE32(0) || LE32(i)), B[i][1] likewise with 1.
    for (let lane = 0; lane < p; lane++) {
      h0.set(le32(lane), 68);
      for (let col = 0; col < 2; col++) {
        h0.set(le32(col), 64);
        hPrime(mem8.subarray(at(lane, col), at(lane, col) + BLOCK), h0);
      }
    }

    const pause = options.pause ?? createYielder();
    let sinceCheck = 0;
    // §3.2 steps 5-6, §3.4: pass by pass, slice by slice (the 4 sync points), lane by lane.
    for (let pass = 0; pass < t; pass++) {
      for (let slice = 0; slice < SYNC_POINTS; slice++) {
        // §3.4.1.3: Argon2id takes reference indices from address blocks (data-independent) in
        // the first two slices of the first pass, from the previous block (data-dependent) after.
        const independent = pass === 0 && slice < SYNC_POINTS / 2;
        for (let lane = 0; lane < p; lane++) {
          if (independent) {
            // §3.4.1.2: the input block Z = (pass, lane, slice, m', t, y, counter, 0...).
            words.fill(0, INPUT / 4, ADDRESS / 4);
            words.set([pass, 0, lane, 0, slice, 0, blocks, 0, t, 0, TYPE_ID], INPUT / 4);
          }
          const first = pass === 0 && slice === 0 ? 2 : 0; // B[i][0], B[i][1] are from H0
          for (let index = first; index < seg; index++) {
            const col = slice * seg + index;
            const prev = col === 0 ? at(lane, q - 1) : at(lane, col - 1);
            let j1: number;
            let j2: number;
            if (independent) {
              const k = index % 128;
              if (k === 0 || index === first) {
                // Address block: G(ZERO, G(ZERO, Z)) with the counter incremented (Z[6]).
                words[INPUT / 4 + 12] += 1;
                compress(ZERO, INPUT, ADDRESS, 0);
                compress(ZERO, ADDRESS, ADDRESS, 0);
              }
              j1 = words[ADDRESS / 4 + 2 * k]!;
              j2 = words[ADDRESS / 4 + 2 * k + 1]!;
            } else {
              j1 = words[prev / 4]!;
              j2 = words[prev / 4 + 1]!;
            }
            // §3.4.1.1: the reference lane, then the reference block within it.
            const refLane = pass === 0 && slice === 0 ? lane : j2 % p;
            const ref = at(refLane, referenceColumn(pass, slice, index, seg, q, refLane === lane, j1));
            compress(prev, ref, at(lane, col), pass > 0 ? 1 : 0);
            if (++sinceCheck === BLOCKS_PER_CHECK) {
              sinceCheck = 0;
              const y = pause();
              if (y !== undefined) await y;
            }
          }
        }
      }
    }

    // §3.2 step 7: C = XOR of the last block of each lane (kept in the scratch block), tag = H'^T(C).
    const c = words.subarray(0, BLOCK / 4);
    c.set(words.subarray(at(0, q - 1) / 4, at(0, q - 1) / 4 + BLOCK / 4));
    for (let lane = 1; lane < p; lane++) {
      const last = at(lane, q - 1) / 4;
      for (let i = 0; i < BLOCK / 4; i++) c[i] ^= words[last + i]!;
    }
    const tag = new Uint8Array(dkLen);
    hPrime(tag, mem8.subarray(0, BLOCK));
    return tag;
  } finally {
    h0.fill(0);
    work?.words.fill(0);
  }
}

/**
 * The column of the reference block (RFC 9106 §3.4.1.1 and §3.4.2, as the reference
 * implementation's index_alpha): the set W of blocks it may reference, then J1's non-uniform map
 * into W, `x = J1² / 2^32`, `y = (|W| · x) / 2^32`, `zz = |W| − 1 − y`, counted from W's start.
 */
function referenceColumn(pass: number, slice: number, index: number, seg: number, q: number, sameLane: boolean, j1: number): number {
  // |W|: the blocks finished before this one in this pass and the last (for another lane: the
  // segments finished before this slice, less the last block when this is a segment's first).
  let area: number;
  if (pass === 0) area = slice === 0 ? index - 1 : sameLane ? slice * seg + index - 1 : slice * seg - (index === 0 ? 1 : 0);
  else area = sameLane ? q - seg + index - 1 : q - seg - (index === 0 ? 1 : 0);
  const x = mulHi32(j1, j1);
  const y = Math.floor((area * x) / 0x100000000); // area < 2^21, x < 2^32: exact in a double
  const start = pass === 0 || slice === SYNC_POINTS - 1 ? 0 : (slice + 1) * seg;
  return (start + area - 1 - y) % q;
}

/** floor(a · b / 2^32) for 32-bit unsigned a, b, exactly (the product may exceed 2^53). */
function mulHi32(a: number, b: number): number {
  const high = (a >>> 16) * b; // < 2^48
  const low = (a & 0xffff) * b; // < 2^48
  return Math.floor((high + Math.floor(low / 0x10000)) / 0x10000);
}
