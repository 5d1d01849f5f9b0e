// What the demo's browser tests ask of its page: elements by id, their text, and waiting for them.
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/** Helpers over the page `getPage()` returns at call time (the page is opened in beforeAll). */
export function demoPage(getPage: () => Page) {
  const byId = (id: string) => getPage().locator(`#${id}`);
  const text = async (id: string) => (await byId(id).textContent()) ?? '';
  /** Waits until the element's text matches. */
  const waitFor = async (id: string, pattern: RegExp, timeout = 30_000) => {
    await expect.poll(() => text(id), { timeout, interval: 100 }).toMatch(pattern);
  };
  /** Waits until the demo says it is ready (body[data-ready="true"]). */
  const waitReady = async () => {
    await expect.poll(() => getPage().locator('body').getAttribute('data-ready'), { timeout: 30_000, interval: 100 }).toBe('true');
  };
  return { byId, text, waitFor, waitReady };
}
