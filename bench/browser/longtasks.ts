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
  readonly ts?: number;
  readonly dur?: number;
  readonly tdur?: number;
  readonly args?: { readonly name?: string; readonly data?: { readonly functionName?: string; readonly url?: string; readonly type?: string } };
}

/** One main-thread task: wall ms, CPU ms, and what ran inside it (event name → CPU ms, nested events counted in each). */
type Task = [number, number, string];

/** The renderer main thread's tasks: [wall ms, cpu ms, inside], longest wall first. */
function mainTasks(path: string): Task[] {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { traceEvents?: TraceEvent[] } | TraceEvent[];
  const ev = Array.isArray(raw) ? raw : (raw.traceEvents ?? []);
  // The trace can hold several renderers (the tab's first blank document, the page): take the
  // CrRendererMain thread that ran the most CPU time, which is the page's.
  const mains = ev.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  const tasksOf = (m: TraceEvent): Task[] => {
    const mine = ev.filter((e) => e.ph === 'X' && e.pid === m.pid && e.tid === m.tid).sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
    // 'RunTask' (category toplevel) spans the whole task, its microtask checkpoint included;
    // ThreadControllerImpl::RunTask ends before the checkpoint, so it misses promise-chain work.
    const runs = mine.filter((e) => e.name === 'RunTask');
    return runs.map((e): Task => {
      const start = e.ts ?? 0;
      const end = start + (e.dur ?? 0);
      const inside = new Map<string, number>();
      for (const x of mine) {
        if (x === e || (x.ts ?? 0) < start || (x.ts ?? 0) > end || x.name === 'RunTask') continue;
        const d = x.args?.data;
        const label = d?.functionName ? `${x.name}:${d.functionName}` : d?.type ? `${x.name}:${d.type}` : (x.name ?? '?');
        inside.set(label, (inside.get(label) ?? 0) + (x.tdur ?? x.dur ?? 0) / 1000);
      }
      const what = [...inside].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
      return [(e.dur ?? 0) / 1000, (e.tdur ?? 0) / 1000, what];
    });
  };
  const cpu = (t: Task[]): number => t.reduce((a, x) => a + x[1], 0);
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
  console.log(`longtasks — chromium ${browser.version()}, ${MIB} MiB, engine ${ENGINE}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}, ${new Date().toISOString()}`);
  for (const op of ['sdkBackup', 'sdkRestore'] as const) {
    const path = join(dir, `${op}.json`);
    await browser.startTracing(page, { path, categories: ['toplevel', 'devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'disabled-by-default-v8.gc', 'blink'] });
    const r = await call(op, ENGINE, 3);
    await browser.stopTracing();
    const tasks = mainTasks(path);
    const byCpu = [...tasks].sort((a, b) => b[1] - a[1]);
    const fmt = (t: Task): string => `${t[0].toFixed(0)}/${t[1].toFixed(0)}`;
    console.log(
      `${op}: ${(r.ms / 1000).toFixed(2)} s; PerformanceObserver long tasks ${r.tasks.join(', ') || 'none'} ms; ` +
        `trace, longest by wall (wall/cpu ms): ${tasks.slice(0, 5).map(fmt).join(', ')}; longest by CPU: ${byCpu.slice(0, 3).map(fmt).join(', ')}; ` +
        `${tasks.length} tasks, ${tasks.filter((t) => t[0] >= 50).length} of 50 ms wall or more, ${tasks.filter((t) => t[1] >= 50).length} of 50 ms CPU or more`,
    );
    // What ran inside the longest tasks (trace events nested in them, CPU ms; nested events count in each).
    for (const t of [...tasks.slice(0, 3), ...byCpu.slice(0, 3)]) console.log(`  ${fmt(t)}: ${t[2] || '(no nested events)'}`);
  }
  await call('shutdown');
} finally {
  await browser.close();
  server.close();
  blobs.close();
  if (process.env.LONGTASKS_KEEP === undefined) rmSync(dir, { recursive: true, force: true });
  else console.log(`traces kept in ${dir}`);
}
