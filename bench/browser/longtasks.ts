// bench/browser/longtasks.ts (`npx tsx bench/browser/longtasks.ts`): where the page's main thread
// spends its long tasks during an SDK backup and restore in headless Chromium, from a Chrome trace:
// each task's wall time (what PerformanceObserver 'longtask' reports) beside its CPU time (the
// trace's thread time). On a loaded machine a task's wall time includes the time the thread was
// descheduled, which CPU time does not. Env: LONGTASKS_MIB (256), LONGTASKS_ENGINE (workers),
// LONGTASKS_KEEP (set: keep the trace files and print where).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { toHex } from '../../lib/util/bytes.js';
import { startBlobServer } from '../support/blob-server.js';
import { bundle, serve, CHROMIUM } from './harness.js';
import { CHROMIUM_ARGS } from '../../test/support/chromium.js';
import type { SdkEngineChoice } from './sdk-page.js';

const MIB = Number(process.env.LONGTASKS_MIB ?? 256);
const ENGINE = (process.env.LONGTASKS_ENGINE ?? 'workers') as SdkEngineChoice;

interface TraceEvent {
  readonly ph?: string;
  readonly name?: string;
  readonly pid?: number;
  readonly tid?: number;
  readonly dur?: number;
  readonly tdur?: number;
  readonly args?: { readonly name?: string };
}

/** The renderer main thread's tasks: [wall ms, cpu ms], longest wall first. */
function mainTasks(path: string): [number, number][] {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { traceEvents?: TraceEvent[] } | TraceEvent[];
  const ev = Array.isArray(raw) ? raw : (raw.traceEvents ?? []);
  // The trace can hold several renderers (the tab's first blank document, the page): take the
  // CrRendererMain thread that ran the most CPU time, which is the page's.
  const mains = ev.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  const tasksOf = (m: TraceEvent): [number, number][] =>
    ev
      // 'RunTask' (category toplevel) spans the whole task, its microtask checkpoint included;
      // ThreadControllerImpl::RunTask ends before the checkpoint, so it misses promise-chain work.
      .filter((e) => e.ph === 'X' && e.name === 'RunTask' && e.pid === m.pid && e.tid === m.tid)
      .map((e): [number, number] => [(e.dur ?? 0) / 1000, (e.tdur ?? 0) / 1000]);
  const cpu = (t: [number, number][]): number => t.reduce((a, x) => a + x[1], 0);
  const best = mains.map(tasksOf).sort((a, b) => cpu(b) - cpu(a))[0] ?? [];
  return best.sort((a, b) => b[0] - a[0]);
}

const dir = mkdtempSync(join(tmpdir(), 'e2ee-longtasks-'));
await bundle(dir, './sdk-page.ts');
const { server, origin } = await serve(dir);
const blobs = await startBlobServer(MIB * 2 ** 21, origin);
const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => 'sdkBench' in globalThis, undefined, { timeout: 60_000 });
  const call = (n: string, ...a: unknown[]): Promise<{ ms: number; tasks: number[] }> =>
    page.evaluate(([name, args]) => (globalThis as unknown as { sdkBench: Record<string, (...x: unknown[]) => Promise<{ ms: number; tasks: number[] }>> }).sdkBench[name]!(...args), [n, a] as [string, unknown[]]);
  await call('setup', blobs.url, toHex(blobs.signingKey), MIB);
  await call('sdkBackup', ENGINE, 3); // warm-up (JIT, workers)
  console.log(`longtasks — chromium ${browser.version()}, ${MIB} MiB, engine ${ENGINE}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  for (const op of ['sdkBackup', 'sdkRestore'] as const) {
    const path = join(dir, `${op}.json`);
    await browser.startTracing(page, { path, categories: ['toplevel', 'disabled-by-default-devtools.timeline'] });
    const r = await call(op, ENGINE, 3);
    await browser.stopTracing();
    const tasks = mainTasks(path);
    const byCpu = [...tasks].sort((a, b) => b[1] - a[1]);
    const fmt = (t: [number, number]): string => `${t[0].toFixed(0)}/${t[1].toFixed(0)}`;
    console.log(
      `${op}: ${(r.ms / 1000).toFixed(2)} s; PerformanceObserver long tasks ${r.tasks.join(', ') || 'none'} ms; ` +
        `trace, longest by wall (wall/cpu ms): ${tasks.slice(0, 5).map(fmt).join(', ')}; longest by CPU: ${byCpu.slice(0, 3).map(fmt).join(', ')}; ` +
        `${tasks.length} tasks, ${tasks.filter((t) => t[0] >= 50).length} of 50 ms wall or more, ${tasks.filter((t) => t[1] >= 50).length} of 50 ms CPU or more`,
    );
  }
  await call('shutdown');
} finally {
  await browser.close();
  server.close();
  blobs.close();
  if (process.env.LONGTASKS_KEEP === undefined) rmSync(dir, { recursive: true, force: true });
  else console.log(`traces kept in ${dir}`);
}
