// bench/restore.ts (`npm run bench:restore`): a full restore of a 256 MiB backup from the reference
// blob store served by node:http on 127.0.0.1 (its own process), three strategies in the same run,
// alternating, each output compared with the source byte for byte:
//
//   previous  the stream as it was before: `read(offset, 1 MiB)` one after another (inside each
//             read, one ranged GET per 64 KiB chunk, 4 in flight, drained at every MiB);
//   w1M-d1    the windowed stream with windowSize 1 MiB, readAhead 1 (one GET per MiB, sequential);
//   default   the windowed stream with its defaults (4 MiB windows, 3 in flight).
//
//   restore speedup ratio = w1M-d1 time / default time (medians over the rounds)
//
// Env: RESTORE_BENCH_MIB (default 256), RESTORE_BENCH_ROUNDS (default 2), RESTORE_BENCH_ALT=W,D
// (adds a strategy `alt`: windowSize W MiB, readAhead D).
//
// With --browser (`npm run bench:restore -- --browser`), the restores run in headless Chromium
// (/usr/bin/chromium via playwright-core, page bench/restore-page.ts bundled with esbuild) against
// the blob store served from the page's origin; the default stream's output is hashed in the page
// and compared with the source's SHA-256.
import { openBackup, DEFAULT_RESTORE_READ_AHEAD, DEFAULT_RESTORE_WINDOW, type OpenedBackup } from '../lib/client/restore.js';
import { defaultEngine } from '../lib/archive/engines/default.js';
import { createKeyring, keyForId } from '../lib/recovery/keyring.js';
import { createBlobStoreHandler } from '../lib/server/blob-store.js';
import { serveHandler } from '../lib/server/index.js';
import { createMemoryBlobStore } from '../lib/storage/blob/memory.js';
import { equalBytes, secureRandom, toHex } from '../lib/util/bytes.js';
import { fileURLToPath } from 'node:url';
import type { RestorePageConfig, RestorePageResult } from './restore-page.js';
import { benchBackup } from './support/backup.js';
import { benchBlobLimits, benchBlobStore, startBlobServer } from './support/blob-server.js';

const MiB = 1 << 20;
const SIZE = Number(process.env.RESTORE_BENCH_MIB ?? 256) * MiB;
const ROUNDS = Number(process.env.RESTORE_BENCH_ROUNDS ?? 2);
const CHUNK = 64 * 1024;
const PART = 8 * MiB;
const ALT = process.env.RESTORE_BENCH_ALT?.split(',').map(Number) as [number, number] | undefined;

