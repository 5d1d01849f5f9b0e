/**
 * The Web Worker script of the worker pool (`createWorkerEngine`). Load it as a module worker:
 * `new Worker(new URL('./chacha-worker.js', import.meta.url), { type: 'module' })`, which is
 * what the pool does by default and what Vite, webpack 5 and Parcel bundle on their own. With
 * another bundler, build this file as its own entry and pass its URL as `workerUrl`.
 *
 * @module
 * @internal
 */
import { loadLibsodium } from './libsodium.js';
import { createWorkerHandler } from './worker-core.js';

/** The part of a DedicatedWorkerGlobalScope the script uses (tsconfig has no WebWorker lib). */
interface WorkerScope {
  addEventListener(type: 'message', listener: (event: MessageEvent<unknown>) => void): void;
  postMessage(message: unknown, transfer: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;
const handle = createWorkerHandler(loadLibsodium);

scope.addEventListener('message', (event) => {
  void handle(event.data).then(({ response, transfer }) => scope.postMessage(response, transfer));
});
