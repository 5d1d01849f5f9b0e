/**
 * Test support for the engine tests: Wycheproof loading, and the worker pool on Node's
 * worker_threads (the browser worker script's handler, bundled by esbuild and bound to
 * `parentPort` by engines-worker-thread.ts).
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import { fromHex } from '../../lib/util/bytes.js';
import type { WorkerLike } from '../../lib/archive/engines/workers.js';
import { sharedVector } from '../support/shared-vectors.js';

export interface AeadVector {
  readonly tcId: number;
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
  readonly aad: Uint8Array;
  readonly msg: Uint8Array;
  readonly ct: Uint8Array;
  readonly tag: Uint8Array;
  readonly result: 'valid' | 'invalid' | 'acceptable';
}

/** The Wycheproof AEAD vectors of one file, as they are in test/vectors/wycheproof. */
export function wycheproofAead(file: string): AeadVector[] {
  const path = sharedVector('wycheproof', file);
  const json = JSON.parse(readFileSync(path, 'utf8')) as {
    testGroups: { tests: { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: AeadVector['result'] }[] }[];
  };
  return json.testGroups.flatMap((g) =>
    g.tests.map((t) => ({
      tcId: t.tcId,
      key: fromHex(t.key),
      iv: fromHex(t.iv),
      aad: fromHex(t.aad),
      msg: fromHex(t.msg),
      ct: fromHex(t.ct),
      tag: fromHex(t.tag),
      result: t.result,
    })),
  );
}

/** Adapt a node:worker_threads Worker to the pool's WorkerLike. */
export function adaptNodeWorker(w: Worker): WorkerLike {
  return {
    postMessage: (message, transfer) => w.postMessage(message, transfer as ArrayBuffer[]),
    addEventListener: (type, listener) => {
      if (type === 'message') w.on('message', (data: unknown) => listener({ data }));
      else if (type === 'error') w.on('error', () => listener({}));
      else w.on('messageerror', () => listener({}));
    },
    terminate: () => void w.terminate(),
  };
}

/** Bundle the worker_threads twin of the browser worker script; returns a WorkerLike factory and a cleanup. */
export async function nodeWorkerFactory(): Promise<{ make: () => WorkerLike; script: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-engines-'));
  const script = join(dir, 'worker.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./engines-worker-thread.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: script,
    logLevel: 'error',
  });
  return {
    make: () => adaptNodeWorker(new Worker(script)),
    script,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
