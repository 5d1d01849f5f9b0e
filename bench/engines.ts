/**
 * Engine benchmarks (`npm run bench:engines`). Every ratio compares two runs made in this same
 * process, interleaved, so noise from other work on the machine hits both sides alike.
 *
 * Node:
 *   ratio: SDK streaming encrypt (createEncryptStream, default engine = node:crypto) vs raw
 *          node:crypto chacha20-poly1305 over the same 64 KiB chunks (target ≥ 0.8).
 * Chromium (headless, playwright-core, pages from 127.0.0.1; see bench/browser/):
 *   ratio: default engine in 2 workers vs the default engine single-threaded (target ≥ 1.4);
 *   ratio: libsodium engine in workers vs libsodium-wrappers crypto_secretstream single-threaded
 *          (target ≥ 1.5);
 *   longest main-thread task (PerformanceObserver 'longtask') during a 256 MiB encryption with
 *   the worker engine (target < 50 ms).
 *
 *   ratio: each single-threaded engine (noble, libsodium) through the backup's recycling stream vs
 *          its library writing into reused buffers (target ≥ 0.8); --library-only runs just these.
 *
 * Flags: --node-only, --browser-only, --library-only, --mib=N (Node data per round, default 32), --rounds=N (Node default 9,
 * Chromium default 5). The load average is printed at the start, between the parts and at the end.
 */
import * as nodeCrypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createEncryptStream } from '../lib/archive/stream.js';
import { defaultEngine } from '../lib/archive/engines/default.js';
import { nobleEngine } from '../lib/archive/engines/noble.js';
import { createLibsodiumEngine } from '../lib/archive/engines/libsodium.js';
import type { CipherEngine } from '../lib/archive/engine.js';
import { createWorkerEngine } from '../lib/archive/engines/workers.js';
import { chunkNonceTail } from '../lib/archive/engine.js';
import { nodeWorkerFactory } from '../test/archive/engines-support.js';
import { engineVsLibrary, openBrowserSession, runBrowserBench } from './browser/harness.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'] as const;
  }),
);
const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function mbps(bytes: number, ms: number): string {
  return `${((bytes / MiB) / (ms / 1000)).toFixed(0)} MiB/s`;
}

/** SDK path: the whole plaintext through createEncryptStream, as an app would pipe a file. */
async function sdkEncrypt(engine: CipherEngine, pieces: Uint8Array[], key: Uint8Array): Promise<number> {
  let out = 0;
  const t0 = performance.now();
  let i = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < pieces.length) c.enqueue(pieces[i++]!);
      else c.close();
    },
  });
  await source.pipeThrough(createEncryptStream(key, new Uint8Array(16), { engine })).pipeTo(
    new WritableStream({
      write(chunk) {
        out += chunk.length;
      },
    }),
  );
  const ms = performance.now() - t0;
  if (out < pieces.reduce((n, p) => n + p.length, 0)) throw new Error('short output');
  return ms;
}

/**
 * Reference: raw node:crypto over the same 64 KiB chunks, same nonce layout, same AAD size.
 * With `contiguous`, each chunk's ciphertext and tag are also copied into one fresh ct ‖ tag
 * array, which is what `ChunkCipher.seal` returns (the archive layer uses `sealParts` instead).
 */
function rawNode(pieces: Uint8Array[], subkey: Uint8Array, contiguous = false): number {
  const iv = new Uint8Array(12);
  const aad = new Uint8Array(100);
  let sink = 0;
  const t0 = performance.now();
  let counter = 0;
  for (const piece of pieces) {
    for (let off = 0; off < piece.length; off += CHUNK) {
      iv[11] = counter++ & 0xff;
      const c = nodeCrypto.createCipheriv('chacha20-poly1305', subkey, iv, { authTagLength: 16 });
      c.setAAD(aad, { plaintextLength: Math.min(CHUNK, piece.length - off) });
      const ct = c.update(piece.subarray(off, off + CHUNK));
      c.final();
      const tag = c.getAuthTag();
      if (contiguous) {
        const out = new Uint8Array(ct.length + 16);
        out.set(ct);
        out.set(tag, ct.length);
        sink += out.length;
      } else {
        sink += ct.length + tag.length;
      }
    }
  }
  const ms = performance.now() - t0;
  if (sink === 0) throw new Error('unreachable');
  return ms;
}

