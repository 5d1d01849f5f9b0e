/**
 * Headless Chromium harness for the engine benchmarks and the browser engine test: bundles
 * bench/browser/page.ts and the worker script (lib/archive/engines/chacha-worker.ts) with
 * esbuild, serves them from 127.0.0.1, and drives /usr/bin/chromium through playwright-core.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { api as PageApi } from './page.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../../test/support/chromium.js';

// The path and launch flags the browser tests use (test/support/chromium.ts), so benches and tests
// run the same browser the same way.
export { CHROMIUM };

/** The page's API, as seen from Node. */
export type PageApiType = typeof PageApi;

/** A served bundle and a Chromium page on it. */
export interface BrowserSession {
  readonly page: Page;
  /** Call a page API function by name. */
  call<K extends keyof PageApiType>(name: K, ...args: Parameters<PageApiType[K]>): Promise<Awaited<ReturnType<PageApiType[K]>>>;
  close(): Promise<void>;
}

/** Bundle `page` (default: the engines page) as page.js with the worker script beside it. */
export async function bundle(outdir: string, page = './page.ts', minify = true): Promise<void> {
  const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
  await build({
    entryPoints: { page: here(page), 'chacha-worker': here('../../lib/archive/engines/chacha-worker.ts') },
    bundle: true,
    splitting: true, // libsodium stays a separate chunk, loaded by dynamic import()
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    outdir,
    logLevel: 'error',
  });
}

/** Serve `dir` (and a page loading /page.js at `/`) on 127.0.0.1. */
export function serve(dir: string): Promise<{ server: Server; origin: string }> {
  const types: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html' };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><meta charset="utf-8"><title>e2ee-backup engines</title><script type="module" src="/page.js"></script>');
      return;
    }
    const file = normalize(join(dir, path));
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      resolve({ server, origin: `http://127.0.0.1:${port}` });
    });
  });
}

/** Bundle the page and the worker, serve them on 127.0.0.1 (for any browser: test/archive/engines-browser.test.ts); `close()` undoes both. */
export async function serveBenchPage(): Promise<{ origin: string; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-browser-'));
  try {
    await bundle(dir);
    const { server, origin } = await serve(dir);
    return {
      origin,
      close: () => {
        server.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Bundle, serve, launch Chromium and open the page; `close()` undoes all of it. */
export async function openBrowserSession(extraArgs: string[] = []): Promise<BrowserSession> {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-browser-'));
  await bundle(dir);
  const { server, origin } = await serve(dir);
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'e2eeBench' in globalThis, undefined, { timeout: 30_000 }).catch((e: unknown) => {
      throw new Error(`page did not load: ${errors.join('; ') || String(e)}`);
    });
    const b = browser;
    return {
      page,
      call: (name, ...args) =>
        page.evaluate(
          ([n, a]) => (globalThis as unknown as { e2eeBench: Record<string, (...x: unknown[]) => unknown> }).e2eeBench[n]!(...a),
          [name, args] as [string, unknown[]],
        ) as never,
      close: async () => {
        await b.close();
        server.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await browser?.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Renderer CPU time in ms, split by thread: the page's main thread, its dedicated workers, the rest (GC helpers, IO). */
interface ThreadCpu {
  readonly main: number;
  readonly workers: number;
  readonly other: number;
}

/**
 * CPU time (user + system) of the Chromium renderer processes this process started, per thread
 * kind, from /proc (Linux): the page's main thread (the process's first thread), its workers
 * (threads named `DedicatedWorker…`) and everything else. `undefined` where /proc is not
 * available. Independent of how many cores were free, unlike wall time.
 */
function rendererThreadCpuMs(): ThreadCpu | undefined {
  try {
    const parent = new Map<number, number>();
    const renderers: number[] = [];
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        parent.set(Number(d), Number(f[1]));
        if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('--type=renderer')) renderers.push(Number(d));
      } catch {
        // the process ended meanwhile
      }
    }
    const ours = (pid: number): boolean => {
      for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === process.pid) return true;
      return false;
    };
    const cpu = { main: 0, workers: 0, other: 0 };
    for (const pid of renderers.filter(ours)) {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
          const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          const ms = (Number(f[11]) + Number(f[12])) * 10; // USER_HZ is 100 on Linux
          if (tid === String(pid)) cpu.main += ms;
          else if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').startsWith('DedicatedWorker')) cpu.workers += ms;
          else cpu.other += ms;
        } catch {
          // the thread ended meanwhile
        }
      }
    }
    return cpu;
  } catch {
    return undefined;
  }
}

