/**
 * In-page code for the Chromium benchmarks and the browser engine test, bundled by esbuild
 * (bench/browser/harness.ts) together with the worker script. Exposes `globalThis.e2eeBench`.
 * The worker pool is created with its default worker URL, `new URL('./chacha-worker.js',
 * import.meta.url)`, so the default path is what runs here.
 */
import { createEncryptStream, createDecryptStream, createRecyclingEncryptStream } from '../../lib/archive/stream.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { encryptArchive, decryptArchive } from '../../lib/archive/archive.js';
import { defaultEngine } from '../../lib/archive/engines/default.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { createWorkerEngine, type WorkerEngine } from '../../lib/archive/engines/workers.js';
import { openArchive } from '../../lib/archive/random-access.js';
import { chunkNonceTail, type CipherEngine } from '../../lib/archive/engine.js';
import { copyBytes, equalBytes } from '../../lib/util/bytes.js';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

/** Engine configurations the harness asks for. */
export type EngineChoice = 'default' | 'libsodium' | 'workers-noble' | 'workers-libsodium' | 'workers-echo';

/**
 * A worker that answers every batch without crypto: the buffer goes straight back with every entry
 * marked done (results stay in place, as the real worker leaves them: worker-core.ts). The pool's
 * cost on the main thread with free crypto, i.e. the fastest any worker engine could stream here.
 */
const ECHO_WORKER = `onmessage = (e) => {
  const m = e.data;
  if (m.op === 'init') { postMessage({ id: m.id, ok: true }); return; }
  m.meta.fill(0, 0, 32);
  postMessage({ id: m.id, ok: new Uint8Array(m.n).fill(1), data: m.data }, [m.data.buffer]);
};`;

/** One 1 MiB random piece, reused: contents do not change the cipher's speed. */
function piece(): Uint8Array {
  const p = new Uint8Array(MiB);
  for (let i = 0; i < MiB; i += 65536) crypto.getRandomValues(p.subarray(i, i + 65536));
  return p;
}

function source(mib: number, p: Uint8Array): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i++ < mib) c.enqueue(p);
      else c.close();
    },
  });
}

async function engineFor(choice: EngineChoice, workers: number, perWorker = 2): Promise<{ engine: CipherEngine; done: () => void }> {
  if (choice === 'default') return { engine: defaultEngine(), done: () => undefined };
  if (choice === 'libsodium') {
    const { createLibsodiumEngine } = await import('../../lib/archive/engines/libsodium.js');
    return { engine: await createLibsodiumEngine(), done: () => undefined };
  }
  // Pools are kept for the page's lifetime, as an app would keep one: their workers stay warm
  // (JIT-compiled, WASM instantiated) from one measurement to the next.
  const id = `${choice}/${workers}/${perWorker}`;
  let pool = pools.get(id);
  if (pool === undefined) {
    const echo = URL.createObjectURL(new Blob([ECHO_WORKER], { type: 'text/javascript' }));
    pool = createWorkerEngine({
      workers,
      perWorker,
      engine: choice === 'workers-libsodium' ? 'libsodium' : 'noble',
      ...(choice === 'workers-echo' ? { createWorker: () => new Worker(echo) } : {}),
    });
    pools.set(id, pool);
  }
  await pool.ready();
  return { engine: pool, done: () => undefined };
}

const pools = new Map<string, WorkerEngine>();

/** Terminate every pool the page made. */
function shutdown(): void {
  for (const p of pools.values()) p.terminate();
  pools.clear();
}

/**
 * Milliseconds to encrypt `mib` MiB through createEncryptStream with the chosen engine (or, with
 * `recycle`, through the recycling stream the backup uses: sealed chunks in reused buffers).
 */
async function encryptMs(choice: EngineChoice, workers: number, mib: number, perWorker = 2, chunkSize = CHUNK, recycle = false): Promise<number> {
  const { engine, done } = await engineFor(choice, workers, perWorker);
  try {
    const p = piece();
    let out = 0;
    const t0 = performance.now();
    const make = recycle ? createRecyclingEncryptStream : createEncryptStream;
    // A reader that is done with each chunk when it reads the next (the recycling contract).
    const reader = source(mib, p)
      .pipeThrough(make(new Uint8Array(32).fill(1), new Uint8Array(16), { engine, chunkSize }))
      .getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) out += r.value.length;
    const ms = performance.now() - t0;
    if (out < mib * MiB) throw new Error('short output');
    return ms;
  } finally {
    done();
  }
}

