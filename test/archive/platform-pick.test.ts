// Review of 9bf905a (package.json "browser" maps engines/platform.ts to platform.browser.ts). As an
// attacker on the build or the runtime: a bundler that ignores the field (platform neutral), a Web
// Worker (no `process`), a jsdom-like global (`process` without getBuiltinModule), a Deno/Bun-like
// runtime (getBuiltinModule with node:crypto). Whichever file a bundle gets, the default engine is
// a real one: it seals under the key given, to the same bytes as noble (no weaker or zero-key path).
import { build, type Platform } from 'esbuild';
import { fileURLToPath } from 'node:url';
import * as nodeCrypto from 'node:crypto';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { nobleEngine } from '../../lib/archive/engines/noble.js';

const entry = fileURLToPath(new URL('../../lib/archive/engines/default.ts', import.meta.url));

async function bundle(platform: Platform): Promise<string> {
  const out = await build({ entryPoints: [entry], bundle: true, platform, format: 'iife', globalName: 'lib', write: false, logLevel: 'silent' });
  return out.outputFiles[0]!.text;
}

// Run inside the context (its own realm: the engine checks instanceof Uint8Array there).
const probe = `
  const e = lib.defaultEngine();
  const key = new Uint8Array(32).map((_, i) => i + 1);
  const prefix = new Uint8Array(16).fill(9);
  const tail = new Uint8Array(8); tail[7] = 1;
  const c = e.create(key, prefix);
  const out = c.seal(tail, new Uint8Array(100).fill(0x41), new Uint8Array(3).fill(2));
  ({ name: e.name, hex: Array.from(out, (x) => x.toString(16).padStart(2, '0')).join('') });
`;

function expected(): string {
  const key = new Uint8Array(32).map((_, i) => i + 1);
  const tail = new Uint8Array(8);
  tail[7] = 1;
  const out = nobleEngine().create(key, new Uint8Array(16).fill(9)).seal(tail, new Uint8Array(100).fill(0x41), new Uint8Array(3).fill(2)) as Uint8Array;
  return Buffer.from(out).toString('hex');
}

function run(code: string, globals: Record<string, unknown>): { name: string; hex: string } {
  // What every realm of interest has (browsers, workers, jsdom, Deno, Bun); no `process` unless given.
  const ctx = vm.createContext({ TextEncoder, TextDecoder, crypto: globalThis.crypto, setTimeout, clearTimeout, queueMicrotask, ...globals });
  vm.runInContext(code, ctx);
  return vm.runInContext(probe, ctx) as { name: string; hex: string };
}

describe('the default engine whichever platform file a bundle gets (9bf905a)', () => {
  const cases: [string, Platform, Record<string, unknown>, string][] = [
    ['browser bundle in a Web Worker-like realm (no process)', 'browser', {}, 'noble'],
    ['a bundler that ignores "browser" (neutral), in a realm with no process', 'neutral', {}, 'noble'],
    ['a Node-platform bundle under a jsdom-like process (no getBuiltinModule)', 'node', { process: { env: {} } }, 'noble'],
    ['a Node-platform bundle in a Deno/Bun-like runtime (getBuiltinModule gives node:crypto)', 'node', { process: { getBuiltinModule: (id: string) => (id === 'node:crypto' ? nodeCrypto : undefined) } }, 'node'],
    ['a browser bundle in a Deno/Bun-like runtime', 'browser', { process: { getBuiltinModule: () => nodeCrypto } }, 'noble'],
  ];
  for (const [name, platform, globals, engine] of cases) {
    it(`${name}: '${engine}', sealing to noble's bytes under the key given`, async () => {
      const r = run(await bundle(platform), globals);
      expect(r.name).toBe(engine);
      expect(r.hex).toBe(expected());
    });
  }
});