/**
 * Each single-threaded engine beside the library it runs, writing into reused buffers, same page,
 * alternating: the engine through the recycling encrypt stream (the backup's path), and through
 * the ordinary stream (a fresh buffer per sealed chunk) for context. `npm run bench:engines --
 * --library-only` runs this part alone.
 */
export async function engineVsLibrary(s: BrowserSession, log: (line: string) => void, mib: number, rounds: number): Promise<void> {
  const rate = (ms: number): string => `${(mib / (ms / 1000)).toFixed(0)} MiB/s`;
  const range = (xs: number[]): string => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
  await s.call('libraryMs', 'noble', 16);
  await s.call('libraryMs', 'libsodium', 16);
  await s.call('encryptMs', 'default', 1, 16, 2, 65536, true);
  await s.call('encryptMs', 'libsodium', 1, 16, 2, 65536, true);
  for (const [choice, lib] of [['default', 'noble'], ['libsodium', 'libsodium']] as const) {
    const eng: number[] = [];
    const libT: number[] = [];
    const fresh: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const runEngine = (): Promise<number> => s.call('encryptMs', choice, 1, mib, 2, 65536, true);
      const runLib = (): Promise<number> => s.call('libraryMs', lib, mib);
      let a: number;
      let b: number;
      if (r % 2 === 0) {
        a = await runEngine();
        b = await runLib();
      } else {
        b = await runLib();
        a = await runEngine();
      }
      eng.push(a);
      libT.push(b);
      ratios.push(b / a);
      fresh.push(await s.call('encryptMs', choice, 1, mib));
    }
    const heapOnly = lib === 'libsodium' ? ` (raw module with no copy in or out, data left in the heap: ${rate(await s.call('libraryMs', 'libsodium', mib, true))}, context)` : '';
    log(`chromium ${lib} library alone, ChaCha20-Poly1305 into reused buffers: ${rate(median(libT))}${heapOnly}`);
    log(`chromium SDK ${choice === 'default' ? 'default (noble)' : 'libsodium'} engine single-threaded, recycling stream (backup path): ${rate(median(eng))}; ordinary stream, fresh output per chunk: ${rate(median(fresh))} (context)`);
    log(`ratio: chromium ${lib} engine / its library into reused buffers = ${median(ratios).toFixed(2)} (rounds ${range(ratios)}) (target >= 0.8)`);
  }
}

