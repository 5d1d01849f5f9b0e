// bench/demo.ts (`npx tsx bench/demo.ts`): the demo's own 256 MB backup and restore, timed the way
// a user sees them: the Vite dev server (vault, blob store and witness log inside it) and the demo
// page in headless Chromium, clicked through: generate the 256 MB sample, enable, back up (the time
// the page prints), then restore as a new device until the whole archive is verified. Also the
// sample generator alone in the page (its stream read to the end). Env: DEMO_BENCH_ROUNDS (2).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';
import { CHROMIUM, CHROMIUM_ARGS } from '../test/support/chromium.js';

const ROUNDS = Number(process.env.DEMO_BENCH_ROUNDS ?? 2);
const CONFIG = fileURLToPath(new URL('../demo/vite.config.ts', import.meta.url));

const cacheDir = mkdtempSync(join(tmpdir(), 'e2ee-demo-bench-'));
const server = await createServer({ configFile: CONFIG, cacheDir, server: { host: '127.0.0.1', port: 0, strictPort: true, hmr: false }, logLevel: 'warn' });
await server.listen();
const url = server.resolvedUrls?.local[0] ?? '';
const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForFunction(() => document.body?.getAttribute('data-ready') === 'true', undefined, { timeout: 60_000 });
  const attr = (id: string, name: string): Promise<string | null> => page.evaluate(([i, n]) => document.getElementById(i)?.getAttribute(n) ?? null, [id, name] as const);
  const text = (id: string): Promise<string> => page.evaluate((i) => document.getElementById(i)?.textContent ?? '', id);
  const until = async (f: () => Promise<boolean>, timeoutMs: number): Promise<void> => {
    const end = Date.now() + timeoutMs;
    while (!(await f())) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await page.evaluate(() => {
    const el = document.getElementById('archive-size') as HTMLSelectElement;
    el.value = '256m';
    el.dispatchEvent(new Event('change', { bubbles: true }));
  });
  await page.click('#generate');
  await until(async () => (await attr('archive-summary', 'data-bytes')) !== null, 60_000);
  const bytes = Number(await attr('archive-summary', 'data-bytes'));
  await page.click('#enable');
  await until(async () => /^[0-9A-Z-]{20,}$/.test(await text('recovery-code')), 60_000);
  const code = await text('recovery-code');
  // The generator alone, in the page: the demo's module, its stream read to the end.
  const genMs = await page.evaluate(async () => {
    const mod = (await import('/archive.ts' as string)) as typeof import('../demo/archive.js');
    const plan = mod.planArchive({ sizeId: '256m', media: true, seed: 99, now: Date.now() });
    const t0 = performance.now();
    const reader = mod.archiveStream(plan).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read());
    return performance.now() - t0;
  });
  console.log(`demo bench — chromium ${browser.version()} (headless), Vite dev server, sample ${(bytes / 1e6).toFixed(0)} MB; sample generator alone in the page: ${(genMs / 1000).toFixed(2)} s`);
  for (let r = 0; r < ROUNDS; r++) {
    await page.click('#backup');
    await until(async () => (await attr('backup-status', 'data-state')) === 'done', 600_000);
    const status = await text('backup-status');
    const secs = Number(/in ([\d.]+) s/.exec(status)?.[1] ?? NaN);
    const t0 = Date.now();
    await page.click('#new-device');
    await until(async () => /new device/.test(await text('restore-status')), 60_000);
    await page.fill('#restore-code', code);
    const t1 = Date.now();
    await page.click('#restore');
    await until(async () => (await attr('restore-status', 'data-state')) === 'verified', 600_000);
    const restoreSecs = (Date.now() - t1) / 1000;
    console.log(`round ${r + 1}: backup ${secs.toFixed(1)} s (${(bytes / 1e6 / secs).toFixed(1)} MB/s, as the page prints it); restore to verified ${restoreSecs.toFixed(1)} s (${(bytes / 1e6 / restoreSecs).toFixed(1)} MB/s, from the click)${t0 ? '' : ''}`);
    // Back to an enrolled device with the key for the next backup.
    if (r + 1 < ROUNDS) {
      await page.goto(url);
      await page.waitForFunction(() => document.body?.getAttribute('data-ready') === 'true', undefined, { timeout: 60_000 });
      await page.evaluate(() => {
        const el = document.getElementById('archive-size') as HTMLSelectElement;
        el.value = '256m';
        el.dispatchEvent(new Event('change', { bubbles: true }));
      });
      await page.click('#generate');
      await until(async () => (await attr('archive-summary', 'data-bytes')) !== null, 60_000);
    }
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(cacheDir, { recursive: true, force: true });
}
