/**
 * The engine the archive functions use when the caller passes none.
 *
 * @module
 */
import type { CipherEngine } from '../engine.js';
import { nobleEngine } from './noble.js';

/**
 * The default {@link CipherEngine}: pure JS (@noble/ciphers) everywhere for now.
 *
 * @example
 * ```ts
 * const engine = defaultEngine();
 * console.log(engine.name); // 'noble'
 * ```
 */
export function defaultEngine(): CipherEngine {
  return nobleEngine();
}
