// `e2ee-backup/testing` in each browser (test/support/browsers.ts): the whole in-process fleet
// (vault, blob store, witness log handlers) and real clients run inside the page, on the engine's
// own Request, Blob, IndexedDB and WebCrypto, as an app's browser-mode tests would run them.
// The same story as test/testing/app-example.test.ts: enable, back up a Blob, restore on a new
// device with random access, a wrong code, a flipped byte refused.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServedHandler } from '../../lib/server/index.js';
import { describeBrowsers, launchBrowser, waitForGlobal, type TestBrowser, type TestPage } from '../support/browsers.js';
import { bundlePage, servePage } from '../support/test-page.js';

const PAGE = `
import { createIndexedDbStore, isBackupError } from './lib/index.ts';
import { createTestFleet } from './lib/testing/index.ts';
const lines = Array.from({ length: 400 }, (_, i) => JSON.stringify({ chat: i % 3, at: 1700000000 + i, text: 'message ' + i }));
const data = new TextEncoder().encode(lines.join('\\n'));
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const code = (e) => (isBackupError(e) ? e.code + (e.details.guessesRemaining === undefined ? '' : ':' + e.details.guessesRemaining) : 'not a BackupError: ' + String(e));
async function readAll(stream) {
  const parts = [];
  for (const reader = stream.getReader(); ; ) {
    const r = await reader.read();
    if (r.done) break;
    parts.push(r.value);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
globalThis.fleetStory = async () => {
  const fleet = await createTestFleet({ guessLimit: 3 });
  const phone = fleet.createClient({ accountId: 'alice', storage: createIndexedDbStore({ dbName: 'phone' }) });
  const { recoveryCode } = await phone.enable();
  const result = await phone.backup(new Blob([data]), { metadata: { chats: 3 } });
  const needle = new TextDecoder().decode(data.subarray(0, 40));
  let ciphertextOnly = true;
  for (const entry of await fleet.storage.list('')) if (new TextDecoder().decode(await fleet.storage.get(entry.key)).includes(needle)) ciphertextOnly = false;

  const laptop = fleet.createClient({ accountId: 'alice', storage: createIndexedDbStore({ dbName: 'laptop' }) });
  const restored = await laptop.restore({ recoveryCode });
  const tail = await restored.read(data.length - 100, 100);
  const whole = await readAll(restored.stream);

  const other = (await fleet.createClient({ accountId: 'bob' }).enable()).recoveryCode;
  const wrong = await fleet.createClient({ accountId: 'alice' }).restore({ recoveryCode: other }).then(() => 'accepted', code);

  const entries = await fleet.storage.list('');
  const archive = entries.reduce((a, b) => (b.size > a.size ? b : a));
  const bytes = Uint8Array.from(await fleet.storage.get(archive.key));
  bytes[bytes.length - 5] ^= 1;
  await fleet.storage.put(archive.key, bytes);
  const tampered = await fleet.createClient({ accountId: 'alice' }).restore({ recoveryCode }).then((r) => readAll(r.stream)).then(() => 'accepted', code);
  phone.close();
  laptop.close();
  return {
    plaintextSize: result.plaintextSize, ciphertextOnly, sameBackup: restored.backupId === result.backupId,
    metadata: restored.metadata, tail: same(tail, data.subarray(data.length - 100)), whole: same(whole, data), wrong, tampered,
  };
};
`;
let files: Promise<Map<string, string>> | undefined;

describeBrowsers('e2ee-backup/testing fleet in the page', (engine) => {
  let served: ServedHandler | undefined;
  let browser: TestBrowser | undefined;
  let page: TestPage;

  beforeAll(async () => {
    served = await servePage({ files: await (files ??= bundlePage(PAGE, { name: 'fleet-page.ts' })) });
    browser = await launchBrowser(engine);
    page = await browser.newPage();
    await page.goto(`${served.url}/`);
    await waitForGlobal(page, 'fleetStory');
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('enable, back up a Blob, restore on a new device with random access; a wrong code; a flipped byte refused', async () => {
    const r = await page.evaluate(() => (globalThis as unknown as { fleetStory: () => Promise<unknown> }).fleetStory());
    expect(r).toEqual({
      plaintextSize: expect.any(Number),
      ciphertextOnly: true,
      sameBackup: true,
      metadata: { chats: 3 },
      tail: true,
      whole: true,
      wrong: 'WRONG_CODE:2',
      tampered: 'ARCHIVE_AUTH_FAILED',
    });
    expect(await page.consoleErrors()).toEqual([]);
  });
});
