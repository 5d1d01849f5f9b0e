// Passkeys (issue 16) in a real browser: headless Chromium with the DevTools WebAuthn virtual
// authenticator (CTAP2, internal, resident keys, user verification, the PRF extension), the SDK's
// own createWebAuthnAuthenticator over navigator.credentials, and the demo's fleet (vault, blob
// store, witness log, fake app backend) answering /api on the test's loopback server, so that
// state outlives a browser profile.
//
// Chromium only: Firefox and WebKit have no virtual authenticator that automation can drive here
// (docs/PASSKEYS.md §Tests). Locally a missing Chromium skips the suite; under CI it fails it.
//
// The page is served as http://localhost:<port>: WebAuthn needs a secure context and a domain as
// RP id (an IP address such as 127.0.0.1 is refused by the browser).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServedHandler } from '../../lib/server/index.js';
import { createDemoFleet } from '../../demo/fleet.js';
import { launchBrowser, skipBrowser, waitForGlobal, type TestBrowser, type TestPage } from '../support/browsers.js';
import { bundlePage, servePage } from '../support/test-page.js';

const PAGE = `
import { isBackupError } from './lib/index.ts';
import { createWebAuthnAuthenticator, passkeySupport } from './lib/passkeys.ts';
import { idBytes, lengthPrefixed } from './lib/recovery/keyring.ts';
import { LABELS } from './lib/labels.ts';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { connectApi, deviceStore, findFleet, login, makeClient, makeTrust } from './demo/sdk.ts';

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const code = (e) => (isBackupError(e) ? e.code : 'not a BackupError: ' + String(e));

// Every request body the page sends (fetch is the SDK's only transport here), as hex.
const bodies = [];
const fetchFailures = [];
const realFetch = globalThis.fetch.bind(globalThis);
globalThis.fetch = async (input, init) => {
  const req = input instanceof Request && init === undefined ? input : new Request(input, init);
  bodies.push(hex(new TextEncoder().encode(req.url)));
  for (const [k, v] of req.headers) bodies.push(hex(new TextEncoder().encode(k + ': ' + v)));
  // Read into bytes and sent as bytes (a cloned body is a stream, which HTTP/1.1 cannot upload).
  const bytes = req.body === null ? null : new Uint8Array(await req.arrayBuffer());
  if (bytes !== null) bodies.push(hex(bytes));
  try {
    return await realFetch(bytes === null ? req : new Request(req, { body: bytes }));
  } catch (e) {
    fetchFailures.push(req.method + ' ' + req.url + ': ' + String(e));
    throw e;
  }
};

// The SDK's WebAuthn authenticator, wrapped to count ceremonies and keep copies of every PRF
// output with its salt and credential (to search requests and IndexedDB for them, and for the KEKs).
const secrets = [];
let ceremonies = 0;
const webauthn = createWebAuthnAuthenticator({ rp: { name: 'e2ee-backup test' } });
const authenticator = {
  async create(req) {
    ceremonies++;
    const r = await webauthn.create(req);
    if (r.prfOutput) secrets.push({ out: hex(r.prfOutput), salt: hex(req.prfSalt), cred: hex(r.credentialId) });
    return r;
  },
  async get(req) {
    ceremonies++;
    const r = await webauthn.get(req);
    const asked = req.credentials.find((c) => hex(c.credentialId) === hex(r.credentialId));
    secrets.push({ out: hex(r.first), salt: hex(asked.first), cred: hex(r.credentialId) });
    if (r.second && asked.second) secrets.push({ out: hex(r.second), salt: hex(asked.second), cred: hex(r.credentialId) });
    return r;
  },
};

let client;
let accountId;
let api;
globalThis.pk = {
  async signIn(account) {
    accountId = account;
    api ??= await connectApi(() => undefined);
    const store = deviceStore();
    const { trust } = makeTrust(api, store);
    await trust.refresh();
    const token = await login(api, account);
    const { fleetId } = await findFleet(api, trust, account, token);
    client?.close();
    client = makeClient(api, trust, store, fleetId, account, token, { passkeys: passkeySupport({ authenticator }) });
    return fleetId;
  },
  ceremonies: () => ceremonies,
  async run(op, arg) {
    try {
      switch (op) {
        case 'enable': return { ok: (await client.enable(arg)).recoveryCode ?? null };
        case 'unlock': await client.unlock({ recoveryCode: arg }); return { ok: true };
        case 'backup': {
          const data = new Uint8Array(arg.size);
          for (let i = 0; i < data.length; i++) data[i] = (i * 31 + arg.seed) & 0xff;
          const r = await client.backup(new Blob([data]));
          return { ok: r.backupId };
        }
        case 'restore': {
          const r = await client.restore();
          const bytes = new Uint8Array(await new Response(r.stream).arrayBuffer());
          r.close();
          return { ok: { size: bytes.length, sha: hex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))) } };
        }
        case 'addPasskey': return { ok: await client.addPasskey({ name: arg, userName: accountId }) };
        case 'listPasskeys': return { ok: (await client.listPasskeys()).map((p) => ({ id: p.id, name: p.name })) };
        case 'removePasskey': await client.removePasskey(arg); return { ok: true };
        case 'unlockWithPasskey': return { ok: (await client.unlockWithPasskey()).id };
        case 'unlockAborted': {
          const ac = new AbortController();
          const p = client.unlockWithPasskey({ signal: ac.signal });
          setTimeout(() => ac.abort(), 0);
          return { ok: (await p).id };
        }
        case 'forget': client.close(); return { ok: true };
        default: throw new Error('unknown op ' + op);
      }
    } catch (e) {
      return { error: code(e), message: String(e && e.message) + (e && e.cause ? ' (cause: ' + String(e.cause) + ')' : '') + (fetchFailures.length ? ' [fetch failures: ' + fetchFailures.join('; ') + ']' : '') };
    }
  },
  expected(size, seed) {
    const data = new Uint8Array(size);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed) & 0xff;
    return crypto.subtle.digest('SHA-256', data).then((d) => hex(new Uint8Array(d)));
  },
  // Every PRF output seen, and every KEK derived from one (HKDF as docs/PASSKEYS.md specifies).
  secrets() {
    const out = [];
    const fromHex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
    for (const s of secrets) {
      out.push(s.out);
      const kek = hkdf(sha256, fromHex(s.out), fromHex(s.salt), lengthPrefixed(new TextEncoder().encode(LABELS.passkeyKek), idBytes(accountId, 'accountId'), fromHex(s.cred)), 32);
      out.push(hex(kek));
    }
    return out;
  },
  bodies: () => bodies.slice(),
  // Everything in every IndexedDB database of the origin, bytes as hex, strings as UTF-8 hex.
  async indexedDbDump() {
    const parts = [];
    const walk = (v, depth) => {
      if (depth > 8 || v === null || v === undefined) return;
      if (v instanceof ArrayBuffer) parts.push(hex(new Uint8Array(v)));
      else if (ArrayBuffer.isView(v)) parts.push(hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)));
      else if (typeof v === 'string') parts.push(hex(new TextEncoder().encode(v)));
      else if (typeof v === 'object') for (const k of Object.keys(v)) { parts.push(hex(new TextEncoder().encode(k))); walk(v[k], depth + 1); }
      else parts.push(hex(new TextEncoder().encode(String(v))));
    };
    const names = (await indexedDB.databases()).map((d) => d.name);
    for (const name of names) {
      const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
      for (const storeName of db.objectStoreNames) {
        const [keys, values] = await new Promise((res, rej) => {
          const tx = db.transaction(storeName, 'readonly');
          const st = tx.objectStore(storeName);
          const k = st.getAllKeys();
          const v = st.getAll();
          tx.oncomplete = () => res([k.result, v.result]);
          tx.onerror = () => rej(tx.error);
        });
        walk(keys, 0);
        walk(values, 0);
      }
      db.close();
    }
    return { databases: names, parts };
  },
  async clearIndexedDb() {
    client?.close();
    client = undefined;
    for (const d of await indexedDB.databases()) await new Promise((res) => { const r = indexedDB.deleteDatabase(d.name); r.onsuccess = r.onerror = r.onblocked = () => res(undefined); });
  },
};
`;