/** The Chromium half of `npm run bench:engines`. */
export async function runBrowserBench({ log, mib = 64, rounds = 5 }: { log: (line: string) => void; mib?: number; rounds?: number }): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    log(`chromium: ${CHROMIUM} not found, browser benchmarks skipped`);
    return;
  }
  const s = await openBrowserSession();
  try {
    const version = s.page.context().browser()?.version() ?? '?';
    const cores = await s.page.evaluate(() => navigator.hardwareConcurrency);
    log(
      `chromium ${version} (headless), hardwareConcurrency ${cores}, ${mib} MiB in 64 KiB chunks, ${rounds} rounds; ` +
        'each ratio is the median of per-round ratios of back-to-back runs (order alternating A B, B A), MiB/s are medians',
    );
    const rate = (ms: number): string => `${(mib / (ms / 1000)).toFixed(0)} MiB/s`;
    // Warm-up, 16 MiB each: JIT, WASM compilation and tier-up, worker start-up.
    await s.call('encryptMs', 'default', 1, 16);
    await s.call('encryptMs', 'workers-noble', 2, 16);
    await s.call('encryptMs', 'workers-libsodium', 2, 16);
    await s.call('encryptMs', 'libsodium', 1, 16);
    await s.call('encryptMs', 'workers-echo', 2, 16);
    await s.call('secretstreamMs', 16);
    const runs = {
      single: () => s.call('encryptMs', 'default', 1, mib),
      w2: () => s.call('encryptMs', 'workers-noble', 2, mib),
      secretstream: () => s.call('secretstreamMs', mib),
      sodiumW: () => s.call('encryptMs', 'workers-libsodium', 2, mib),
      sodium1: () => s.call('encryptMs', 'libsodium', 1, mib),
      echo: () => s.call('encryptMs', 'workers-echo', 2, mib),
    };
    const t: Record<keyof typeof runs, number[]> = { single: [], w2: [], secretstream: [], sodiumW: [], sodium1: [], echo: [] };
    const pairRatios: { noble: number[]; sodium: number[] } = { noble: [], sodium: [] };
    const cpuRatios: { noble: number[]; sodium: number[] } = { noble: [], sodium: [] };
    /** Run one measurement; its wall time and the renderer's CPU time for it. */
    /** Renderer CPU per thread kind, summed over every measured run of each configuration. */
    const threadCpu = new Map<keyof typeof runs, { main: number; workers: number; other: number; mib: number }>();
    const measure = async (k: keyof typeof runs): Promise<{ ms: number; cpu: number | undefined }> => {
      const c0 = rendererThreadCpuMs();
      const ms = await runs[k]();
      const c1 = rendererThreadCpuMs();
      if (c0 === undefined || c1 === undefined) return { ms, cpu: undefined };
      const acc = threadCpu.get(k) ?? { main: 0, workers: 0, other: 0, mib: 0 };
      acc.main += c1.main - c0.main;
      acc.workers += c1.workers - c0.workers;
      acc.other += c1.other - c0.other;
      acc.mib += mib;
      threadCpu.set(k, acc);
      return { ms, cpu: c1.main + c1.workers + c1.other - (c0.main + c0.workers + c0.other) };
    };
    /** Run a and b back to back (order alternating by round); returns a's time / b's time. */
    const pair = async (r: number, a: keyof typeof runs, b: keyof typeof runs, key: 'noble' | 'sodium'): Promise<number> => {
      let ma: { ms: number; cpu: number | undefined };
      let mb: { ms: number; cpu: number | undefined };
      if (r % 2 === 0) {
        ma = await measure(a);
        mb = await measure(b);
      } else {
        mb = await measure(b);
        ma = await measure(a);
      }
      t[a].push(ma.ms);
      t[b].push(mb.ms);
      if (ma.cpu !== undefined && mb.cpu !== undefined && mb.cpu > 0) cpuRatios[key].push(ma.cpu / mb.cpu);
      return ma.ms / mb.ms;
    };
    for (let r = 0; r < rounds; r++) {
      pairRatios.noble.push(await pair(r, 'single', 'w2', 'noble'));
      pairRatios.sodium.push(await pair(r, 'secretstream', 'sodiumW', 'sodium'));
      t.sodium1.push(await runs.sodium1());
      t.echo.push(await runs.echo());
    }
    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof runs, number>;
    const range = (xs: number[]): string => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
    log(`chromium SDK default engine single-threaded: ${rate(m.single)}`);
    log(`chromium SDK default engine in 2 workers: ${rate(m.w2)}`);
    log(`chromium SDK libsodium engine single-threaded: ${rate(m.sodium1)} (context)`);
    log(`chromium SDK libsodium engine in 2 workers: ${rate(m.sodiumW)}`);
    log(`chromium libsodium-wrappers crypto_secretstream_xchacha20poly1305 single-threaded: ${rate(m.secretstream)}`);
    log(`chromium SDK through 2 echo workers (no crypto; the pool's main-thread ceiling): ${rate(m.echo)} (context)`);
    log(`ratio: chromium default engine 2 workers / single-threaded = ${median(pairRatios.noble).toFixed(2)} (rounds ${range(pairRatios.noble)}) (target >= 1.4)`);
    log(
      `ratio: chromium libsodium engine 2 workers / libsodium secretstream single-threaded = ${median(pairRatios.sodium).toFixed(2)} ` +
        `(rounds ${range(pairRatios.sodium)}) (target >= 1.5)`,
    );
    if (cpuRatios.noble.length > 0 && cpuRatios.sodium.length > 0) {
      // CPU time does not depend on free cores: with two idle cores the wall-clock speedup of
      // two workers is at most 2 × this (less the part that cannot overlap).
      log(
        `ratio: chromium CPU efficiency, renderer CPU time single-threaded / with 2 workers (all threads) = ` +
          `default engine ${median(cpuRatios.noble).toFixed(2)}, libsodium vs secretstream ${median(cpuRatios.sodium).toFixed(2)} ` +
          '(context: 1.00 = the pool costs no extra CPU; independent of the load)',
      );
    }
    if (threadCpu.size > 0) {
      const per = (k: keyof typeof runs): string => {
        const c = threadCpu.get(k);
        if (c === undefined || c.mib === 0) return '?';
        const f = (x: number): string => (x / c.mib).toFixed(2);
        return `main ${f(c.main)} + workers ${f(c.workers)} + other ${f(c.other)} = ${f(c.main + c.workers + c.other)}`;
      };
      // Where the pool's extra CPU goes: the workers do about what the single-threaded loop does;
      // the page's main thread (stream, copies into batches, messages) is what the pool adds.
      log(
        `chromium renderer CPU ms per MiB (10 ms ticks, all rounds; context): secretstream single-threaded ${per('secretstream')}; ` +
          `libsodium engine in 2 workers ${per('sodiumW')}; default engine single-threaded ${per('single')}; default engine in 2 workers ${per('w2')}`,
      );
    }
    await engineVsLibrary(s, log, mib, rounds);
    for (const choice of ['workers-noble', 'default'] as const) {
      const lt = await s.call('longestTask', choice, 2, 256);
      log(
        `chromium longest main-thread task during a 256 MiB encryption [${choice === 'default' ? 'default engine, single-threaded' : 'default engine in 2 workers'}]: ` +
          `${lt.maxMs.toFixed(0)} ms (${lt.count} long tasks ≥ 50 ms, ${(256 / (lt.ms / 1000)).toFixed(0)} MiB/s)` +
          (choice === 'workers-noble' ? ' (target < 50 ms)' : ' (context)'),
      );
    }
  } finally {
    await s.close();
  }
}