/** The library each single-threaded engine is built on, for {@link libraryMs}. */
export type Library = 'noble' | 'libsodium';

/**
 * The library alone, writing into reused buffers: `mib` MiB in 64 KiB chunks sealed with plain
 * ChaCha20-Poly1305 (what each engine runs per chunk), no archive, no stream. noble:
 * `chacha20poly1305(key, nonce, aad).encrypt(chunk, out)` into one reused `out`. libsodium: its raw
 * Emscripten module on one region of the WASM heap allocated once, each chunk copied in, sealed in
 * place and copied out into one reused buffer (`inHeapOnly`: no copies, the data stays in the heap).
 */
async function libraryMs(lib: Library, mib: number, inHeapOnly = false): Promise<number> {
  const p = piece();
  const key = new Uint8Array(32).fill(3);
  const nonce = new Uint8Array(12);
  const aad = new Uint8Array(64).fill(5);
  const out = new Uint8Array(CHUNK + 16);
  const chunks = (mib * MiB) / CHUNK;
  if (lib === 'noble') {
    const t0 = performance.now();
    for (let i = 0; i < chunks; i++) {
      new DataView(nonce.buffer).setUint32(8, i);
      const off = (i * CHUNK) % MiB;
      chacha20poly1305(key, nonce, aad).encrypt(p.subarray(off, off + CHUNK), out);
    }
    return performance.now() - t0;
  }
  const sodium = (await import('libsodium-wrappers')).default;
  await sodium.ready;
  const mod = (sodium as unknown as { libsodium: { HEAPU8: Uint8Array; _malloc(n: number): number; _free(p: number): void; _crypto_aead_chacha20poly1305_ietf_encrypt(...a: number[]): number } }).libsodium;
  const k = mod._malloc(32 + 12 + aad.length + CHUNK + 16);
  const npub = k + 32;
  const ad = npub + 12;
  const d = ad + aad.length;
  mod.HEAPU8.set(key, k);
  mod.HEAPU8.set(aad, ad);
  if (inHeapOnly) mod.HEAPU8.set(p.subarray(0, CHUNK), d);
  const t0 = performance.now();
  for (let i = 0; i < chunks; i++) {
    const heap = mod.HEAPU8;
    heap[npub + 11] = i & 0xff;
    heap[npub + 10] = (i >>> 8) & 0xff;
    const off = (i * CHUNK) % MiB;
    if (!inHeapOnly) heap.set(p.subarray(off, off + CHUNK), d);
    mod._crypto_aead_chacha20poly1305_ietf_encrypt(d, 0, d, CHUNK, 0, ad, aad.length, 0, 0, npub, k);
    if (!inHeapOnly) out.set(heap.subarray(d, d + CHUNK + 16));
  }
  const ms = performance.now() - t0;
  mod.HEAPU8.fill(0, k, d + CHUNK + 16);
  mod._free(k);
  return ms;
}

/** Milliseconds for libsodium-wrappers' crypto_secretstream_xchacha20poly1305 over `mib` MiB in 64 KiB messages. */
async function secretstreamMs(mib: number): Promise<number> {
  const sodium = (await import('libsodium-wrappers')).default;
  await sodium.ready;
  const p = piece();
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const t0 = performance.now();
  const { state } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  let out = 0;
  const chunks = (mib * MiB) / CHUNK;
  for (let i = 0; i < chunks; i++) {
    const off = (i * CHUNK) % MiB;
    const tag = i === chunks - 1 ? sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL : sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    out += sodium.crypto_secretstream_xchacha20poly1305_push(state, p.subarray(off, off + CHUNK), null, tag).length;
  }
  const ms = performance.now() - t0;
  if (out < mib * MiB) throw new Error('short output');
  return ms;
}