type RunResult<T> = { ok: T } | { error: string; message: string };
type Pk = {
  signIn(a: string): Promise<string>;
  ceremonies(): number;
  run(op: string, arg?: unknown): Promise<RunResult<unknown>>;
  expected(size: number, seed: number): Promise<string>;
  secrets(): string[];
  bodies(): string[];
  indexedDbDump(): Promise<{ databases: string[]; parts: string[] }>;
  clearIndexedDb(): Promise<void>;
};

interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
  [k: string]: unknown;
}

const AUTHENTICATOR = { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true };

async function addAuthenticator(page: TestPage, hasPrf: boolean): Promise<string> {
  await page.cdp!('WebAuthn.enable', { enableUI: false });
  const r = (await page.cdp!('WebAuthn.addVirtualAuthenticator', { options: { ...AUTHENTICATOR, hasPrf } })) as { authenticatorId: string };
  return r.authenticatorId;
}

const run = async <T = unknown>(page: TestPage, op: string, arg?: unknown): Promise<T> => {
  const r = await page.evaluate(([o, a]) => (globalThis as unknown as { pk: Pk }).pk.run(o, a), [op, arg] as [string, unknown]);
  if ('error' in r) throw Object.assign(new Error(`${op}: ${r.error}: ${r.message}`), { code: r.error });
  return r.ok as T;
};
const runError = async (page: TestPage, op: string, arg?: unknown): Promise<string> => {
  const r = await page.evaluate(([o, a]) => (globalThis as unknown as { pk: Pk }).pk.run(o, a), [op, arg] as [string, unknown]);
  return 'error' in r ? r.error : 'succeeded';
};
const pk = <R>(page: TestPage, fn: (p: Pk) => R | Promise<R>): Promise<R> =>
  page.evaluate((src) => {
    const f = new Function('p', `return (${src})(p)`) as (p: Pk) => R;
    return f((globalThis as unknown as { pk: Pk }).pk);
  }, fn.toString());

