// bench/browser/profile.ts (`npx tsx bench/browser/profile.ts`): where the page's main thread spends
// its CPU during one SDK operation in headless Chromium: a V8 CPU profile (CDP Profiler, unminified
// bundle) of the page, top functions by self time, beside the operation's main-thread CPU (CDP
// ThreadTime). Env: PROFILE_MIB (64), PROFILE_ENGINE (workers-libsodium), PROFILE_OPS
// (encryptOnly,sdkBackup,decryptOnly,sdkRestore), PROFILE_TOP (25).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../lib/util/bytes.js';
import { startBlobServer } from '../support/blob-server.js';
import { bundle, descendantsCpuMs, serve } from './harness.js';
import { launchBrowser } from '../../test/support/browsers.js';
import type { SdkEngineChoice } from './sdk-page.js';

const MIB = Number(process.env.PROFILE_MIB ?? 64);
const ENGINE = (process.env.PROFILE_ENGINE ?? 'workers-libsodium') as SdkEngineChoice;
const OPS = (process.env.PROFILE_OPS ?? 'encryptOnly,sdkBackup,decryptOnly,sdkRestore').split(',');
const TOP = Number(process.env.PROFILE_TOP ?? 25);

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: number[];
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

const dir = mkdtempSync(join(tmpdir(), 'e2ee-profile-'));
await bundle(dir, './sdk-page.ts', false);
const { server, origin } = await serve(dir);
const blobs = await startBlobServer(MIB * 2 ** 21, origin);
const browser = await launchBrowser('chromium');
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  const cdp = page.cdp!;
  for (let i = 0; i < 600 && !(await page.evaluate(() => 'sdkBench' in globalThis)); i++) await new Promise((r) => setTimeout(r, 100));
  const call = (n: string, ...a: unknown[]): Promise<{ ms: number }> =>
    page.evaluate(([name, args]) => (globalThis as unknown as { sdkBench: Record<string, (...x: unknown[]) => Promise<{ ms: number }>> }).sdkBench[name]!(...args), [n, a] as [string, unknown[]]);
  await call('setup', blobs.url, toHex(blobs.signingKey), MIB);
  await call('sdkBackup', ENGINE, 3); // warm-up, and an archive for the restore ops
  await cdp('Performance.enable', { timeDomain: 'threadTicks' });
  await cdp('Profiler.enable');
  await cdp('Profiler.setSamplingInterval', { interval: 200 });
  const threadMs = async (): Promise<number> => {
    const { metrics } = (await cdp('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
    return 1000 * (metrics.find((m) => m.name === 'ThreadTime')?.value ?? Number.NaN);
  };
  console.log(`profile — chromium, ${MIB} MiB, engine ${ENGINE}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  for (const op of OPS) {
    const [name, arg] = op.split(':') as [string, string | undefined];
    const args = name === 'sdkBackup' ? [ENGINE, 3] : name === 'sourceOnly' ? [arg === undefined ? 'stream' : arg === 'byob' || arg === 'blobStream' ? arg : Number(arg)] : name === 'rawUpload' ? [MIB, 3, arg ?? 'blob'] : name === 'partCopy' ? [MIB, arg === 'fresh'] : name === 'rawDownload' ? [4, 3, arg ?? 'blob'] : [ENGINE];
    const t0 = await threadMs();
    const d0 = descendantsCpuMs();
    await cdp('Profiler.start');
    const r = await call(name, ...args);
    const { profile } = (await cdp('Profiler.stop')) as { profile: Profile };
    const cpu = (await threadMs()) - t0;
    const d1 = descendantsCpuMs();
    const groups = [...(d1 ?? [])]
      .map(([k, v]): [string, number] => [k, v - (d0?.get(k) ?? 0)])
      .filter(([, v]) => v >= 20)
      .sort((a, b) => b[1] - a[1]);
    const all = groups.reduce((a, [, v]) => a + v, 0);
    const self = new Map<number, number>();
    for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
    const byName = new Map<string, number>();
    let total = 0;
    for (const n of profile.nodes) {
      const us = self.get(n.id) ?? 0;
      if (n.callFrame.functionName === '(idle)') continue;
      total += us;
      const file = n.callFrame.url.split('/').pop() ?? '';
      const key = `${n.callFrame.functionName || '(anonymous)'} ${file}:${n.callFrame.lineNumber + 1}`;
      byName.set(key, (byName.get(key) ?? 0) + us);
    }
    const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, TOP);
    console.log(`${op}: ${(r.ms / 1000).toFixed(2)} s wall, main-thread CPU ${cpu.toFixed(0)} ms, sampled non-idle ${(total / 1000).toFixed(0)} ms`);
    console.log(`  CPU ms of every process, ${all} in all: ${groups.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    for (const [k, us] of top) console.log(`  ${(us / 1000).toFixed(1).padStart(7)} ms  ${k}`);
  }
  await call('shutdown');
} finally {
  await browser.close();
  server.close();
  blobs.close();
  rmSync(dir, { recursive: true, force: true });
}
