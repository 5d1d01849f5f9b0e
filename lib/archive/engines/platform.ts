/**
 * The engine the platform offers natively, in Node: OpenSSL's ChaCha20-Poly1305 through
 * `node:crypto` (found with `process.getBuiltinModule`, never imported statically).
 *
 * Browser bundles never see this file: package.json `"browser"` maps it to `platform.browser.ts`
 * (esbuild, Vite, webpack and Rollup's node-resolve honour that field for browser builds; Node
 * ignores it), so the Node engine is not in what a web app downloads (docs/SIZE.md). Node's choice
 * is unchanged: the native engine where OpenSSL has the cipher, else the pure-JS one.
 *
 * @module
 */
import type { CipherEngine } from '../engine.js';
import { createNodeEngine, nodeCryptoFromRuntime } from './node.js';

/** @internal The native engine of this runtime, if it has one. */
export function platformEngine(): CipherEngine | undefined {
  const nodeCrypto = nodeCryptoFromRuntime();
  return nodeCrypto === undefined ? undefined : createNodeEngine(nodeCrypto);
}