/**
 * CPU time (user + system, ms) of every live descendant process of this one (the browser's
 * processes and the blob server), by thread, from Linux /proc (clock ticks assumed 100 Hz):
 * keys are `<process kind>/<thread name>`, the kind being the browser process (`browser`), a
 * Chromium child (`renderer`, `utility`, `gpu-process`, ...) or `node` (the blob server).
 * `undefined` where /proc is unreadable.
 */
export function descendantsCpuMs(): Map<string, number> | undefined {
  const stat = (path: string): string[] => {
    const f = readFileSync(path, 'utf8');
    return [f.slice(f.indexOf('(') + 1, f.lastIndexOf(')')), ...f.slice(f.lastIndexOf(')') + 2).split(' ')];
  };
  try {
    const parent = new Map<number, number>();
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        parent.set(Number(d), Number(stat(`/proc/${d}/stat`)[2]));
      } catch {
        // exited meanwhile
      }
    }
    const out = new Map<string, number>();
    for (const pid of parent.keys()) {
      let mine = false;
      for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
        if (p === process.pid) {
          mine = true;
          break;
        }
      }
      if (!mine) continue;
      try {
        // Chromium rewrites its children's command lines into one space-separated string.
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
        const type = cmd.find((a) => a.startsWith('--type='))?.slice(7);
        const exe = cmd[0]?.split('/').pop() ?? '';
        const kind = type ?? (exe === 'node' ? 'node' : /chrom/.test(exe) ? 'browser' : exe);
        for (const tid of readdirSync(`/proc/${pid}/task`)) {
          const f = stat(`/proc/${pid}/task/${tid}/stat`);
          const key = `${kind}/${f[0]!.replace(/\d+$/, '')}`;
          out.set(key, (out.get(key) ?? 0) + (Number(f[12]) + Number(f[13])) * 10);
        }
      } catch {
        // exited meanwhile
      }
    }
    return out;
  } catch {
    return undefined;
  }
}