/** CPU time (user + system) of this process, in ms: immune to waiting for a core on a busy machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function nodeBench(): Promise<void> {
  const mib = Number(args.get('mib') ?? 32);
  const rounds = Number(args.get('rounds') ?? 9);
  const total = mib * MiB;
  // 1 MiB pieces, as a file stream would deliver them.
  const pieces = Array.from({ length: mib }, () => nodeCrypto.randomBytes(MiB));
  const key = nodeCrypto.randomBytes(32);
  const subkey = nodeCrypto.randomBytes(32);
  const engine = defaultEngine();
  console.log(`node ${process.version}, ${mib} MiB in 64 KiB chunks, ${rounds} paired rounds (raw then SDK), medians; default engine = ${engine.name}`);
  await sdkEncrypt(engine, pieces.slice(0, 8), key); // warm-up
  rawNode(pieces.slice(0, 8), subkey);
  const wall: { raw: number; sdk: number; contiguous: number }[] = [];
  const cpu: { raw: number; sdk: number; contiguous: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    let c0 = cpuMs();
    const rawMs = rawNode(pieces, subkey);
    const rawCpu = cpuMs() - c0;
    c0 = cpuMs();
    const sdkMs = await sdkEncrypt(engine, pieces, key);
    const sdkCpu = cpuMs() - c0;
    c0 = cpuMs();
    const contMs = rawNode(pieces, subkey, true);
    const contCpu = cpuMs() - c0;
    wall.push({ raw: rawMs, sdk: sdkMs, contiguous: contMs });
    cpu.push({ raw: rawCpu, sdk: sdkCpu, contiguous: contCpu });
  }
  const rawWall = median(wall.map((w) => w.raw));
  const sdkWall = median(wall.map((w) => w.sdk));
  console.log(`node raw node:crypto chacha20-poly1305: ${mbps(total, rawWall)} wall (median ${rawWall.toFixed(0)} ms)`);
  console.log(`node SDK createEncryptStream [${engine.name}]: ${mbps(total, sdkWall)} wall (median ${sdkWall.toFixed(0)} ms)`);
  console.log(`ratio: node SDK streaming encrypt / raw node:crypto (wall time, median of paired rounds) = ${median(wall.map((w) => w.raw / w.sdk)).toFixed(2)} (target >= 0.8)`);
  console.log(`ratio: node SDK streaming encrypt / raw node:crypto (CPU time, median of paired rounds) = ${median(cpu.map((w) => w.raw / w.sdk)).toFixed(2)} (target >= 0.8)`);
  console.log(
    `ratio: node raw node:crypto writing ct ‖ tag contiguously / raw node:crypto (CPU time) = ${median(cpu.map((w) => w.raw / w.contiguous)).toFixed(2)} ` +
      `(context: the cost of one fresh ct ‖ tag array per chunk, which sealParts avoids; SDK / this = ${median(cpu.map((w) => w.contiguous / w.sdk)).toFixed(2)})`,
  );

  // For context only: the other engines in Node, on a smaller input.
  const small = pieces.slice(0, Math.min(16, mib));
  const smallBytes = small.length * MiB;
  const noble = median([await sdkEncrypt(nobleEngine(), small, key), await sdkEncrypt(nobleEngine(), small, key)]);
  const sodium = await createLibsodiumEngine();
  const so = median([await sdkEncrypt(sodium, small, key), await sdkEncrypt(sodium, small, key)]);
  console.log(`node SDK createEncryptStream [noble]: ${mbps(smallBytes, noble)}; [libsodium]: ${mbps(smallBytes, so)} (wall, context, not targets)`);
}

/**
 * The pool's own cost, independent of how many cores are free: total CPU time of the process (all
 * threads) for the same seals with noble on this thread vs the pool of 2 worker_threads running
 * noble. On idle cores the pool's wall-clock speedup is at most workers × (this ratio).
 */
async function poolOverhead(): Promise<void> {
  const f = await nodeWorkerFactory();
  const pool = createWorkerEngine({ workers: 2, createWorker: f.make });
  try {
    await pool.ready();
    const p = nodeCrypto.randomBytes(CHUNK);
    const aad = new Uint8Array(100);
    const N = 256;
    const loop = async (engine: CipherEngine, window: number): Promise<{ cpu: number; wall: number }> => {
      const c = engine.create(nodeCrypto.randomBytes(32), nodeCrypto.randomBytes(16));
      const q: (Uint8Array | Promise<Uint8Array>)[] = [];
      const c0 = cpuMs();
      const t0 = performance.now();
      for (let i = 0; i < N; i++) {
        q.push(c.seal(chunkNonceTail(i, i === N - 1), p, aad));
        if (q.length >= window) await q.shift();
      }
      await Promise.all(q);
      c.dispose();
      return { cpu: cpuMs() - c0, wall: performance.now() - t0 };
    };
    await loop(nobleEngine(), 1);
    await loop(pool, pool.parallelism);
    const cpu: number[] = [];
    const wall: number[] = [];
    for (let r = 0; r < 5; r++) {
      const a = await loop(nobleEngine(), 1);
      const b = await loop(pool, pool.parallelism);
      cpu.push(a.cpu / b.cpu);
      wall.push(a.wall / b.wall);
    }
    console.log(
      `ratio: node worker pool (2 worker_threads, noble) CPU efficiency = single-threaded CPU / pool CPU = ${median(cpu).toFixed(2)} ` +
        `(context: 1.00 = no overhead; wall-clock speedup in the same runs ${median(wall).toFixed(2)})`,
    );
  } finally {
    pool.terminate();
    f.cleanup();
  }
}

/** The machine's load average (other work on it slows both sides of a ratio, not evenly). */
function load(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

console.log(`load average at start: ${load()} (${new Date().toISOString()})`);
if (!args.has('browser-only')) {
  await nodeBench();
  await poolOverhead();
  console.log(`load average after the Node part: ${load()}`);
}
if (!args.has('node-only')) {
  if (args.has('library-only')) {
    // Only the single-threaded engines beside their libraries (Chromium).
    const s = await openBrowserSession();
    try {
      await engineVsLibrary(s, console.log, Number(args.get('mib') ?? 64), Number(args.get('rounds') ?? 5));
    } finally {
      await s.close();
    }
  } else {
    await runBrowserBench({ log: console.log, ...(args.has('rounds') ? { rounds: Number(args.get('rounds')) } : {}) });
  }
  console.log(`load average at the end: ${load()}`);
}
