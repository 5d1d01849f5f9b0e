/**
 * The engine the archive functions use when the caller passes none.
 *
 * In Node (≥ 20.16, with an OpenSSL that has ChaCha20-Poly1305) that is the native engine; in
 * browsers and workers, the pure-JS one. Both give the same bytes (docs/ENGINES.md). The
 * choice is made without any static `node:` import (`process.getBuiltinModule`), and browser
 * bundles do not contain the Node engine at all (package.json `"browser"` maps `platform.ts` to
 * `platform.browser.ts`); `scripts/size.ts` checks both.
 *
 * @module
 */
import type { CipherEngine } from '../engine.js';
import { nobleEngine } from './noble.js';
// Browser bundles get platform.browser.ts instead (package.json "browser"): no Node engine in them.
import { platformEngine } from './platform.js';

let chosen: CipherEngine | undefined;

/**
 * The default {@link CipherEngine}: `node` (native ChaCha20-Poly1305) in Node, `noble` (pure JS)
 * elsewhere. Chosen once per realm; the engine is stateless, so the one instance is shared.
 *
 * @example
 * ```ts
 * const engine = defaultEngine();
 * console.log(engine.name); // 'node' in Node, 'noble' in a browser
 * ```
 */
export function defaultEngine(): CipherEngine {
  if (chosen === undefined) {
    chosen = platformEngine() ?? nobleEngine();
  }
  return chosen;
}
