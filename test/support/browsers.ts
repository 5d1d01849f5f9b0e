// One small seam over three browser drivers, so each browser suite is written once and runs in
// Chromium, Firefox and WebKit (issue 18):
//
// - Chromium: Debian's /usr/bin/chromium through playwright-core (test/support/chromium.ts).
// - Firefox: Debian's /usr/bin/firefox-esr through puppeteer-core over WebDriver BiDi (no driver binary).
// - WebKit: Debian's WebKitWebDriver (webkit2gtk-driver) and its MiniBrowser under `xvfb-run -a`,
//   through webdriverio over classic WebDriver (this driver has no BiDi).
//
// A page offers what the suites need and nothing more: goto, reload, evaluate, click, fill, read
// text, screenshot, console errors. Classic WebDriver cannot read the console, so every test page
// loads a same-origin error capture (ERROR_CAPTURE_PATH, served by the test's own server) that
// records uncaught errors, unhandled rejections and console.error; WebKit reads it back, the other
// two listen to the driver's console events.
//
// Locally a missing browser skips its suites; under CI (`CI` set, as .ci/run does) it fails them,
// as Chromium always has. E2EE_BROWSERS=firefox,webkit narrows a local run to some engines.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { describe } from 'vitest';
import type { CDPSession } from 'playwright-core';
import { ARTIFACTS, CHROMIUM, inCi, launchChromium, launchChromiumProfile } from './chromium.js';

export type BrowserName = 'chromium' | 'firefox' | 'webkit';
export const BROWSERS: readonly BrowserName[] = ['chromium', 'firefox', 'webkit'];
export const BROWSER_LABEL: Readonly<Record<BrowserName, string>> = { chromium: 'Chromium', firefox: 'Firefox', webkit: 'WebKit' };

export const FIREFOX = '/usr/bin/firefox-esr';
export const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver';
export const XVFB_RUN = '/usr/bin/xvfb-run';
/** Debian's MiniBrowser (webkit2gtk-driver pulls in libwebkit2gtk-4.1), by multiarch directory. */
export const MINIBROWSER = ['x86_64-linux-gnu', 'aarch64-linux-gnu'].map((a) => `/usr/lib/${a}/webkit2gtk-4.1/MiniBrowser`).find((p) => existsSync(p)) ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

const NEEDS: Readonly<Record<BrowserName, readonly string[]>> = {
  chromium: [CHROMIUM],
  firefox: [FIREFOX],
  webkit: [WEBKIT_DRIVER, XVFB_RUN, MINIBROWSER],
};
const APT: Readonly<Record<BrowserName, string>> = { chromium: 'chromium', firefox: 'firefox-esr', webkit: 'webkit2gtk-driver, xvfb and xauth' };

export function haveBrowser(name: BrowserName): boolean {
  return NEEDS[name].every((p) => existsSync(p));
}

/** The engines E2EE_BROWSERS selects (all three when unset). */
const selected: readonly BrowserName[] = (() => {
  const env = process.env.E2EE_BROWSERS;
  if (env === undefined || env.trim() === '') return BROWSERS;
  const names = env.split(',').map((s) => s.trim());
  return BROWSERS.filter((b) => names.includes(b));
})();

/** For `describe.skipIf`: locally, a browser that is missing or not selected; under CI, never a missing one. */
export function skipBrowser(name: BrowserName): boolean {
  if (!selected.includes(name)) return true;
  return !haveBrowser(name) && !inCi;
}

/**
 * `describe` once per engine in `engines` (default all three), titled "`title` in Chromium" etc.,
 * each skipped by {@link skipBrowser}.
 */
export function describeBrowsers(title: string, body: (name: BrowserName) => void, engines: readonly BrowserName[] = BROWSERS): void {
  for (const name of engines) describe.skipIf(skipBrowser(name))(`${title} in ${BROWSER_LABEL[name]}`, () => body(name));
}

