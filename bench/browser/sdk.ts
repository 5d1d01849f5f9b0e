// bench/browser/sdk.ts (`npm run bench:browser`): a 256 MiB backup and restore through the SDK in
// headless Chromium against the reference blob server in its own process (another origin: CORS and
// the browser's real network stack are in the path), printed beside, in the same run and the same
// page:
//
//   encrypt alone   the same source through the archive encrypt stream, same engine, output dropped
//                   (the recycling stream the backup uses: sealed chunks into reused buffers)
//   decrypt alone   the archive, in memory, through the decrypt stream, same engine
//   raw upload      bare fetch, no SDK: the same number of 8 MiB parts, the same parts in flight,
//                   each body handed over the fastest way measured (a Blob)
//   raw download    bare fetch: 4 MiB ranged GETs (the restore's window), 3 in flight, read with
//                   (await response.blob()).arrayBuffer()
//
//   both at once    encrypt alone and raw upload started together in the same page (decrypt
//                   alone and raw download for the restore), timed until both end: on a machine
//                   whose cores each reference alone keeps busy, the best any client that must do
//                   both could do; printed as `against both references at once` beside the ratios
//
//   backup ratio  = SDK backup time  / max(encrypt alone, raw upload)
//   restore ratio = SDK restore time / max(decrypt alone, raw download)
//   longest main-thread task: the longest PerformanceObserver 'longtask' entry during the SDK
//   backups and restores with that engine
//
// Then the body-path comparison that chose the adapters' path (32 MiB each): a Uint8Array body vs a
// Blob; response.arrayBuffer() vs the body stream vs blob().arrayBuffer(); and parts in flight.
//
// Beside each time: CPU seconds of the browser's processes (page, workers, network service; the
// page's main thread apart, from CDP), and of the blob server; and the CPU floor, (client + server
// CPU) / cores / the reference: the lowest ratio any schedule could reach on this machine.
//
// Env: BROWSER_BENCH_MIB (256), BROWSER_BENCH_ROUNDS (2), BROWSER_BENCH_ENGINES
// (workers-libsodium,workers,default), BROWSER_BENCH_FINAL (the engine whose lines close the run:
// workers-libsodium, the one docs/ENGINES.md recommends in browsers),
// BROWSER_BENCH_PARTS (parts in flight, default 3: the SDK's default), BROWSER_BENCH_PATHS=0 skips
// the body-path comparison.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../lib/util/bytes.js';
import { startBlobServer } from '../support/blob-server.js';
import { bundle, descendantsCpuMs, serve } from './harness.js';
import { haveBrowser, launchBrowser, waitForGlobal, type BrowserName } from '../../test/support/browsers.js';
import type { api as SdkApi, SdkEngineChoice } from './sdk-page.js';

const MiB = 1 << 20;
const SIZE_MIB = Number(process.env.BROWSER_BENCH_MIB ?? 256);
const ROUNDS = Number(process.env.BROWSER_BENCH_ROUNDS ?? 2);
const ENGINES = (process.env.BROWSER_BENCH_ENGINES ?? 'workers-libsodium,workers,default').split(',') as SdkEngineChoice[];
/** The engine whose figures close the run (the one docs/ENGINES.md recommends in browsers). */
const FINAL = (process.env.BROWSER_BENCH_FINAL ?? 'workers-libsodium') as SdkEngineChoice;
const PARTS = Number(process.env.BROWSER_BENCH_PARTS ?? 3);
const PATHS = process.env.BROWSER_BENCH_PATHS !== '0';
const BROWSER = (process.env.BROWSER_BENCH_BROWSER ?? 'chromium') as BrowserName;

type Api = typeof SdkApi;