/** serveHandler's requests carry http://127.0.0.1 (no port); the fleet signs blob URLs for the origin the page is on (localhost). */
function atLocalhost(req: Request, host: string): Request {
  const u = new URL(req.url);
  u.host = host;
  return new Request(u, { method: req.method, headers: req.headers, body: req.body, duplex: 'half', signal: req.signal } as RequestInit);
}

describe.skipIf(skipBrowser('chromium'))('passkeys with the WebAuthn virtual authenticator in Chromium', () => {
  let served: ServedHandler | undefined;
  let url = '';
  const browsers: TestBrowser[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    const fleet = await createDemoFleet({ mode: 'server' });
    let host = '';
    served = await servePage({ files: await bundlePage(PAGE, { name: 'passkeys-page.ts' }), handle: (req) => fleet.handle(atLocalhost(req, host)) });
    host = new URL(served.url).host.replace('127.0.0.1', 'localhost');
    url = `http://${host}/`;
  }, 120_000);

  afterAll(async () => {
    for (const b of browsers) await b.close().catch(() => undefined);
    await served?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A browser on a profile directory of its own, a page on the test origin, an authenticator. */
  const freshProfile = async (hasPrf = true) => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-passkeys-'));
    dirs.push(dir);
    const browser = await launchBrowser('chromium', { profileDir: dir });
    browsers.push(browser);
    const page = await browser.newPage();
    expect(page.cdp, 'the Chromium page exposes CDP').toBeDefined();
    await page.goto(url);
    await waitForGlobal(page, 'pk');
    const authenticatorId = await addAuthenticator(page, hasPrf);
    return { browser, page, authenticatorId };
  };

  // What each page realm saw before it goes (a reload ends it): PRF outputs and their KEKs, request
  // bodies/URLs/headers, IndexedDB contents. Checked against each other at the end.
  const seen = { secrets: new Set<string>(), requests: [] as string[], indexedDb: [] as string[], databases: 0 };
  const harvest = async (page: TestPage) => {
    for (const x of await pk(page, (p) => p.secrets())) seen.secrets.add(x);
    seen.requests.push(...(await pk(page, (p) => p.bodies())));
    const dump = await pk(page, (p) => p.indexedDbDump());
    seen.indexedDb.push(...dump.parts);
    seen.databases += dump.databases.length;
  };
  const newRealm = async (page: TestPage) => {
    await harvest(page);
    await pk(page, (p) => p.clearIndexedDb());
    await page.cdp!('Storage.clearDataForOrigin', { origin: new URL(url).origin, storageTypes: 'all' });
    await page.reload();
    await waitForGlobal(page, 'pk');
  };

  it('add a passkey, back up; restore on a fresh profile with the passkey alone; two passkeys, remove, rotation without a prompt, cancel; nothing secret leaves the page', async () => {
    const a = await freshProfile();
    const { page } = a;
    await pk(page, (p) => p.signIn('alice'));
    const recoveryCode = await run<string>(page, 'enable');
    expect(recoveryCode).toMatch(/^[0-9A-Z-]{20,}$/);
    await run(page, 'backup', { size: 300_000, seed: 7 });
    const laptop = await run<{ id: string }>(page, 'addPasskey', 'Laptop');
    expect(await run(page, 'listPasskeys')).toEqual([{ id: laptop.id, name: 'Laptop' }]);

    // The resident credential as the authenticator holds it.
    const { credentials } = (await page.cdp!('WebAuthn.getCredentials', { authenticatorId: a.authenticatorId })) as { credentials: VirtualCredential[] };
    expect(credentials).toHaveLength(1);
    const cred = credentials[0]!;
    expect(cred.isResidentCredential).toBe(true);
    expect(cred.rpId).toBe('localhost');

    // A fresh profile (its own user-data-dir: no IndexedDB, no device cache, no trust state) with
    // the same credential imported into a new virtual authenticator.
    const b = await freshProfile();
    await b.page.cdp!('WebAuthn.addCredential', { authenticatorId: b.authenticatorId, credential: cred });
    await pk(b.page, (p) => p.signIn('alice'));
    expect(await runError(b.page, 'restore')).toBe('NOT_ENABLED');
    const fresh = await runError(b.page, 'unlockWithPasskey');
    // Chromium's virtual authenticator keeps each credential's PRF (hmac-secret) key to itself:
    // WebAuthn.getCredentials returns credentialId, isResidentCredential, rpId, privateKey,
    // userHandle, signCount, backupEligibility, backupState, userName, userDisplayName and no PRF
    // secret, and a credential imported with WebAuthn.addCredential yields no PRF output at all
    // (Chromium 14x-15x): the SDK says PASSKEY_PRF_UNSUPPORTED. So the PRF secret cannot be carried
    // to another profile here; the restore with the passkey alone is tested below on a fresh device
    // within the same authenticator. Should a Chromium carry it over, this restores as well.
    expect(Object.keys(cred).some((k) => /prf|hmac/i.test(k))).toBe(false);
    expect(['succeeded', 'PASSKEY_PRF_UNSUPPORTED']).toContain(fresh);
    if (fresh === 'succeeded') {
      const restored = await run<{ size: number; sha: string }>(b.page, 'restore');
      expect(restored).toEqual({ size: 300_000, sha: await pk(b.page, (p) => p.expected(300_000, 7)) });
    }
    console.info(`passkeys: restore on a fresh profile with an imported credential: ${fresh}`);

    // FRESH DEVICE WITHIN THE SAME AUTHENTICATOR (not a new profile, see above): all of the
    // origin's storage cleared (Storage.clearDataForOrigin: IndexedDB, cache, cookies...) and the
    // page reloaded: a new JS realm with no keyring, no device cache, no trust state.
    await newRealm(page);
    await pk(page, (p) => p.signIn('alice'));
    expect(await runError(page, 'restore')).toBe('NOT_ENABLED');
    expect(await run(page, 'unlockWithPasskey')).toBe(laptop.id);
    expect(await run(page, 'restore')).toEqual({ size: 300_000, sha: await pk(page, (p) => p.expected(300_000, 7)) });
    // The salt rotated in that prompt (second output): unlocking again still works.
    expect(await run(page, 'unlockWithPasskey')).toBe(laptop.id);

    // Two passkeys: both listed; remove the first, the second still opens the backup.
    const phone = await run<{ id: string }>(page, 'addPasskey', 'Phone');
    expect(phone.id).not.toBe(laptop.id);
    const listed = await run<{ id: string; name: string }[]>(page, 'listPasskeys');
    expect(listed.map((p) => p.name).sort()).toEqual(['Laptop', 'Phone']);
    await run(page, 'removePasskey', laptop.id);
    expect(await run(page, 'listPasskeys')).toEqual([{ id: phone.id, name: 'Phone' }]);
    expect(await run(page, 'unlockWithPasskey')).toBe(phone.id);

    // A reset (a new keyring) removes the passkeys with no ceremony: their envelopes are bound to
    // the previous keyring's first generation and cannot vouch for a new one (docs/PASSKEYS.md).
    // Added again (one ceremony), the passkey opens the new keyring.
    const before = await pk(page, (p) => p.ceremonies());
    await run(page, 'enable', { reset: true });
    expect(await pk(page, (p) => p.ceremonies())).toBe(before);
    expect(await run(page, 'listPasskeys')).toEqual([]);
    const again = await run<{ id: string }>(page, 'addPasskey', 'Phone');
    await run(page, 'backup', { size: 50_000, seed: 11 });
    await newRealm(page);
    await pk(page, (p) => p.signIn('alice'));
    expect(await run(page, 'unlockWithPasskey')).toBe(again.id);
    expect(await run(page, 'restore')).toEqual({ size: 50_000, sha: await pk(page, (p) => p.expected(50_000, 11)) });

    // Cancel: user verification fails (NotAllowedError) -> PASSKEY_CANCELLED; an abort -> ABORTED.
    expect(await runError(page, 'unlockAborted')).toBe('ABORTED');
    await page.cdp!('WebAuthn.setUserVerified', { authenticatorId: a.authenticatorId, isUserVerified: false });
    expect(await runError(page, 'unlockWithPasskey')).toBe('PASSKEY_CANCELLED');
    expect(await runError(page, 'addPasskey', 'Refused')).toBe('PASSKEY_CANCELLED');
    // (Chromium's virtual CTAP2 device then keeps refusing user verification for this page even
    // after setUserVerified(true): nothing further is asked of it.)

    // No PRF output, nor a KEK derived from one, in any request (body, URL, header) or in IndexedDB.
    await harvest(page);
    await harvest(b.page);
    // Every creation and unlock output (first and second), each with its KEK.
    expect(seen.secrets.size).toBeGreaterThanOrEqual(10);
    expect(seen.requests.length).toBeGreaterThan(50);
    expect(seen.databases).toBeGreaterThan(0);
    const secrets = [...seen.secrets];
    expect(secrets.filter((x) => seen.requests.some((r) => r.includes(x)))).toEqual([]);
    expect(secrets.filter((x) => seen.indexedDb.some((r) => r.includes(x)))).toEqual([]);
    expect(await page.consoleErrors()).toEqual([]);
  }, 300_000);

  it('an authenticator without PRF: PASSKEY_PRF_UNSUPPORTED, and the recovery code still works', async () => {
    const { page } = await freshProfile(false);
    await pk(page, (p) => p.signIn('carol'));
    const recoveryCode = await run<string>(page, 'enable');
    await run(page, 'backup', { size: 20_000, seed: 3 });
    expect(await runError(page, 'addPasskey', 'No PRF')).toBe('PASSKEY_PRF_UNSUPPORTED');
    expect(await run(page, 'listPasskeys')).toEqual([]);
    await pk(page, (p) => p.clearIndexedDb());
    await page.reload();
    await waitForGlobal(page, 'pk');
    await pk(page, (p) => p.signIn('carol'));
    await run(page, 'unlock', recoveryCode);
    expect(await run(page, 'restore')).toEqual({ size: 20_000, sha: await pk(page, (p) => p.expected(20_000, 3)) });
  }, 120_000);
});
