/**
 * `platform.ts` for browser bundles (package.json `"browser"`): browsers and workers have no native
 * XChaCha20-Poly1305 (WebCrypto offers none), so the default engine is the pure-JS one there.
 *
 * @module
 */
import type { CipherEngine } from '../engine.js';

/** @internal No native engine in a browser. */
export function platformEngine(): CipherEngine | undefined {
  return undefined;
}
