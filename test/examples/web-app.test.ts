// examples/web-app from the packed tarball, as GETTING-STARTED.md tells an app developer to do it:
// the example copied into a scratch app with the tarball unpacked as its e2ee-backup, the fleet
// set up, the whole app type-checked (skipLibCheck: false) and built with Vite, its backend started
// (reference vault, vault tokens, S3 URLs presigned by @aws-sdk/s3-request-presigner against
// s3rver, which checks every signature), and the page driven in headless Chromium: enable, back
// up 12 MB with progress that moves, restore on a second, fresh browser profile with the code.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshotOnFailure, skipWithoutChromium } from '../support/chromium.js';
import { packPackage, repoRoot, scratchApp, type Packed } from '../package/scratch-app.js';

const EXAMPLE = path.join(repoRoot, 'examples', 'web-app');
/** What the example's package.json lists beyond e2ee-backup, linked from this repository. */
const LINKED = ['@types/node', '@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner', 's3rver', 'tsx', 'typescript', 'vite'];

let packed: Packed;
let app: string;
let backend: ChildProcess | undefined;
let url: string;
let browser: Browser | undefined;

function run(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(async () => {
  packed = packPackage();
  app = scratchApp(packed, 'web-app', LINKED);
  cpSync(EXAMPLE, app, { recursive: true, filter: (src) => !/[\\/](node_modules|dist|\.fleet)$|fleet\.json$/.test(src) });
  run(['--import', 'tsx', 'server/fleet-setup.ts']);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  if (backend !== undefined && backend.exitCode === null) {
    const exited = new Promise((resolve) => backend!.once('exit', resolve));
    backend.kill('SIGTERM');
    await exited;
  }
  packed?.dispose();
});

describe('examples/web-app from the packed tarball', () => {
  it('type-checks with skipLibCheck: false', () => {
    let out = '';
    try {
      run([path.join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? e);
    }
    expect(out).toBe('');
  }, 180_000);

  it('builds with Vite (the cipher worker emitted beside the app)', async () => {
    const { build } = await import('vite');
    const result = await build({ root: app, configFile: path.join(app, 'vite.config.ts'), logLevel: 'error' });
    const files = (Array.isArray(result) ? result : [result]).flatMap((r) => ('output' in r ? r.output.map((o) => o.fileName) : []));
    expect(files.some((f) => /chacha-worker.*\.js$/.test(f)), files.join(', ')).toBe(true);
  }, 180_000);

  it('serves: the backend starts with the vault, token and presign endpoints', async () => {
    backend = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { cwd: app, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    backend.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    url = await new Promise<string>((resolve, reject) => {
      backend!.stdout!.on('data', (d: Buffer) => {
        log += d.toString();
        const m = /example backend on (http:\/\/[0-9.:]+)/.exec(log);
        if (m !== null) resolve(m[1]!);
      });
      backend!.once('exit', (code) => reject(new Error(`backend exited ${code}: ${log}`)));
    });
    const anonymous = await fetch(`${url}/api/vault-token`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    const other = await fetch(`${url}/api/presign`, {
      method: 'POST',
      headers: { 'x-example-user': 'alice' },
      body: JSON.stringify({ op: 'get', key: 'users/bob/latest' }),
    });
    expect(other.status).toBe(403); // the backend signs only the user's own keys
  }, 120_000);

  it.skipIf(skipWithoutChromium)('enable -> backup (progress moves) -> restore on a fresh profile, byte-identical', async () => {
    browser = await launchChromium();
    const phone = await browser.newContext();
    const page = await phone.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await screenshotOnFailure(page, 'example-web-app', async () => {
      await page.goto(`${url}/?user=alice&size=12000000`);
      await page.click('#enable');
      await page.waitForFunction(() => (document.getElementById('code')?.textContent ?? '').length > 20 || document.getElementById('error')?.textContent, undefined, { timeout: 90_000 });
      expect(await page.textContent('#error')).toBe('');
      const code = (await page.textContent('#code'))!;
      await page.click('#backup');
      await page.waitForFunction(() => document.getElementById('backup-result')?.textContent || document.getElementById('error')?.textContent, undefined, { timeout: 90_000 });
      expect(await page.textContent('#error')).toBe('');
      const backedUp = (await page.textContent('#backup-result'))!;
      const steps = JSON.parse((await page.getAttribute('#backup-result', 'data-steps'))!) as number[];
      expect(steps.filter((s) => s > 0 && s < 1).length).toBeGreaterThanOrEqual(1); // 12 MB in 5 MiB parts: 3 steps
      expect(steps.at(-1)).toBe(1);

      const laptop = await browser!.newContext(); // a new device: empty IndexedDB
      const page2 = await laptop.newPage();
      page2.on('pageerror', (e) => errors.push(String(e)));
      await page2.goto(`${url}/?user=alice`);
      await page2.fill('#restore-code', code);
      await page2.click('#restore');
      await page2.waitForFunction(() => document.getElementById('restore-result')?.textContent || document.getElementById('error')?.textContent, undefined, { timeout: 90_000 });
      expect(await page2.textContent('#error')).toBe('');
      const restored = (await page2.textContent('#restore-result'))!;
      expect(restored).toMatch(/^restored 12000000 bytes, sha256 [0-9a-f]{64}$/);
      expect(restored.slice(restored.indexOf('sha256'))).toBe(backedUp.slice(backedUp.indexOf('sha256')));
      expect(errors).toEqual([]);
    });
  }, 240_000);
});
