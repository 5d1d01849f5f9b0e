/**
 * Archive benchmark (npm run bench:archive).
 *
 * 1. Throughput: the SDK's streaming encrypt and decrypt (createEncryptStream/createDecryptStream,
 *    input in 64 KiB pieces, output discarded) against raw @noble/ciphers xchacha20poly1305 over the
 *    same 64 KiB chunks, measured in the same run as N back-to-back pairs (ABBA order), printed as
 *    `encrypt ratio: X` and `decrypt ratio: X`: the median over pairs of SDK MB/s ÷ raw MB/s by
 *    CPU time (target ≥ 0.9). Best-of-N and wall-clock figures are printed too; on shared cores
 *    they are noisier.
 * 2. Memory: a streamed 1 GiB encryption in a child process (input generated in a ReadableStream,
 *    output discarded); prints the peak RSS above the child's baseline (target ≤ 64 MiB).
 *
 * The noble engine is pinned so the figures do not move when the default engine changes.
 * Options: --mib N (throughput data per run, default 8), --rounds N (default 31), --gib N (default 1).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { createDecryptStream, createEncryptStream } from '../lib/archive/stream.js';
import { nobleEngine } from '../lib/archive/engines/noble.js';
import { DEFAULT_CHUNK_SIZE } from '../lib/archive/format.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const MiB = 1024 * 1024;
const key = new Uint8Array(32).fill(1);
const keyId = new Uint8Array(16).fill(2);
const engine = nobleEngine();

/**
 * Time a run by wall clock and by this process's CPU time (user + system). The machine's cores are
 * shared with other jobs, so wall time swings with their load; CPU time charges each run only for
 * the work it did (GC threads included), and is what the ratios use.
 */
interface Timing {
  wall: number;
  cpu: number;
}
function start(): () => Timing {
  const w = performance.now();
  const c = process.cpuUsage();
  return () => {
    const d = process.cpuUsage(c);
    return { wall: performance.now() - w, cpu: (d.user + d.system) / 1000 };
  };
}

/** A stream of `total` bytes in `piece`-sized pieces, views into one buffer (no generation cost). */
function sourceOf(data: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (off >= data.length) return c.close();
        c.enqueue(data.subarray(off, Math.min(data.length, off + piece)));
        off += piece;
      },
    },
    { highWaterMark: 0 },
  );
}

function sink(onChunk?: (b: Uint8Array) => void): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({ write: (b) => onChunk?.(b) });
}

async function sdkEncrypt(data: Uint8Array, keep?: Uint8Array[]): Promise<Timing> {
  const t = start();
  await sourceOf(data, DEFAULT_CHUNK_SIZE)
    .pipeThrough(createEncryptStream(key, keyId, { engine }))
    .pipeTo(sink(keep ? (b) => keep.push(b) : undefined));
  return t();
}

async function sdkDecrypt(archive: Uint8Array): Promise<Timing> {
  const t = start();
  await sourceOf(archive, DEFAULT_CHUNK_SIZE).pipeThrough(createDecryptStream(key, { engine })).pipeTo(sink());
  return t();
}

/** Raw noble over the same chunks: one xchacha20poly1305 instance per 64 KiB chunk, 24-byte nonce. */
function rawEncrypt(data: Uint8Array, nonces: Uint8Array[], aad: Uint8Array): { ms: Timing; sealed: Uint8Array[] } {
  const sealed: Uint8Array[] = [];
  const t = start();
  for (let i = 0, o = 0; o < data.length; i++, o += DEFAULT_CHUNK_SIZE) {
    sealed.push(xchacha20poly1305(key, nonces[i]!, aad).encrypt(data.subarray(o, o + DEFAULT_CHUNK_SIZE)));
  }
  return { ms: t(), sealed };
}

function rawDecrypt(sealed: Uint8Array[], nonces: Uint8Array[], aad: Uint8Array): Timing {
  const t = start();
  for (let i = 0; i < sealed.length; i++) xchacha20poly1305(key, nonces[i]!, aad).decrypt(sealed[i]!);
  return t();
}

