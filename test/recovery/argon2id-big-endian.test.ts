// On a big-endian host (Node on s390x or AIX) a Uint32Array is in the host's byte order, while
// WebAssembly's memory and RFC 9106's blocks are little-endian: argon2id.ts's driver reads J1 and
// J2 and writes the address input block through such a view on BOTH paths, not only in the
// JavaScript fallback, so either would compute a different key there, silently. The call must
// fail with ENGINE_UNAVAILABLE instead (docs/THREAT-MODEL.md §6.6: "never with a different key").
// A file of its own: the host's byte order is read once, when the module is evaluated.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import type * as Argon2 from '../../lib/recovery/argon2/argon2id.js';
import { errorOf } from '../support/errors.js';

let mod: typeof Argon2;

beforeAll(async () => {
  // What argon2id.ts's check sees on a big-endian host: Uint32Array.of(1) stored as 00 00 00 01.
  const of = vi.spyOn(Uint32Array, 'of').mockImplementation((...items: number[]) => {
    const a = new Uint32Array(items);
    const v = new DataView(a.buffer);
    for (let i = 0; i < a.length; i++) v.setUint32(4 * i, items[i]!, false);
    return a;
  });
  vi.resetModules();
  mod = await import('../../lib/recovery/argon2/argon2id.js');
  of.mockRestore();
});
afterAll(() => vi.resetModules());

describe('Argon2id on a big-endian host', () => {
  for (const engine of ['auto', 'wasm', 'js'] as const) {
    it(`refuses (${engine}) rather than return a key no other host computes`, async () => {
      const e = await errorOf(mod.argon2id(new Uint8Array(8), new Uint8Array(16), { m: 32, t: 1, p: 1, dkLen: 32, engine }));
      expect(isBackupError(e) ? e.code : e).toBe('ENGINE_UNAVAILABLE');
    });
  }
});
