/**
 * npm run bench:incremental [-- --mib=256 --rounds=2 --node-only --browser-only]
 *
 * A synthetic chat export (256 MiB by default), then 1% appended and a few edits: prints the bytes
 * each incremental backup uploaded, as a share of the export and of the bytes changed, and the
 * first incremental backup's time beside a plain backup's, with the chunker's throughput beside
 * the archive encryption's, in Node and in headless Chromium (default engines: node:crypto in
 * Node, noble in Chromium).
 */
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../test/support/chromium.js';
import { report, runWorkload } from './support/incremental-workload.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const mib = Number(arg('mib') ?? 256);
const rounds = Number(arg('rounds') ?? 2);
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

async function inChromium(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-incr-'));
  await build({
    entryPoints: { page: fileURLToPath(new URL('./incremental-page.ts', import.meta.url)) },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    outdir: dir,
    logLevel: 'error',
  });
  const server = createServer((req, res) => {
    if (req.url === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(join(dir, 'page.js')));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--js-flags=--max-old-space-size=8192'] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => 'e2eeIncremental' in globalThis, undefined, { timeout: 30_000 });
    page.setDefaultTimeout(0);
    return await page.evaluate(
      ([m, r]) => (globalThis as unknown as { e2eeIncremental: { run(m: number, r: number): Promise<string[]> } }).e2eeIncremental.run(m!, r!),
      [mib, rounds],
    );
  } finally {
    await browser.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`load average at start: ${load()}`);
if (!process.argv.includes('--browser-only')) {
  const r = await runWorkload(mib, rounds, (s) => console.log(`[node] ${s}`));
  for (const l of report('node', r)) console.log(l);
  console.log(`load average: ${load()}`);
}
if (!process.argv.includes('--node-only')) {
  for (const l of await inChromium()) console.log(l);
  console.log(`load average at end: ${load()}`);
}
