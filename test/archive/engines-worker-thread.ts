/**
 * The pool's worker script for Node's worker_threads: the same handler as the browser's
 * chacha-worker.ts, bound to `parentPort` instead of `self`. Started by the engine tests with
 * `execArgv: ['--import', 'tsx']` so it runs from source.
 */
import { parentPort } from 'node:worker_threads';
import { loadLibsodium } from '../../lib/archive/engines/libsodium.js';
import { createWorkerHandler } from '../../lib/archive/engines/worker-core.js';

const port = parentPort!;
const handle = createWorkerHandler(loadLibsodium);
port.on('message', (message: unknown) => {
  void handle(message).then(({ response, transfer }) => port.postMessage(response, transfer));
});
