// Where WebAssembly cannot run (a page whose CSP lacks 'wasm-unsafe-eval': WebAssembly.compile
// rejects with a CompileError, as Chromium's does), Argon2id, and so the default suite's KSF, runs
// the JavaScript compression and gives the same bytes. A file of its own: the compiled module (or
// the refusal) is cached per realm, so the refusal must come before the first compile.
import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { argon2id, argon2WasmModule } from '../../lib/recovery/argon2/argon2id.js';
import { argon2idKsf } from '../../lib/recovery/opaque/rfc9807-ksf.js';
import { toHex } from '../../lib/util/bytes.js';
import { errorOf } from '../support/errors.js';

let compiles = 0;

beforeAll(() => {
  vi.spyOn(WebAssembly, 'compile').mockImplementation(async () => {
    compiles++;
    throw new WebAssembly.CompileError("WebAssembly.compile(): Refused to compile or instantiate WebAssembly module because 'wasm-unsafe-eval' is not an allowed source of script");
  });
});

describe('Argon2id without WebAssembly', () => {
  it('the module is refused once and the refusal remembered', async () => {
    expect(await argon2WasmModule()).toBeUndefined();
    expect(await argon2WasmModule()).toBeUndefined();
    expect(compiles).toBe(1);
  });

  it("the default suite's KSF runs in JavaScript and gives noble's bytes", async () => {
    const input = Uint8Array.from({ length: 64 }, (_, i) => i);
    const salt = new Uint8Array(16);
    const ours = await argon2idKsf({ m: 1 << 14, t: 1, p: 1 }).stretch(input, 64);
    expect(toHex(ours)).toBe(toHex(nobleArgon2id(input, salt, { m: 1 << 14, t: 1, p: 1, dkLen: 64 })));
  });

  it("engine 'wasm' is ENGINE_UNAVAILABLE (the tests and the bench use it to know which ran)", async () => {
    const e = await errorOf(argon2id(new Uint8Array(8), new Uint8Array(16), { m: 32, t: 1, p: 1, dkLen: 32, engine: 'wasm' }));
    expect(isBackupError(e) ? e.code : e).toBe('ENGINE_UNAVAILABLE');
    expect(compiles).toBe(1);
  });
});
