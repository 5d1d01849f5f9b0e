// The reference server handlers (vault, blob store, witness log) run inside each browser on the
// engine's own Request: every body is read (Firefox's Request has no `body` property), and one
// over each handler's cap is refused. The scenario is test/server/handler-scenario.ts.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServedHandler } from '../../lib/server/index.js';
import { describeBrowsers, launchBrowser, waitForGlobal, type TestBrowser, type TestPage } from '../support/browsers.js';
import { bundlePage, servePage } from '../support/test-page.js';
import type { HandlerScenarioResult } from './handler-scenario.js';
import { EXPECTED } from './handler-scenario.js';

const PAGE = `
import { runHandlerScenario } from './test/server/handler-scenario.ts';
globalThis.handlerScenario = runHandlerScenario;
`;
let files: Promise<Map<string, string>> | undefined;

describeBrowsers('server handlers on the engine’s own Request', (engine) => {
  let served: ServedHandler | undefined;
  let browser: TestBrowser | undefined;
  let page: TestPage;

  beforeAll(async () => {
    served = await servePage({ files: await (files ??= bundlePage(PAGE)) });
    browser = await launchBrowser(engine);
    page = await browser.newPage();
    await page.goto(`${served.url}/`);
    await waitForGlobal(page, 'handlerScenario');
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('vault, blob store and witness read every body, and refuse one over the cap', async () => {
    const r = await page.evaluate(() => (globalThis as unknown as { handlerScenario: () => Promise<HandlerScenarioResult> }).handlerScenario());
    // Which engines this covers: Firefox's Request has no body (ESR 153); Chromium's and WebKit's do.
    expect(r.requestHasBody).toBe(engine !== 'firefox');
    expect({ vault: r.vault, blobs: r.blobs, witness: r.witness }).toEqual(EXPECTED);
    expect(await page.consoleErrors()).toEqual([]);
  });
});
