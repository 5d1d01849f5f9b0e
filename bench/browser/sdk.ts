// bench/browser/sdk.ts (`npm run bench:browser`): a 256 MiB backup and restore through the SDK in
// headless Chromium against the reference blob server in its own process (another origin: CORS and
// the browser's real network stack are in the path), printed beside, in the same run and the same
// page:
//
//   encrypt alone   the same source through the archive encrypt stream, same engine, output dropped
//   decrypt alone   the archive, in memory, through the decrypt stream, same engine
//   raw upload      bare fetch, no SDK: the same number of 8 MiB parts, the same parts in flight,
//                   each body handed over the fastest way measured (a Blob)
//   raw download    bare fetch: 4 MiB ranged GETs (the restore's window), 3 in flight, read with
//                   (await response.blob()).arrayBuffer()
//
//   backup ratio  = SDK backup time  / max(encrypt alone, raw upload)
//   restore ratio = SDK restore time / max(decrypt alone, raw download)
//   longest main-thread task: the longest PerformanceObserver 'longtask' entry during the SDK
//   backups and restores with the worker engine
//
// Then the body-path comparison that chose the adapters' path (32 MiB each): a Uint8Array body vs a
// Blob; response.arrayBuffer() vs the body stream vs blob().arrayBuffer(); and parts in flight.
//
// Env: BROWSER_BENCH_MIB (256), BROWSER_BENCH_ROUNDS (2), BROWSER_BENCH_ENGINES (workers,default),
// BROWSER_BENCH_PARTS (parts in flight, default 3: the SDK's default), BROWSER_BENCH_PATHS=0 skips
// the body-path comparison.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../lib/util/bytes.js';
import { startBlobServer } from '../support/blob-server.js';
import { bundle, serve } from './harness.js';
import { haveBrowser, launchBrowser, waitForGlobal, type BrowserName } from '../../test/support/browsers.js';
import type { api as SdkApi, SdkEngineChoice } from './sdk-page.js';

const MiB = 1 << 20;
const SIZE_MIB = Number(process.env.BROWSER_BENCH_MIB ?? 256);
const ROUNDS = Number(process.env.BROWSER_BENCH_ROUNDS ?? 2);
const ENGINES = (process.env.BROWSER_BENCH_ENGINES ?? 'workers,default').split(',') as SdkEngineChoice[];
const PARTS = Number(process.env.BROWSER_BENCH_PARTS ?? 3);
const PATHS = process.env.BROWSER_BENCH_PATHS !== '0';
const BROWSER = (process.env.BROWSER_BENCH_BROWSER ?? 'chromium') as BrowserName;

type Api = typeof SdkApi;

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
        `8 MiB parts, ${PARTS} parts in flight, ${ROUNDS} rounds (order alternating), medians; blob server: ${blobs.url} (own process)`,
    );

    if (PATHS) {
      // The measurement behind the adapters' body path (lib/storage/blob/body.ts). 32 MiB each.
      const n = 32;
      await call('sdkBackup', 'workers', PARTS); // an archive to download
      const up: Record<string, number[]> = { uint8array: [], blob: [] };
      const upTask: Record<string, number> = { uint8array: 0, blob: 0 };
      const down: Record<string, number[]> = { arrayBuffer: [], stream: [], blob: [] };
      for (let r = 0; r < 2; r++) {
        for (const b of r % 2 === 0 ? (['uint8array', 'blob'] as const) : (['blob', 'uint8array'] as const)) {
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

    let worstTask = 0;
    const finalLines: string[] = [];
    for (const engine of ENGINES) {
      const t = { backup: [] as number[], enc: [] as number[], up: [] as number[], restore: [] as number[], dec: [] as number[], down: [] as number[] };
      const task = { backup: 0, restore: 0 };
      const tasks = { backup: [] as number[], restore: [] as number[] };
      for (let r = 0; r < ROUNDS; r++) {
        const flip = r % 2 === 1;
        const backupRefs = async (): Promise<void> => {
          t.enc.push((await call('encryptOnly', engine)).ms);
          t.up.push((await call('rawUpload', SIZE_MIB, PARTS, 'blob')).ms);
        };
        if (flip) await backupRefs();
        const b = await call('sdkBackup', engine, PARTS);
        t.backup.push(b.ms);
        task.backup = Math.max(task.backup, b.longestTaskMs);
        tasks.backup.push(...b.tasks);
        if (!flip) await backupRefs();
        const restoreRefs = async (): Promise<void> => {
          t.dec.push((await call('decryptOnly', engine)).ms);
          t.down.push((await call('rawDownload', 4, 3, 'blob')).ms);
        };
        if (flip) await restoreRefs();
        const x = await call('sdkRestore', engine);
        t.restore.push(x.ms);
        task.restore = Math.max(task.restore, x.longestTaskMs);
        tasks.restore.push(...x.tasks);
        if (!flip) await restoreRefs();
      }
      const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
      const list = (xs: number[]): string => xs.map((x) => (x / 1000).toFixed(2)).join(', ');
      console.log(`engine ${engine}:`);
      console.log(`  SDK backup      ${(m.backup / 1000).toFixed(2)} s  ${mbs(m.backup)}   (rounds ${list(t.backup)} s; long tasks ${tasks.backup.join(', ') || 'none'} ms)`);
      console.log(`  encrypt alone   ${(m.enc / 1000).toFixed(2)} s  ${mbs(m.enc)}   (rounds ${list(t.enc)} s)`);
      console.log(`  raw upload      ${(m.up / 1000).toFixed(2)} s  ${mbs(m.up)}   (rounds ${list(t.up)} s)`);
      console.log(`  SDK restore     ${(m.restore / 1000).toFixed(2)} s  ${mbs(m.restore)}   (rounds ${list(t.restore)} s; long tasks ${tasks.restore.join(', ') || 'none'} ms)`);
      console.log(`  decrypt alone   ${(m.dec / 1000).toFixed(2)} s  ${mbs(m.dec)}   (rounds ${list(t.dec)} s)`);
      console.log(`  raw download    ${(m.down / 1000).toFixed(2)} s  ${mbs(m.down)}   (rounds ${list(t.down)} s)`);
      const br = m.backup / Math.max(m.enc, m.up);
      const rr = m.restore / Math.max(m.dec, m.down);
      console.log(`  [${engine}] backup ratio: ${br.toFixed(2)}, restore ratio: ${rr.toFixed(2)}, longest main-thread task: ${Math.max(task.backup, task.restore).toFixed(0)} ms`);
      if (engine === 'workers') {
        worstTask = Math.max(task.backup, task.restore);
        finalLines.push(`backup ratio: ${br.toFixed(2)}`, `restore ratio: ${rr.toFixed(2)}`);
      } else if (!ENGINES.includes('workers') && finalLines.length === 0) {
        worstTask = Math.max(task.backup, task.restore);
        finalLines.push(`backup ratio: ${br.toFixed(2)}`, `restore ratio: ${rr.toFixed(2)}`);
      }
    }
    await call('shutdown');
    // The closing lines are the worker engine's (the one the guide recommends in browsers).
    for (const l of finalLines) console.log(l);
    console.log(`longest main-thread task: ${worstTask.toFixed(0)} ms`);
  } finally {
    await browser.close();
    server.close();
    blobs.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