/** Longest main-thread task (PerformanceObserver 'longtask', ≥ 50 ms by definition) while encrypting. */
async function longestTask(choice: EngineChoice, workers: number, mib: number): Promise<{ maxMs: number; count: number; ms: number }> {
  const durations: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) durations.push(e.duration);
  });
  obs.observe({ type: 'longtask', buffered: false });
  const ms = await encryptMs(choice, workers, mib);
  await new Promise((r) => setTimeout(r, 100));
  obs.disconnect();
  return { maxMs: durations.length ? Math.max(...durations) : 0, count: durations.length, ms };
}

/**
 * Equivalence in the browser: archives from the worker pool (noble and libsodium inside) and
 * from the single-threaded engines are byte-identical, and each decrypts the others.
 */
async function equivalence(): Promise<Record<string, unknown>> {
  const key = new Uint8Array(32).map((_, i) => i * 7);
  const random = (n: number): Uint8Array => new Uint8Array(n).fill(0x42);
  const plain = piece().subarray(0, 300_000 + 123);
  const reference = await encryptArchive(key, new Uint8Array(16), plain, { engine: nobleEngine(), chunkSize: 4096, random });
  // A pool with the defaults (noble inside, what `createWorkerEngine()` gives an app) reads a window right.
  const pool = createWorkerEngine();
  let poolRead: boolean;
  try {
    await pool.ready();
    const src = piece().subarray(0, 300_000);
    const archive = await encryptArchive(key, new Uint8Array(16), src, { chunkSize: 4096, random });
    const reader = await openArchive({ size: archive.length, readAt: async (o, n) => archive.subarray(o, o + n), key, engine: pool });
    const got = await reader.read(1000, 200_000);
    poolRead = equalBytes(got, src.subarray(1000, 201_000));
    reader.close();
  } finally {
    pool.terminate();
  }
  const out: Record<string, unknown> = { defaultEngine: defaultEngine().name, workerDefined: typeof Worker, pool: pool.name, poolRead };
  for (const choice of ['libsodium', 'workers-noble', 'workers-libsodium'] as const) {
    const { engine, done } = await engineFor(choice, 2);
    try {
      const archive = await encryptArchive(key, new Uint8Array(16), plain, { engine, chunkSize: 4096, random });
      const back = await decryptArchive(key, reference, { engine });
      const tampered = reference.slice();
      tampered[tampered.length - 40]! ^= 1;
      let tamperCode = 'none';
      try {
        await decryptArchive(key, tampered, { engine });
      } catch (e) {
        tamperCode = (e as { code?: string }).code ?? String(e);
      }
      // Streaming decrypt through the same engine, piece by piece.
      let streamed = 0;
      await new Blob([copyBytes(reference)]).stream()
        .pipeThrough(createDecryptStream(key, { engine }))
        .pipeTo(new WritableStream({ write: (c) => void (streamed += c.length) }));
      out[choice] = {
        sameBytes: equalBytes(archive, reference),
        decrypts: equalBytes(back, plain),
        tamperCode,
        streamed,
      };
    } finally {
      done();
    }
  }
  return out;
}

/**
 * Engine-level throughput without the archive stream: `chunks` seals of `size` bytes with up to
 * `window` in flight. Separates the pool's own cost from the stream's.
 */
async function sealLoopMs(choice: EngineChoice, workers: number, size: number, chunks: number, window: number): Promise<number> {
  const { engine, done } = await engineFor(choice, workers);
  try {
    const p = piece().subarray(0, size);
    const cipher = engine.create(new Uint8Array(32), new Uint8Array(16));
    const aad = new Uint8Array(100);
    const inflight: (Uint8Array | Promise<Uint8Array>)[] = [];
    const t0 = performance.now();
    for (let i = 0; i < chunks; i++) {
      inflight.push(cipher.seal(chunkNonceTail(i, i === chunks - 1), p, aad));
      if (inflight.length >= window) await inflight.shift();
    }
    await Promise.all(inflight);
    return performance.now() - t0;
  } finally {
    done();
  }
}

/** The page API the harness calls through `page.evaluate`. */
export const api = { encryptMs, secretstreamMs, libraryMs, longestTask, equivalence, sealLoopMs, shutdown };
(globalThis as unknown as { e2eeBench: typeof api }).e2eeBench = api;
