/**
 * Key stretching functions for the RFC 9807 suites (RFC 9807 §2.3 "KSF", §7): Argon2id
 * (RFC 9106; ours, lib/recovery/argon2/argon2id.ts: WebAssembly, or JavaScript where a page's CSP
 * forbids it) and scrypt (RFC 7914, from `@noble/hashes`), each with a 16-byte all-zero salt and an
 * output of `Nh` bytes, as RFC 9807 §7's recommended configurations and opaque-ke's Argon2id
 * (`hash_password_into(input, [0; 16], out[Nh])`) do. The parameters are part of the KSF id, and so
 * of the suite id, so a client and a vault with different parameters never mistake each other
 * (docs/PROTOCOL.md §Suites).
 *
 * @module
 */
import { BackupError } from '../../errors.js';
import { argon2id, intIn } from '../argon2/argon2id.js';
import type { Rfc9807Ksf } from './rfc9807-core.js';

export type { Rfc9807Ksf };

const SALT = new Uint8Array(16);

/** `@noble/hashes`' scryptAsync, once rfc9807-scrypt.ts has provided it. */
type ScryptAsync = (password: Uint8Array, salt: Uint8Array, opts: { N: number; r: number; p: number; dkLen: number }) => Promise<Uint8Array>;
let scryptImpl: ScryptAsync | undefined;

/** @internal Called by rfc9807-scrypt.ts when it is evaluated. */
export function provideScrypt(f: ScryptAsync): void {
  scryptImpl ??= f;
}

/** Argon2id parameters (RFC 9106 §3.1): memory in KiB, passes, lanes. */
export interface Argon2idParams {
  /** Memory in KiB (`m`), 2^14..2^21. */
  readonly m: number;
  /** Passes (`t`), 1..10. */
  readonly t: number;
  /** Lanes (`p`), 1..16. */
  readonly p: number;
}

/** scrypt parameters (RFC 7914 §2). */
export interface ScryptParams {
  /** CPU/memory cost `N`, a power of two, 2^14..2^20. */
  readonly N: number;
  /** Block size `r`, 1..32. */
  readonly r: number;
  /** Parallelism `p`, 1..16. */
  readonly p: number;
}

/**
 * Argon2id with the given parameters (salt: 16 zero bytes; output: Nh bytes). The bounds keep a
 * published suite id from asking a device for a uselessly weak or a crippling computation.
 *
 * @example
 * ```ts
 * const ksf = argon2idKsf({ m: 65536, t: 1, p: 1 }); // id 'argon2id-m65536-t1-p1'
 * ```
 */
export function argon2idKsf(params: Argon2idParams): Rfc9807Ksf {
  const m = intIn(params?.m, 1 << 14, 1 << 21, 'm');
  const t = intIn(params.t, 1, 10, 't');
  const p = intIn(params.p, 1, 16, 'p');
  return Object.freeze({
    id: `argon2id-m${m}-t${t}-p${p}`,
    stretch: (input: Uint8Array, dkLen: number) => argon2id(input, SALT, { m, t, p, dkLen }),
  });
}

/**
 * scrypt with the given parameters (salt: 16 zero bytes; output: Nh bytes).
 *
 * @example
 * ```ts
 * const ksf = scryptKsf({ N: 32768, r: 8, p: 1 }); // id 'scrypt-N32768-r8-p1'
 * ```
 */
export function scryptKsf(params: ScryptParams): Rfc9807Ksf {
  const N = intIn(params?.N, 1 << 14, 1 << 20, 'N');
  if ((N & (N - 1)) !== 0) throw new RangeError('N must be a power of two');
  const r = intIn(params.r, 1, 32, 'r');
  const p = intIn(params.p, 1, 16, 'p');
  if (128 * N * r > 2 ** 30) throw new RangeError('scrypt memory (128·N·r) must be at most 1 GiB');
  return Object.freeze({
    id: `scrypt-N${N}-r${r}-p${p}`,
    // The default suites run Argon2id: scrypt's code is provided by rfc9807-scrypt.ts (server
    // imports; `enableRfc9807Extras()` in a browser app), so the package entry does not carry it.
    stretch: async (input: Uint8Array, dkLen: number) => {
      if (scryptImpl === undefined) {
        throw new BackupError(
          'ENGINE_UNAVAILABLE',
          'scrypt is not in this bundle: call enableRfc9807Extras() from e2ee-backup/rfc9807-extras for a fleet naming a scrypt suite',
        );
      }
      return scryptImpl(input, SALT, { N, r, p, dkLen });
    },
  });
}

/**
 * @internal The identity KSF (RFC 9807 §2.3 "Identity"): NO stretching, as RFC 9807 Appendix C's
 * vectors use. For tests only: its id says so, and {@link parseKsf} refuses it.
 */
export const INSECURE_IDENTITY_KSF_9807: Rfc9807Ksf = Object.freeze({
  id: 'identity-INSECURE',
  stretch: async (input: Uint8Array) => Uint8Array.from(input),
});

const ARGON_RE = /^argon2id-m([0-9]{1,8})-t([0-9]{1,2})-p([0-9]{1,2})$/;
const SCRYPT_RE = /^scrypt-N([0-9]{1,8})-r([0-9]{1,2})-p([0-9]{1,2})$/;

/**
 * The KSF a KSF id names (`argon2id-m…-t…-p…` or `scrypt-N…-r…-p…`), within the bounds of
 * {@link argon2idKsf} and {@link scryptKsf}; `undefined` for anything else (including the
 * identity KSF).
 */
export function parseKsf(id: string): Rfc9807Ksf | undefined {
  try {
    return parseKsfOrThrow(id);
  } catch {
    return undefined; // out of bounds
  }
}

function parseKsfOrThrow(id: string): Rfc9807Ksf | undefined {
  let m = ARGON_RE.exec(id);
  if (m) {
    const k = argon2idKsf({ m: Number(m[1]), t: Number(m[2]), p: Number(m[3]) });
    return k.id === id ? k : undefined; // canonical digits only (no leading zeros)
  }
  m = SCRYPT_RE.exec(id);
  if (m) {
    const k = scryptKsf({ N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) });
    return k.id === id ? k : undefined;
  }
  return undefined;
}