/** The same-origin script every test page loads first: `<script src=ERROR_CAPTURE_PATH>`. */
export const ERROR_CAPTURE_PATH = '/__e2ee-error-capture.js';
export const ERROR_CAPTURE_TAG = `<script src="${ERROR_CAPTURE_PATH}"></script>`;
export const ERROR_CAPTURE_JS = `(() => {
  const errors = (globalThis.__e2eeTestErrors = []);
  addEventListener('error', (e) => errors.push(String(e.error ?? e.message)));
  addEventListener('unhandledrejection', (e) => errors.push('unhandled rejection: ' + String(e.reason)));
  const original = console.error;
  console.error = (...args) => { errors.push(args.map(String).join(' ')); original.apply(console, args); };
})();`;

/** A minimal page: the error capture, then `body` (script tags and markup). */
export function testPageHtml(body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">${ERROR_CAPTURE_TAG}</head><body>${body}</body></html>`;
}

/** What a suite does with a page, in any engine. */
export interface TestPage {
  readonly engine: BrowserName;
  goto(url: string): Promise<void>;
  reload(): Promise<void>;
  /**
   * Runs `fn` in the page with one JSON-serialisable argument and returns its JSON-serialisable
   * result (awaited when a promise). `fn` is sent as source: it may not close over Node values.
   */
  evaluate<R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<R>;
  /** Clicks the first element matching the CSS selector (waiting until there is one). */
  click(selector: string): Promise<void>;
  /** Replaces the value of an input matching the CSS selector, as typing would. */
  fill(selector: string, value: string): Promise<void>;
  /** The `textContent` of the first element matching the CSS selector ('' when none). */
  text(selector: string): Promise<string>;
  screenshot(path: string): Promise<void>;
  /** Uncaught errors, unhandled rejections and console.error messages seen so far. */
  consoleErrors(): Promise<string[]>;
  /**
   * Chromium only (undefined elsewhere): sends a DevTools protocol command on this page's own CDP
   * session (e.g. the WebAuthn virtual authenticator, which Firefox and WebKit cannot automate).
   */
  readonly cdp?: (method: string, params?: Record<string, unknown>) => Promise<unknown>;
}

/** A running browser. */
export interface TestBrowser {
  readonly engine: BrowserName;
  /** Product and version, e.g. "Chromium 156.0.8078.114", "Firefox 153.8.0", "WebKitGTK 2.50.6". */
  readonly version: string;
  /** A new page (tab). WebKit holds one page at a time: a new one closes the one before. */
  newPage(): Promise<TestPage>;
  close(): Promise<void>;
}

export interface LaunchBrowserOptions {
  /**
   * A profile directory of its own, kept across a close and a new launch (Chromium and Firefox).
   * WebKit's MiniBrowser in automation mode is always ephemeral: launching WebKit with a profile throws.
   */
  readonly profileDir?: string;
}

/** Engines whose profile survives a browser restart (see LaunchBrowserOptions.profileDir). */
export const PERSISTENT_PROFILE: readonly BrowserName[] = ['chromium', 'firefox'];

