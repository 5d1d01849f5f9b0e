// What the demo's browser tests ask of its page, over the browser seam (test/support/browsers.ts):
// elements by id, their text and attributes, choosing, filling and clicking, and waiting.
import { expect } from 'vitest';
import type { TestPage } from '../support/browsers.js';

/** Helpers over the page `getPage()` returns at call time (the page is opened in beforeAll). */
export function demoPage(getPage: () => TestPage) {
  const text = (id: string) => getPage().text(`#${id}`);
  const attr = (id: string, name: string) => getPage().evaluate(([i, n]) => document.getElementById(i)?.getAttribute(n) ?? null, [id, name] as const);
  const click = (id: string) => getPage().click(`#${id}`);
  const fill = (id: string, value: string) => getPage().fill(`#${id}`, value);
  /** Chooses an option of a <select>, as the user would (input and change events). */
  const select = (id: string, value: string) =>
    getPage().evaluate(
      ([i, v]) => {
        const el = document.getElementById(i) as HTMLSelectElement;
        el.value = v;
        el.dispatchEvent(new Event('input', { bubbles: true }));
        el.dispatchEvent(new Event('change', { bubbles: true }));
      },
      [id, value] as const,
    );
  const count = (selector: string) => getPage().evaluate((s) => document.querySelectorAll(s).length, selector);
  /** Waits until the element's text matches. */
  const waitFor = async (id: string, pattern: RegExp, timeout = 30_000) => {
    await expect.poll(() => text(id), { timeout, interval: 100 }).toMatch(pattern);
  };
  /** Waits until the element's `data-<key>` is `value`. */
  const waitData = async (id: string, key: string, value: string, timeout = 30_000) => {
    await expect.poll(() => attr(id, `data-${key}`), { timeout, interval: 100 }).toBe(value);
  };
  /** Waits until the demo says it is ready (body[data-ready="true"]). */
  const waitReady = async () => {
    await expect.poll(() => getPage().evaluate(() => document.body?.getAttribute('data-ready') ?? null), { timeout: 30_000, interval: 100 }).toBe('true');
  };
  /** Marks the loaded document: gone after a reload or navigation (see `sameDocument`). */
  const markDocument = () => getPage().evaluate(() => void ((globalThis as { __e2eeDocMark?: boolean }).__e2eeDocMark = true));
  const sameDocument = () => getPage().evaluate(() => (globalThis as { __e2eeDocMark?: boolean }).__e2eeDocMark === true);
  /** Every resource the document fetched that was not on 127.0.0.1 (Resource Timing, all engines). */
  const offHost = () =>
    getPage().evaluate(() =>
      performance
        .getEntriesByType('resource')
        .map((e) => e.name)
        .filter((u) => /^https?:/.test(u) && new URL(u).hostname !== '127.0.0.1'),
    );
  return { text, attr, click, fill, select, count, waitFor, waitData, waitReady, markDocument, sameDocument, offHost };
}