async function throughput(): Promise<void> {
  const mib = arg('mib', 8);
  const rounds = arg('rounds', 31);
  const data = new Uint8Array(mib * MiB);
  for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
  const n = Math.ceil(data.length / DEFAULT_CHUNK_SIZE);
  const nonces = Array.from({ length: n }, (_, i) => {
    const x = new Uint8Array(24).fill(7);
    new DataView(x.buffer).setUint32(19, i);
    x[23] = i === n - 1 ? 1 : 0;
    return x;
  });
  const aad = new Uint8Array(32).fill(9);
  const parts: Uint8Array[] = [];
  await sdkEncrypt(data, parts); // warm-up, and the archive to decrypt
  const archive = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((o, p) => (archive.set(p, o), o + p.length), 0);
  const rawSealed = rawEncrypt(data, nonces, aad).sealed; // warm-up
  rawDecrypt(rawSealed, nonces, aad);
  await sdkDecrypt(archive);
  const runs: Record<'rawEnc' | 'sdkEnc' | 'rawDec' | 'sdkDec', Timing[]> = { rawEnc: [], sdkEnc: [], rawDec: [], sdkDec: [] };
  // Paired and interleaved (ABBA order), so a burst of load from other jobs hits both sides alike.
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      runs.rawEnc.push(rawEncrypt(data, nonces, aad).ms);
      runs.sdkEnc.push(await sdkEncrypt(data));
      runs.rawDec.push(rawDecrypt(rawSealed, nonces, aad));
      runs.sdkDec.push(await sdkDecrypt(archive));
    } else {
      runs.sdkEnc.push(await sdkEncrypt(data));
      runs.rawEnc.push(rawEncrypt(data, nonces, aad).ms);
      runs.sdkDec.push(await sdkDecrypt(archive));
      runs.rawDec.push(rawDecrypt(rawSealed, nonces, aad));
    }
  }
  const best = (k: keyof typeof runs, f: 'wall' | 'cpu'): number => Math.min(...runs[k].map((t) => t[f]));
  /** Median over rounds of raw time ÷ SDK time, each pair measured back to back. */
  const paired = (raw: keyof typeof runs, sdk: keyof typeof runs, f: 'wall' | 'cpu'): number => {
    const ratios = runs[raw].map((t, i) => t[f] / runs[sdk][i]![f]).sort((x, y) => x - y);
    const mid = ratios.length >> 1;
    return ratios.length % 2 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2;
  };
  const mbps = (ms: number): string => ((data.length / 1e6) / (ms / 1000)).toFixed(1);
  console.log(`data: ${mib} MiB in ${DEFAULT_CHUNK_SIZE}-byte chunks, engine: ${engine.name}, ${rounds} paired rounds`);
  for (const f of ['wall', 'cpu'] as const) {
    console.log(
      `${f} time, best: raw noble xchacha20poly1305 encrypt ${mbps(best('rawEnc', f))} MB/s, decrypt ${mbps(best('rawDec', f))} MB/s; ` +
        `SDK stream encrypt ${mbps(best('sdkEnc', f))} MB/s, decrypt ${mbps(best('sdkDec', f))} MB/s; ` +
        `ratios of best ${(best('rawEnc', f) / best('sdkEnc', f)).toFixed(3)} / ${(best('rawDec', f) / best('sdkDec', f)).toFixed(3)}, ` +
        `median paired ratios ${paired('rawEnc', 'sdkEnc', f).toFixed(3)} / ${paired('rawDec', 'sdkDec', f).toFixed(3)}`,
    );
  }
  // The headline figures: median of paired CPU-time ratios (SDK MB/s ÷ raw MB/s).
  console.log(`encrypt ratio: ${paired('rawEnc', 'sdkEnc', 'cpu').toFixed(3)}`);
  console.log(`decrypt ratio: ${paired('rawDec', 'sdkDec', 'cpu').toFixed(3)}`);
}

/** Child: stream `gib` GiB of generated input through the encryptor; report peak RSS over baseline. */
async function rssChild(): Promise<void> {
  const total = Math.floor(arg('gib', 1) * 1024 * MiB);
  // Warm up the code paths so module loading and JIT are in the baseline, not the peak.
  await sdkEncrypt(new Uint8Array(4 * DEFAULT_CHUNK_SIZE));
  globalThis.gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  let produced = 0;
  let written = 0;
  const source = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (produced >= total) return c.close();
        // A fresh buffer per piece, as a file or network source hands out.
        const piece = new Uint8Array(Math.min(DEFAULT_CHUNK_SIZE, total - produced)).fill(produced & 0xff);
        produced += piece.length;
        c.enqueue(piece);
      },
    },
    { highWaterMark: 0 },
  );
  const t = start();
  await source.pipeThrough(createEncryptStream(key, keyId, { engine })).pipeTo(
    sink((b) => {
      written += b.length;
      if ((written & (MiB - 1)) < b.length) peak = Math.max(peak, process.memoryUsage.rss());
    }),
  );
  const ms = t().wall;
  // Sampled, not getrusage's maxRSS: Linux carries ru_maxrss over fork/exec, so a child's maxRSS
  // starts at its parent's peak.
  peak = Math.max(peak, process.memoryUsage.rss());
  console.log(
    JSON.stringify({ bytes: produced, written, ms: Math.round(ms), baselineMiB: baseline / MiB, peakAboveBaselineMiB: (peak - baseline) / MiB }),
  );
}

async function main(): Promise<void> {
  if (process.argv.includes('--rss-child')) return rssChild();
  await throughput();
  const script = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', script, '--rss-child', '--gib', String(arg('gib', 1))], {
    encoding: 'utf8',
  });
  if (child.status !== 0) {
    console.error(child.stderr);
    throw new Error('RSS child failed');
  }
  const r = JSON.parse(child.stdout.trim().split('\n').pop()!) as { bytes: number; ms: number; baselineMiB: number; peakAboveBaselineMiB: number };
  console.log(`streamed ${(r.bytes / 1024 / MiB).toFixed(2)} GiB encryption in ${(r.ms / 1000).toFixed(1)} s (${((r.bytes / 1e6) / (r.ms / 1000)).toFixed(1)} MB/s)`);
  console.log(`peak RSS above baseline: ${r.peakAboveBaselineMiB.toFixed(1)} MiB (baseline ${r.baselineMiB.toFixed(1)} MiB)`);
}

await main();