function requireBrowser(name: BrowserName): void {
  const missing = NEEDS[name].filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing (CI installs Debian's ${APT[name]})`);
}

/** Launches `name`; throws at once when it is not installed. */
export async function launchBrowser(name: BrowserName, options: LaunchBrowserOptions = {}): Promise<TestBrowser> {
  requireBrowser(name);
  switch (name) {
    case 'chromium':
      return launchChromiumSeam(options);
    case 'firefox':
      return launchFirefox(options);
    case 'webkit':
      if (options.profileDir !== undefined) throw new Error('WebKit (MiniBrowser --automation) has no persistent profile');
      return launchWebKit();
  }
}

/** Runs `story`; if it throws, saves a screenshot of `page` as ARTIFACTS/`<name>-<engine>-failure.png`, then rethrows. */
export async function screenshotOnFailure(page: TestPage, name: string, story: () => Promise<void>): Promise<void> {
  try {
    await story();
  } catch (e) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot(`${ARTIFACTS}${name}-${page.engine}-failure.png`).catch(() => undefined);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers over the seam, the same in every engine.

/** Polls `fn` in the page until it returns a truthy value, which it returns; throws after `timeoutMs`. */
export async function waitForPage<R, A = undefined>(page: TestPage, fn: (arg: A) => R | Promise<R>, arg?: A, timeoutMs = 30_000): Promise<R> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const r = await page.evaluate(fn, arg);
      if (r) return r;
    } catch (e) {
      last = e; // a navigation in progress
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${fn.toString().slice(0, 120)}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until `globalThis[name]` is defined (the page's bundle has run). */
export async function waitForGlobal(page: TestPage, name: string, timeoutMs = 30_000): Promise<void> {
  await waitForPage(page, (n) => n in globalThis, name, timeoutMs).catch(async (e: unknown) => {
    throw new Error(`${String(e)}; page errors: ${(await page.consoleErrors().catch(() => [])).join('; ')}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Chromium: playwright-core.

async function launchChromiumSeam(options: LaunchBrowserOptions): Promise<TestBrowser> {
  const { context, close, version } =
    options.profileDir === undefined
      ? await launchChromium().then(async (b) => ({ context: await b.newContext(), close: () => b.close(), version: b.version() }))
      : await launchChromiumProfile(options.profileDir).then((c) => ({ context: c, close: () => c.close(), version: c.browser()?.version() ?? '' }));
  return {
    engine: 'chromium',
    version: `Chromium ${version}`,
    async newPage() {
      const page = context.pages().length === 1 && context.pages()[0]!.url() === 'about:blank' ? context.pages()[0]! : await context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        // Chromium logs every 4xx/5xx answer as "Failed to load resource": network, not script
        // errors (a 404 for a deleted blob is the expected answer); the other engines do not.
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      let session: Promise<CDPSession> | undefined;
      return {
        engine: 'chromium',
        cdp: async (method, params) => (await (session ??= context.newCDPSession(page))).send(method as never, params as never),
        goto: async (url) => void (await page.goto(url)),
        reload: async () => void (await page.reload()),
        evaluate: (fn, arg) => page.evaluate(fn, arg as never),
        // force: under CPU load the stability wait (animation frames) can lag by seconds.
        click: (s) => page.locator(s).first().click({ force: true }),
        fill: (s, v) => page.locator(s).first().fill(v),
        text: (s) => page.evaluate((sel) => document.querySelector(sel)?.textContent ?? '', s),
        screenshot: async (path) => void (await page.screenshot({ path, fullPage: true })),
        consoleErrors: async () => [...errors],
      };
    },
    close,
  };
}

// ---------------------------------------------------------------------------------------------
// Firefox: puppeteer-core over WebDriver BiDi.

async function launchFirefox(options: LaunchBrowserOptions): Promise<TestBrowser> {
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    ...(options.profileDir === undefined ? {} : { userDataDir: options.profileDir }),
    // Nothing off the machine on its own (puppeteer already turns off updates and telemetry).
    extraPrefsFirefox: { 'network.captive-portal-service.enabled': false, 'network.connectivity-service.enabled': false },
  });
  const version = (await browser.version()).replace(/^firefox\//i, '');
  return {
    engine: 'firefox',
    version: `Firefox ${version}`,
    async newPage() {
      const page = await browser.newPage();
      page.setDefaultTimeout(60_000);
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      return {
        engine: 'firefox',
        goto: async (url) => void (await page.goto(url)),
        reload: async () => void (await page.reload()),
        evaluate: (fn, arg) => page.evaluate(fn as (a: unknown) => unknown, arg) as never,
        click: async (s) => {
          const el = await page.waitForSelector(s);
          await el!.click();
        },
        // Not page.locator(s).fill(): with Firefox ESR 140 over WebDriver BiDi it waited out its
        // timeout on the demo's recovery-code input. Focus, select what is there, type.
        fill: async (s, v) => {
          const el = await page.waitForSelector(s, { visible: true });
          await el!.evaluate((e) => {
            (e as HTMLInputElement).focus();
            (e as HTMLInputElement).select();
          });
          await el!.type(v);
        },
        text: (s) => page.evaluate((sel) => document.querySelector(sel)?.textContent ?? '', s),
        screenshot: async (path) => void (await page.screenshot({ path: path as `${string}.png`, fullPage: true })),
        consoleErrors: async () => [...errors],
      };
    },
    close: () => browser.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// WebKit: webdriverio, classic WebDriver, WebKitWebDriver + MiniBrowser under xvfb-run.

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function stopGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM'); // xvfb-run, Xvfb, the driver and its MiniBrowsers
  } catch {
    // already gone
  }
}

/**
 * Stops WebKitWebDriver, the command xvfb-run runs: xvfb-run then stops its Xvfb, waits for both
 * and exits, so nothing is left unreaped. The whole process group goes if that takes over 5 s.
 */
async function stopDriver(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const k of kids) process.kill(Number(k), 'SIGTERM');
    if (kids.length === 0) stopGroup(child);
  } catch {
    stopGroup(child);
  }
  const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
  if (!done) stopGroup(child);
}

async function launchWebKit(): Promise<TestBrowser> {
  const { remote } = await import('webdriverio');
  const port = await freePort();
  // Its own process group, so close() stops Xvfb and every MiniBrowser with the driver.
  // -a searches up from -n for a free display; a random start keeps parallel test files from
  // racing for the same one.
  const display = String(100 + Math.floor(Math.random() * 5000));
  const driver = spawn(XVFB_RUN, ['-a', '-n', display, WEBKIT_DRIVER, `--port=${port}`, '--host=127.0.0.1'], { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((resolve) => driver.once('exit', () => resolve()));
  try {
    const end = Date.now() + 30_000;
    while (!(await portOpen(port))) {
      if (driver.exitCode !== null || Date.now() > end) throw new Error(`WebKitWebDriver did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    stopGroup(driver);
    throw e;
  }
  const sessions = new Set<{ deleteSession(): Promise<unknown> }>();
  let version = '';
  // WebKitGTK's vendor capability is not in webdriverio's types.
  const capabilities = {
    browserName: 'MiniBrowser',
    'wdio:enforceWebDriverClassic': true,
    'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
    timeouts: { script: 600_000, pageLoad: 120_000, implicit: 0 },
  } as Parameters<typeof remote>[0]['capabilities'];
  const open = async () => {
    const b = await remote({ hostname: '127.0.0.1', port, logLevel: 'error', connectionRetryTimeout: 120_000, capabilities });
    sessions.add(b);
    version = String((b.capabilities as { browserVersion?: string }).browserVersion ?? '');
    return b;
  };
  // One session up front: the version, and a failed launch throws here rather than in a test.
  const first = await open().catch((e: unknown) => {
    stopGroup(driver);
    throw e;
  });
  let spare: typeof first | undefined = first;
  return {
    engine: 'webkit',
    get version() {
      return `WebKitGTK ${version}`;
    },
    async newPage() {
      // Each page is a session of its own (a MiniBrowser window), and WebKitWebDriver holds one
      // session at a time: a new page ends the previous one.
      let b = spare;
      if (b === undefined) {
        for (const s of sessions) await s.deleteSession().catch(() => undefined);
        sessions.clear();
        b = await open();
      }
      spare = undefined;
      const element = async (s: string) => {
        const el = b.$(s);
        await el.waitForExist({ timeout: 60_000 });
        return el;
      };
      // The result travels wrapped: webdriverio takes any answer with an `error` member for a
      // WebDriver error, and a suite may well return `{ error: 'TRUST_ROLLBACK' }`.
      const evaluate = async <R, A>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<R> => {
        const script = `return Promise.resolve((${fn.toString()})(arguments[0])).then((value) => ({ value }));`;
        const wrapped = (await b.execute(script, arg ?? null)) as { value: R };
        return wrapped.value;
      };
      return {
        engine: 'webkit',
        goto: async (url) => void (await b.url(url)),
        reload: async () => void (await b.refresh()),
        evaluate,
        click: async (s) => (await element(s)).click(),
        fill: async (s, v) => (await element(s)).setValue(v),
        text: (s) => evaluate((sel) => document.querySelector(sel)?.textContent ?? '', s),
        screenshot: async (path) => void (await b.saveScreenshot(path)),
        consoleErrors: () => evaluate(() => [...((globalThis as { __e2eeTestErrors?: string[] }).__e2eeTestErrors ?? [])]),
      };
    },
    async close() {
      for (const s of sessions) await s.deleteSession().catch(() => undefined);
      sessions.clear();
      await stopDriver(driver, exited);
    },
  };
}
