// Debian's Chromium (/usr/bin/chromium) for the tests that run in a real browser, through
// playwright-core: where it is, whether a suite runs without it, how to launch it, and a
// screenshot when a browser story fails.
//
// The browser suites go through test/support/browsers.ts (Chromium, Firefox, WebKit), which
// launches Chromium from here. A Chromium-only suite uses `skipWithoutChromium`: skipped locally
// without /usr/bin/chromium, but run (and failed, by launchChromium) under CI, where Chromium is
// installed and a silent skip would hide a broken browser path.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type LaunchOptions, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);
/** CI as CI services set it (any value but empty or `false`). */
export const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
/** For `describe.skipIf`: true locally without Chromium; under CI false, so the suite runs and fails. */
export const skipWithoutChromium = !haveChromium && !inCi;

/** Headless, no sandbox (containers), and nothing that reaches off the machine on its own. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function requireChromium(): void {
  if (!haveChromium) throw new Error(`${CHROMIUM} is missing (CI installs Debian's chromium)`);
}

/** Launches /usr/bin/chromium with CHROMIUM_ARGS unless `options.args` says otherwise; throws at once when it is missing. */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  requireChromium();
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS], ...options });
}

/** The same on a profile directory of its own (what survives a browser restart). */
export async function launchChromiumProfile(userDataDir: string, options: Parameters<typeof chromium.launchPersistentContext>[1] = {}): Promise<BrowserContext> {
  requireChromium();
  return chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, args: [...CHROMIUM_ARGS], ...options });
}

/** Where failure screenshots go (git-ignored). */
export const ARTIFACTS = fileURLToPath(new URL('../e2e/artifacts/', import.meta.url));

/** Runs `story`; if it throws, saves a full-page screenshot of `page` as ARTIFACTS/`<name>-failure.png`, then rethrows. */
export async function screenshotOnFailure(page: Page, name: string, story: () => Promise<void>): Promise<void> {
  try {
    await story();
  } catch (e) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}${name}-failure.png`, fullPage: true }).catch(() => undefined);
    throw e;
  }
}
