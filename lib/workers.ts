/**
 * The worker pool (docs/ENGINES.md): a `CipherEngine` (from the package entry) that seals and
 * opens archive chunks in Web Workers, on several cores, so a multi-GB backup or restore never
 * stalls the page. A browser app passes it to the client as `engine`; without one, backups and
 * restores run the default engine on the page's main thread (its streams yield, but the work
 * competes with the page). The package entry does not carry the pool, so an app that does not use
 * it does not download it (docs/SIZE.md).
 *
 * The worker script itself is `e2ee-backup/engines/worker`: bundlers that understand
 * `new Worker(new URL(…, import.meta.url))` (Vite, webpack 5, Parcel) pick it up on their own.
 *
 * @example
 * ```ts
 * const engine = createWorkerEngine({ workers: 2 });
 * const client = createBackupClient({ accountId: 'alice', vault, store, storage: kv, engine });
 * ```
 *
 * @packageDocumentation
 */
export { createWorkerEngine } from './archive/engines/workers.js';
export type { WorkerEngine, WorkerEngineOptions, WorkerLike, WorkerCipherKind } from './archive/engines/workers.js';