function loadavg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  if (!haveBrowser(BROWSER)) {
    console.log(`${BROWSER}: not installed, bench skipped`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-sdk-bench-'));
  await bundle(dir, './sdk-page.ts');
  const { server, origin } = await serve(dir);
  // Room for two archives and the raw uploads' parts.
  const blobs = await startBlobServer(SIZE_MIB * MiB * 2, origin);
  const browser = await launchBrowser(BROWSER);
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    await waitForGlobal(page, 'sdkBench', 60_000);
    const call = <K extends keyof Api>(name: K, ...args: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>> =>
      page.evaluate(
        ([n, a]) => (globalThis as unknown as { sdkBench: Record<string, (...x: unknown[]) => unknown> }).sdkBench[n]!(...a),
        [name, args] as [string, unknown[]],
      ) as never;
    const version = browser.version;
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    await call('setup', blobs.url, toHex(blobs.signingKey), SIZE_MIB);
    const mbs = (ms: number, mib = SIZE_MIB): string => `${((mib * MiB) / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
    console.log(
      `bench:browser — ${version} (headless), hardwareConcurrency ${cores}, ${SIZE_MIB} MiB source, 64 KiB chunks, ` +
        `8 MiB parts, ${PARTS} parts in flight, ${ROUNDS} rounds (order alternating), medians; blob server: ${blobs.url} (own process); ` +
        `load average ${loadavg()}, ${new Date().toISOString()}`,
    );

    if (PATHS) {
      // The measurement behind the adapters' body path (lib/storage/blob/body.ts). 32 MiB each.
      const n = 32;
      await call('sdkBackup', 'workers', PARTS); // an archive to download
      const up: Record<string, number[]> = { uint8array: [], blob: [], sliced: [] };
      const upTask: Record<string, number> = { uint8array: 0, blob: 0, sliced: 0 };
      const down: Record<string, number[]> = { arrayBuffer: [], stream: [], blob: [] };
      for (let r = 0; r < 2; r++) {
        for (const b of r % 2 === 0 ? (['uint8array', 'blob', 'sliced'] as const) : (['sliced', 'blob', 'uint8array'] as const)) {
          const x = await call('rawUpload', n, PARTS, b);
          up[b]!.push(x.ms);
          upTask[b] = Math.max(upTask[b]!, x.longestTaskMs);
        }
        for (const d of ['arrayBuffer', 'stream', 'blob'] as const) {
          const x = await call('rawDownload', 4, 3, d);
          down[d]!.push(x.ms);
        }
      }
      for (const [k, v] of Object.entries(up)) {
        console.log(`  raw upload, ${n} MiB, body ${k.padEnd(10)} ${mbs(median(v), n).padStart(11)}  longest task ${upTask[k]!.toFixed(0)} ms`);
      }
      const archiveMiB = SIZE_MIB * (1 + 16 / 65536); // the archive: a 16-byte tag per 64 KiB chunk
      for (const [k, v] of Object.entries(down)) console.log(`  raw download, whole archive, read ${k.padEnd(11)} ${mbs(median(v), archiveMiB).padStart(11)}`);
      for (const p of [1, 2, 3, 4, 6]) {
        const x = await call('rawUpload', n, p, 'blob');
        console.log(`  raw upload, ${n} MiB, Blob bodies, ${p} parts in flight: ${mbs(x.ms, n)}`);
      }
    }

    // CPU accounting around one call: the browser's processes (all of them: page, workers,
    // network service), the blob server, and the page's main thread (CDP ThreadTime, Chromium).
    const mainCpu = async (): Promise<number | undefined> => {
      if (page.cdp === undefined) return undefined;
      const { metrics } = (await page.cdp('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
      const t = metrics.find((m) => m.name === 'ThreadTime')?.value;
      return t === undefined ? undefined : t * 1000;
    };
    await page.cdp?.('Performance.enable', { timeDomain: 'threadTicks' });
    interface Cpu {
      /** The browser's processes, all threads. */
      client: number;
      /** The blob server. */
      server: number;
      /** The page's main thread (CDP). */
      main: number;
      /** The page's Web Workers (renderer threads named DedicatedWorker). */
      workers: number;
      /** By `<process kind>/<thread name>`. */
      threads: Map<string, number>;
    }
    const withCpu = async <T>(f: () => Promise<T>): Promise<{ value: T; cpu: Cpu }> => {
      const a = descendantsCpuMs();
      const am = await mainCpu();
      const value = await f();
      const b = descendantsCpuMs();
      const bm = await mainCpu();
      const threads = new Map<string, number>();
      for (const [k, v] of b ?? []) {
        const d = v - (a?.get(k) ?? 0);
        if (d > 0) threads.set(k, d);
      }
      const sum = (pred: (k: string) => boolean): number =>
        b === undefined ? Number.NaN : [...threads].filter(([k]) => pred(k)).reduce((x, [, v]) => x + v, 0);
      return {
        value,
        cpu: {
          client: sum((k) => !k.startsWith('node/') && !k.startsWith('esbuild/')),
          server: sum((k) => k.startsWith('node/')),
          main: am === undefined || bm === undefined ? Number.NaN : bm - am,
          workers: sum((k) => k.startsWith('renderer/DedicatedWorker')),
          threads,
        },
      };
    };

    let worstTask = 0;
    const summary: Record<string, string[]> = {};
    for (const engine of ENGINES) {
      const t = { backup: [] as number[], enc: [] as number[], up: [] as number[], both: [] as number[], restore: [] as number[], dec: [] as number[], down: [] as number[], bothR: [] as number[] };
      const c = { backup: [] as Cpu[], enc: [] as Cpu[], up: [] as Cpu[], both: [] as Cpu[], restore: [] as Cpu[], dec: [] as Cpu[], down: [] as Cpu[], bothR: [] as Cpu[] };
      const task = { backup: 0, restore: 0 };
      const tasks = { backup: [] as number[], restore: [] as number[] };
      const run = async (k: keyof typeof t, f: () => Promise<{ ms: number }>): Promise<{ ms: number }> => {
        // The page's garbage collected before and every 500 ms during each operation (all of them
        // alike): a Blob's bytes stay in Chromium's blob storage until its object is collected,
        // and a loop that allocates little (the raw upload above all) is rarely collected, so at
        // 256 MiB the part bodies of one operation filled the storage under the next one
        // (ERR_BLOB_OUT_OF_MEMORY, 'Failed to fetch') in most runs on this machine.
        const gc = (): Promise<unknown> => page.cdp?.('HeapProfiler.collectGarbage').catch(() => undefined) ?? Promise.resolve();
        await gc();
        const timer = setInterval(() => void gc(), 500);
        const r = await withCpu(f).finally(() => clearInterval(timer));
        t[k].push(r.value.ms);
        c[k].push(r.cpu);
        return r.value;
      };
      for (let r = 0; r < ROUNDS; r++) {
        const flip = r % 2 === 1;
        const backupRefs = async (): Promise<void> => {
          await run('enc', () => call('encryptOnly', engine));
          await run('up', () => call('rawUpload', SIZE_MIB, PARTS, 'blob'));
          await run('both', () => call('encryptAndUpload', engine, SIZE_MIB, PARTS));
        };
        if (flip) await backupRefs();
        const b = (await run('backup', () => call('sdkBackup', engine, PARTS))) as Awaited<ReturnType<Api['sdkBackup']>>;
        task.backup = Math.max(task.backup, b.longestTaskMs);
        tasks.backup.push(...b.tasks);
        if (!flip) await backupRefs();
        const restoreRefs = async (): Promise<void> => {
          await call('fetchArchive');
          await run('dec', () => call('decryptOnly', engine));
          await run('down', () => call('rawDownload', 4, 3, 'blob'));
          await run('bothR', () => call('decryptAndDownload', engine));
        };
        if (flip) await restoreRefs();
        const x = (await run('restore', () => call('sdkRestore', engine))) as Awaited<ReturnType<Api['sdkRestore']>>;
        task.restore = Math.max(task.restore, x.longestTaskMs);
        tasks.restore.push(...x.tasks);
        if (!flip) await restoreRefs();
      }
      const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
      const mc = (k: keyof typeof c, f: Exclude<keyof Cpu, 'threads'>): number => median(c[k].map((x) => x[f]));
      const list = (xs: number[]): string => xs.map((x) => (x / 1000).toFixed(2)).join(', ');
      const cpuOf = (k: keyof typeof c): string => {
        const main = mc(k, 'main');
        const s = (ms: number): string => (ms / 1000).toFixed(2);
        return `CPU s: client ${s(mc(k, 'client'))} (page main thread ${Number.isNaN(main) ? 'n/a' : s(main)}, workers ${s(mc(k, 'workers'))}), server ${s(mc(k, 'server'))}`;
      };
      console.log(`engine ${engine}:  (load average ${loadavg()})`);
      console.log(`  SDK backup      ${(m.backup / 1000).toFixed(2)} s  ${mbs(m.backup)}   (rounds ${list(t.backup)} s; long tasks ${tasks.backup.join(', ') || 'none'} ms; ${cpuOf('backup')})`);
      console.log(`  encrypt alone   ${(m.enc / 1000).toFixed(2)} s  ${mbs(m.enc)}   (rounds ${list(t.enc)} s; ${cpuOf('enc')})`);
      console.log(`  raw upload      ${(m.up / 1000).toFixed(2)} s  ${mbs(m.up)}   (rounds ${list(t.up)} s; ${cpuOf('up')})`);
      console.log(`  both at once    ${(m.both / 1000).toFixed(2)} s  ${mbs(m.both)}   (encrypt alone and raw upload started together; rounds ${list(t.both)} s; ${cpuOf('both')})`);
      console.log(`  SDK restore     ${(m.restore / 1000).toFixed(2)} s  ${mbs(m.restore)}   (rounds ${list(t.restore)} s; long tasks ${tasks.restore.join(', ') || 'none'} ms; ${cpuOf('restore')})`);
      console.log(`  decrypt alone   ${(m.dec / 1000).toFixed(2)} s  ${mbs(m.dec)}   (rounds ${list(t.dec)} s; ${cpuOf('dec')})`);
      console.log(`  raw download    ${(m.down / 1000).toFixed(2)} s  ${mbs(m.down)}   (rounds ${list(t.down)} s; ${cpuOf('down')})`);
      console.log(`  both at once    ${(m.bothR / 1000).toFixed(2)} s  ${mbs(m.bothR)}   (decrypt alone and raw download started together; rounds ${list(t.bothR)} s; ${cpuOf('bothR')})`);
      // Where the CPU went in the last round of each operation, by thread group.
      const busiest = (k: keyof typeof c): string =>
        [...(c[k].at(-1)?.threads ?? [])]
          .filter(([, v]) => v >= 20)
          .sort((x, y) => y[1] - x[1])
          .slice(0, Number(process.env.BROWSER_BENCH_THREADS ?? 7))
          .map(([n, v]) => `${n} ${(v / 1000).toFixed(2)}`)
          .join(', ');
      for (const [k, label] of [['backup', 'SDK backup'], ['enc', 'encrypt alone'], ['up', 'raw upload'], ['restore', 'SDK restore'], ['dec', 'decrypt alone'], ['down', 'raw download'], ['both', 'encrypt + upload at once'], ['bothR', 'decrypt + download at once']] as const) {
        console.log(`  CPU s by thread, ${label}: ${busiest(k)}`);
      }
      const br = m.backup / Math.max(m.enc, m.up);
      const rr = m.restore / Math.max(m.dec, m.down);
      // The CPU floor: client and server together burn (client + server CPU) during the SDK run on
      // `cores` cores, so no schedule finishes it in less than that / cores; over the same
      // reference as the ratio, it is the lowest ratio this machine allows for this engine.
      const floor = (k: 'backup' | 'restore', ref: number): string => {
        const f = (mc(k, 'client') + mc(k, 'server')) / cores / ref;
        return Number.isNaN(f) ? 'n/a' : f.toFixed(2);
      };
      const longest = Math.max(task.backup, task.restore);
      // Against both references at once: what is left of the ratio once the machine's cores are
      // shared the way the SDK must share them (encrypting and moving bytes at the same time).
      const bo = m.backup / m.both;
      const ro = m.restore / m.bothR;
      console.log(`  [${engine}] SDK against both references run at once: backup ${bo.toFixed(2)}, restore ${ro.toFixed(2)}`);
      console.log(
        `  [${engine}] backup ratio: ${br.toFixed(2)} (CPU floor ${floor('backup', Math.max(m.enc, m.up))}), ` +
          `restore ratio: ${rr.toFixed(2)} (CPU floor ${floor('restore', Math.max(m.dec, m.down))}), longest main-thread task: ${longest.toFixed(0)} ms`,
      );
      summary[engine] = [
        `against both references at once: backup ${bo.toFixed(2)}, restore ${ro.toFixed(2)}`,
        `backup ratio: ${br.toFixed(2)}`,
        `restore ratio: ${rr.toFixed(2)}`,
      ];
      // Untimed: the last backup restores to the source's very bytes (not only its length).
      const verified = (await call('verifyRestore', engine)) as boolean;
      console.log(`  [${engine}] restore byte-identical to the source: ${verified ? 'yes' : 'NO'}`);
      if (!verified) process.exitCode = 1;
      if (engine === FINAL || (!ENGINES.includes(FINAL) && Object.keys(summary).length === 1)) worstTask = longest;
    }
    await call('shutdown');
    // The closing lines are those of the engine the guide recommends in browsers (BROWSER_BENCH_FINAL).
    const finalEngine = ENGINES.includes(FINAL) ? FINAL : ENGINES[0]!;
    console.log(`final lines: engine ${finalEngine}, load average ${loadavg()}, ${new Date().toISOString()}`);
    for (const l of summary[finalEngine] ?? []) console.log(l);
    console.log(`longest main-thread task: ${worstTask.toFixed(0)} ms`);
  } finally {
    await browser.close();
    server.close();
    blobs.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