if (process.argv.includes('--browser')) {
  await mainBrowser();
} else {
  await main();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function report(where: string, times: Record<string, number[]>): void {
  const mbps = (ms: number): string => (SIZE / 1e6 / (ms / 1000)).toFixed(1);
  console.log(`restore of ${SIZE / MiB} MiB (chunk ${CHUNK / 1024} KiB) from the reference blob store, ${where}, ${ROUNDS} rounds`);
  console.log(`default: windowSize ${DEFAULT_RESTORE_WINDOW / MiB} MiB, readAhead ${DEFAULT_RESTORE_READ_AHEAD}`);
  for (const [name, ts] of Object.entries(times)) {
    const m = median(ts);
    console.log(`${name.padEnd(9)} median ${m.toFixed(0)} ms  ${mbps(m)} MB/s   rounds: ${ts.map((t) => `${t.toFixed(0)} ms (${mbps(t)} MB/s)`).join(', ')}`);
  }
  console.log(`restore speedup ratio: ${(median(times['w1M-d1']!) / median(times.default!)).toFixed(2)}`);
  console.log(`speedup over the previous stream code: ${(median(times.previous!) / median(times.default!)).toFixed(2)}`);
}

async function mainBrowser(): Promise<void> {
  const { build } = await import('esbuild');
  const { chromium } = await import('playwright-core');
  const { createHash } = await import('node:crypto');
  const bundled = await build({
    entryPoints: [fileURLToPath(new URL('./restore-page.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'error',
  });
  const pageJs = bundled.outputFiles[0]!.text;
  const source = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i += 4 * MiB) source.set(secureRandom(Math.min(4 * MiB, SIZE - i)), i);
  const signingKey = secureRandom(32);
  const { maxObjectSize, maxTotalBytes } = benchBlobLimits(SIZE);
  const backing = createMemoryBlobStore({ limits: { maxObjectSize }, maxTotalBytes });
  const blobs = createBlobStoreHandler({ store: backing, signingKey });
  const served = await serveHandler(
    async (req) => {
      const path = new URL(req.url).pathname;
      if (path === '/') return new Response('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>', { headers: { 'content-type': 'text/html' } });
      if (path === '/page.js') return new Response(pageJs, { headers: { 'content-type': 'text/javascript' } });
      return blobs(req);
    },
    { host: '127.0.0.1' },
  );
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'] });
  try {
    const keyring = createKeyring();
    const manifest = await benchBackup({ store: benchBlobStore(served.url, signingKey, SIZE), keyring, engine: defaultEngine(), source, chunkSize: CHUNK, partSize: PART, concurrency: 3 });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(served.url + '/');
    await page.waitForFunction(() => 'restoreBench' in globalThis, undefined, { timeout: 30_000 }).catch((e: unknown) => {
      throw new Error(`page did not load: ${errors.join('; ') || String(e)}`);
    });
    const cfg: RestorePageConfig = {
      signingKeyHex: toHex(signingKey),
      keyHex: toHex(keyring.current.key),
      keyIdHex: toHex(keyring.current.keyId),
      backupIdHex: toHex(manifest.backupId),
      rounds: ROUNDS,
      ...(ALT === undefined ? {} : { alt: ALT }),
    };
    const result = await page.evaluate(
      (c) => (globalThis as unknown as { restoreBench: { runRestore: (x: RestorePageConfig) => Promise<RestorePageResult> } }).restoreBench.runRestore(c),
      cfg,
    );
    if (result.size !== SIZE || result.sha256 !== createHash('sha256').update(source).digest('hex')) throw new Error('the browser restored other bytes');
    report(`Chromium ${browser.version()} page on ${served.url} (bytes checked by SHA-256)`, result.times);
  } finally {
    await browser.close();
    await served.close();
  }
}

async function main(): Promise<void> {
  const source = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i += 4 * MiB) source.set(secureRandom(Math.min(4 * MiB, SIZE - i)), i);
  const server = await startBlobServer(SIZE);
  try {
    const { store } = server;
    const keyring = createKeyring();
    const engine = defaultEngine();
    const manifest = await benchBackup({ store, keyring, engine, source, chunkSize: CHUNK, partSize: PART, concurrency: 3 });
    const opened = await openBackup({ accountId: 'bench', blobs: store, keyPrefix: 'bench/', keyLookup: (id) => keyForId(keyring, id), engine }, manifest.backupId);

    // Consume and check every byte against the source (the same work for every strategy).
    const check = (bytes: Uint8Array, offset: number): void => {
      if (!equalBytes(bytes, source.subarray(offset, offset + bytes.length))) throw new Error(`restored bytes differ at ${offset}`);
    };
    const drain = async (stream: ReadableStream<Uint8Array>): Promise<void> => {
      const reader = stream.getReader();
      let off = 0;
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        check(r.value, off);
        off += r.value.length;
      }
      if (off !== SIZE) throw new Error(`restored ${off} bytes of ${SIZE}`);
    };
    const strategies: Record<string, (o: OpenedBackup) => Promise<void>> = {
      previous: async (o) => {
        // The stream before this change: its pull loop, verbatim in effect.
        for (let off = 0; off < SIZE; off += MiB) {
          const n = Math.min(MiB, SIZE - off);
          check(await o.read(off, n), off);
        }
      },
      'w1M-d1': (o) => drain(o.stream({ windowSize: MiB, readAhead: 1 })),
      default: (o) => drain(o.stream()),
      ...(ALT === undefined ? {} : { alt: (o: OpenedBackup) => drain(o.stream({ windowSize: ALT[0] * MiB, readAhead: ALT[1] })) }),
    };
    const names = Object.keys(strategies);
    const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, [] as number[]]));
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so drift on the shared machine does not favour one strategy.
      for (const name of round % 2 === 0 ? names : [...names].reverse()) {
        const t0 = performance.now();
        await strategies[name]!(opened);
        times[name]!.push(performance.now() - t0);
      }
    }
    opened.close();
    report(`Node ${process.version}, server at ${server.url} (own process), node:crypto engine, bytes checked`, times);
  } finally {
    server.close();
  }
}
