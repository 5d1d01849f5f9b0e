// The WebAssembly in lib/recovery/argon2/compress-wasm.ts comes from its source: scripts/argon2-wasm.ts's
// WebAssembly text, compiled again here by wabt (devDependency, exact version), must give the
// committed file byte for byte. After a change to the source: npx tsx scripts/argon2-wasm.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMPRESS_WASM_BASE64 } from '../../lib/recovery/argon2/compress-wasm.js';
import { fromBase64 } from '../../lib/util/bytes.js';
import { GENERATED, generatedModule, wasmModuleBytes } from '../../scripts/argon2-wasm.js';

describe('compress-wasm.ts', () => {
  it('is scripts/argon2-wasm.ts compiled by wabt, byte for byte', async () => {
    const bytes = await wasmModuleBytes();
    expect(readFileSync(GENERATED, 'utf8')).toBe(generatedModule(bytes));
    expect(fromBase64(COMPRESS_WASM_BASE64)).toEqual(bytes);
  });

  it('imports only its memory and exports only the compression function; no start function, MVP features', async () => {
    const module = await WebAssembly.compile(fromBase64(COMPRESS_WASM_BASE64));
    expect(WebAssembly.Module.imports(module)).toEqual([{ module: 'e', name: 'm', kind: 'memory' }]);
    expect(WebAssembly.Module.exports(module)).toEqual([{ name: 'c', kind: 'function' }]);
    const bytes = fromBase64(COMPRESS_WASM_BASE64);
    // Section ids in order: no start section (8), no data (11) or element (9) sections.
    const ids: number[] = [];
    for (let i = 8; i < bytes.length; ) {
      ids.push(bytes[i]!);
      let size = 0;
      let shift = 0;
      let b: number;
      i++;
      do {
        b = bytes[i++]!;
        size |= (b & 0x7f) << shift;
        shift += 7;
      } while (b & 0x80);
      i += size;
    }
    expect(ids).toEqual([1, 2, 3, 7, 10]); // type, import, function, export, code
    // Small enough for the size budget (docs/SIZE.md), and under Chromium's 4 KB limit on a synchronous compile anyway.
    expect(bytes.length).toBeLessThan(2048);
  });
});
