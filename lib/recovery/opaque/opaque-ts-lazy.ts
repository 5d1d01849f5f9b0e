/**
 * The default OPAQUE suite as the browser entry exposes it: the same suite as `opaque-ts.ts`
 * (`opaque-ts/P256-SHA256-scrypt/v1`, byte for byte), with its
 * implementation (`@cloudflare/opaque-ts`, `@cloudflare/voprf-ts` and its sjcl, the P-256 group
 * on `@noble/curves`, scrypt) fetched by a dynamic `import()` the first time an operation needs
 * it. A nightly backup with a cached keyring never runs OPAQUE, so an app's first download does
 * not carry it; enabling backups, restoring on a new device and changing the code do
 * (docs/SIZE.md).
 *
 * - Client operations (`startRegistration`, `startLogin`) and `generateServerSetup` are async
 *   already: they wait for the module, then run exactly as the eager suite does.
 * - A failed load (the chunk could not be fetched) is `BackupError('ENGINE_UNAVAILABLE')`; the
 *   next call tries again.
 * - `setupPublicKey` needs no library. `server()` is synchronous, so it needs the implementation
 *   already in memory: it is whenever `e2ee-backup/server` (whose vault imports it statically)
 *   or any earlier operation of this suite has loaded it; otherwise it throws
 *   `ENGINE_UNAVAILABLE` with what to do. Vaults run the server entry, never this one.
 *
 * @module
 */
import { BackupError } from '../../errors.js';
import { abytes } from '../../util/bytes.js';
import type { OpaqueBinding } from '../protocol.js';
import type { OpaqueKeyAgreement, OpaqueLoginStart, OpaqueRegistrationStart, OpaqueServer, OpaqueSuite } from './suite.js';

import { OPAQUE_TS_SUITE_ID } from './opaque-ts-id.js';

export { OPAQUE_TS_SUITE_ID };

/** @internal Serialized server setup: OPRF seed(32) ‖ AKE private key(32) ‖ AKE public key(33). */
export const SETUP_LAYOUT = Object.freeze({ seed: 32, privateKey: 32, publicKey: 33 });
const SETUP_BYTES = SETUP_LAYOUT.seed + SETUP_LAYOUT.privateKey + SETUP_LAYOUT.publicKey;

/** Makes the eager scrypt suite; set once the implementation module has been evaluated. */
let factory: (() => OpaqueSuite) | undefined;
let loading: Promise<() => OpaqueSuite> | undefined;

/**
 * @internal Called by `opaque-ts.ts` when it is evaluated (statically by the server and testing
 * entries, or through {@link loadOpaqueTs}), so a synchronous `server()` works wherever the
 * implementation is in memory.
 */
export function provideOpaqueTs(make: () => OpaqueSuite): void {
  factory ??= make;
}

/** @internal Load the implementation module once; a failed load is retried by the next call. */
export function loadOpaqueTs(): Promise<() => OpaqueSuite> {
  if (factory !== undefined) return Promise.resolve(factory);
  loading ??= import('./opaque-ts.js').then(
    (m) => {
      factory ??= m.opaqueTsSuite;
      return factory;
    },
    (e: unknown) => {
      loading = undefined;
      throw new BackupError('ENGINE_UNAVAILABLE', 'the OPAQUE implementation could not be loaded', { cause: e });
    },
  );
  return loading;
}

class LazyOpaqueTsSuite implements OpaqueSuite {
  readonly id = OPAQUE_TS_SUITE_ID;
  #inner: OpaqueSuite | undefined;

  async #load(): Promise<OpaqueSuite> {
    if (this.#inner === undefined) {
      const make = await loadOpaqueTs();
      this.#inner ??= make();
    }
    return this.#inner;
  }

  async startRegistration(password: Uint8Array): Promise<OpaqueRegistrationStart> {
    return (await this.#load()).startRegistration(password);
  }

  async startLogin(password: Uint8Array): Promise<OpaqueLoginStart> {
    return (await this.#load()).startLogin(password);
  }

  async generateServerSetup(): Promise<Uint8Array> {
    return (await this.#load()).generateServerSetup();
  }

  async keyAgreement(): Promise<OpaqueKeyAgreement> {
    return (await this.#load()).keyAgreement();
  }

  setupPublicKey(setup: Uint8Array): Uint8Array {
    // The same checks and bytes as the eager suite: the key is the last 33 bytes.
    abytes(setup, 'setup', SETUP_BYTES);
    return setup.slice(SETUP_LAYOUT.seed + SETUP_LAYOUT.privateKey);
  }

  server(setup: Uint8Array, binding: Pick<OpaqueBinding, 'serverIdentity'>): OpaqueServer {
    if (this.#inner === undefined && factory !== undefined) this.#inner = factory();
    if (this.#inner === undefined) {
      throw new BackupError(
        'ENGINE_UNAVAILABLE',
        'the OPAQUE implementation is not loaded yet: use the e2ee-backup/server entry, or await generateServerSetup() first',
      );
    }
    return this.#inner.server(setup, binding);
  }
}

/**
 * The default OPAQUE suite: opaque-ts, P-256, SHA-256, scrypt (`opaque-ts/P256-SHA256-scrypt/v1`).
 * Its implementation is loaded on first use (a separate chunk in a bundled app).
 *
 * @example
 * ```ts
 * const suite = opaqueTsSuite();
 * const vault = createVaultClient({ fleetId, accountId, baseUrl, fetch, getToken, trust, suite });
 * ```
 */
export function opaqueTsSuite(): OpaqueSuite {
  return new LazyOpaqueTsSuite();
}
