// Client-side CPU time of enroll and recover (KSF included) for the default suite (RFC 9807,
// ristretto255-SHA512, Argon2id m=47104 t=1 p=1), the superseded opaque-ts suite (P-256, scrypt
// N=2^15 r=8 p=1) and @serenity-kit/opaque 1.1.0 (opaque-ke 4 compiled to WASM: ristretto255,
// Argon2id "memory-constrained" m=65536 t=3 p=4, its default), in the same run, in Node and in
// headless Chromium. The vault runs in-process; the time it spends inside the injected fetch is
// measured and subtracted, so the figures are the client's own.
//
//   npm run bench:recovery            (ITER=5 by default; ITER=3 npm run bench:recovery)
//   BROWSER=0 npm run bench:recovery  (Node only)
//
// Node: process.cpuUsage() (user + system of the process), vault CPU subtracted.
// Chromium: the renderer main thread's CPU time (CDP Performance.getMetrics "ThreadTime" in thread
// ticks) around each client operation; the vault and serenity's server half run in Node, so the
// page's thread does only client work (OPAQUE, the KSF, sealing, fetch bookkeeping).
//
// Target (issue 15): recover <= 500 ms client CPU in Node, <= 1 s in Chromium, default suite.
//
// Then the default suite's KSF alone (Argon2id m=47104 t=1 p=1, 64-byte output), in Node and in
// Chromium, same run: @noble/hashes' argon2idAsync (what the suite ran before) against ours
// (lib/recovery/argon2/) with its WebAssembly compression and with its JavaScript fallback (what
// a page whose CSP lacks 'wasm-unsafe-eval' runs). Each call allocates its memory afresh, as a
// recovery does.
import { fileURLToPath } from 'node:url';
import { argon2idAsync } from '@noble/hashes/argon2.js';
import * as serenity from '@serenity-kit/opaque';
import { build } from 'esbuild';
import { argon2id } from '../lib/recovery/argon2/argon2id.js';
import { pinnedFleets } from '../lib/recovery/fleet-trust.js';
import { createKeyring } from '../lib/recovery/keyring.js';
import { OPAQUE_TS_SUITE_ID, opaqueTsSuite } from '../lib/recovery/opaque/opaque-ts.js';
import { RFC9807_DEFAULT_SUITE_ID, rfc9807Suite } from '../lib/recovery/opaque/rfc9807.js';
import type { OpaqueSuite } from '../lib/recovery/opaque/suite.js';
import { createVaultClient, type VaultFetch } from '../lib/recovery/vault-client.js';
import { createMemoryVaultStore, createVaultHandler, generateVaultSetup, serveHandler } from '../lib/server/index.js';
import { utf8 } from '../lib/util/bytes.js';
import { haveChromium, launchChromium } from '../test/support/chromium.js';

const ITER = Number(process.env.ITER ?? 5);
const BROWSER = process.env.BROWSER !== '0';
const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface Figures {
  enroll: number[];
  recover: number[];
}

const KSF_NOTE: Record<string, string> = {
  [RFC9807_DEFAULT_SUITE_ID]: 'Argon2id m=47104 KiB (46 MiB), t=1, p=1, 16-byte zero salt, 64-byte output',
  [OPAQUE_TS_SUITE_ID]: 'scrypt N=32768, r=8, p=1 (32 MiB), empty salt, 32-byte output',
  serenity: 'Argon2id m=65536 KiB (64 MiB), t=3, p=4 ("memory-constrained", their default)',
};

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]) => `${median(xs).toFixed(0)} ms (median of ${xs.length}; min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;

/** CPU of `f` minus the CPU spent inside the vault handler during it. */
function meter() {
  let serverCpu = 0;
  return {
    wrap(handler: VaultFetch): VaultFetch {
      return async (req) => {
        const t = process.cpuUsage();
        try {
          return await handler(req);
        } finally {
          serverCpu += cpuMs(process.cpuUsage(t));
        }
      };
    },
    async run(f: () => Promise<unknown>): Promise<number> {
      serverCpu = 0;
      const t = process.cpuUsage();
      await f();
      return cpuMs(process.cpuUsage(t)) - serverCpu;
    },
  };
}

async function oursNode(suite: OpaqueSuite): Promise<Figures> {
  const { setup, publicKey } = await generateVaultSetup(suite);
  const m = meter();
  const out: Figures = { enroll: [], recover: [] };
  for (let i = 0; i <= ITER; i++) {
    const accountId = `bench-${i}`;
    const handler = createVaultHandler({ fleetId: 'bench', setup, suite, store: createMemoryVaultStore(), verifyToken: async () => accountId });
    const client = createVaultClient({
      fleetId: 'bench',
      accountId,
      baseUrl: 'http://bench.invalid',
      fetch: m.wrap(handler),
      getToken: async () => 'token',
      // No suite named: the client runs the one the fleet's entry names, as an app's would.
      trust: pinnedFleets([{ fleetId: 'bench', suite: suite.id, publicKey }]),
      suites: [opaqueTsSuite()],
    });
    const keyring = createKeyring();
    const e = await m.run(() => client.enroll({ password: utf8('bench code'), keyring }));
    const r = await m.run(() => client.recover({ password: utf8('bench code') }));
    if (i > 0) {
      // i = 0 warms the JIT
      out.enroll.push(e);
      out.recover.push(r);
    }
  }
  return out;
}

async function serenityNode(): Promise<Figures> {
  await serenity.ready;
  const serverSetup = serenity.server.createSetup();
  const out: Figures = { enroll: [], recover: [] };
  const password = 'bench code';
  for (let i = 0; i <= ITER; i++) {
    const userIdentifier = `bench-${i}`;
    let client = 0;
    let t = process.cpuUsage();
    const { clientRegistrationState, registrationRequest } = serenity.client.startRegistration({ password });
    client += cpuMs(process.cpuUsage(t));
    const { registrationResponse } = serenity.server.createRegistrationResponse({ serverSetup, userIdentifier, registrationRequest });
    t = process.cpuUsage();
    const { registrationRecord } = serenity.client.finishRegistration({ clientRegistrationState, registrationResponse, password });
    client += cpuMs(process.cpuUsage(t));
    const e = client;
    client = 0;
    t = process.cpuUsage();
    const { clientLoginState, startLoginRequest } = serenity.client.startLogin({ password });
    client += cpuMs(process.cpuUsage(t));
    const { serverLoginState, loginResponse } = serenity.server.startLogin({ serverSetup, userIdentifier, registrationRecord, startLoginRequest });
    t = process.cpuUsage();
    const fin = serenity.client.finishLogin({ clientLoginState, loginResponse, password });
    client += cpuMs(process.cpuUsage(t));
    if (!fin) throw new Error('serenity login failed');
    serenity.server.finishLogin({ serverLoginState, finishLoginRequest: fin.finishLoginRequest });
    if (i > 0) {
      out.enroll.push(e);
      out.recover.push(client);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Chromium: the same flows in a page. The vault (and serenity's server half) run in Node, so the
// page's main thread does only the client's work; each client step is measured as the change of
// the renderer main thread's CPU time (CDP Performance.getMetrics "ThreadTime", thread ticks).

const PAGE = `
import { createVaultClient, pinnedFleets } from './lib/index.ts';
import { createKeyring } from './lib/keys.ts';
import { opaqueTsSuite } from './lib/opaque-ts.ts';
import { argon2idAsync } from '@noble/hashes/argon2.js';
import * as serenity from '@serenity-kit/opaque';
import { argon2idAsync } from '@noble/hashes/argon2.js';
import { argon2id } from './lib/recovery/argon2/argon2id.ts';
const enc = (s) => new TextEncoder().encode(s);
const KSF_PW = new Uint8Array(64).fill(7);
const KSF_SALT = new Uint8Array(16);
const unhex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
let client;
let st = {};
globalThis.bench = {
  client(fleetId, suite, publicKeyHex, accountId) {
    client = createVaultClient({
      fleetId, accountId, baseUrl: location.origin + '/' + fleetId, fetch: (r) => fetch(r), getToken: async () => accountId,
      trust: pinnedFleets([{ fleetId, suite, publicKey: unhex(publicKeyHex) }]),
      suites: [opaqueTsSuite()],
    });
  },
  async enroll() { await client.enroll({ password: enc('bench code'), keyring: createKeyring() }); },
  async recover() { await client.recover({ password: enc('bench code') }); },
  async ready() { await serenity.ready; },
  async ksf(which) {
    const o = { m: 47104, t: 1, p: 1, dkLen: 64 };
    if (which === 'noble') await argon2idAsync(KSF_PW, KSF_SALT, o);
    else await argon2id(KSF_PW, KSF_SALT, { ...o, engine: which });
  },
  regStart() { st = serenity.client.startRegistration({ password: 'bench code' }); return st.registrationRequest; },
  regFinish(response) {
    return serenity.client.finishRegistration({ clientRegistrationState: st.clientRegistrationState, registrationResponse: response, password: 'bench code' }).registrationRecord;
  },
  loginStart() { st = serenity.client.startLogin({ password: 'bench code' }); return st.startLoginRequest; },
  loginFinish(response) {
    const r = serenity.client.finishLogin({ clientLoginState: st.clientLoginState, loginResponse: response, password: 'bench code' });
    if (!r) throw new Error('serenity login failed');
    return r.finishLoginRequest;
  },
};
`;

async function chromium(): Promise<{ version: string; rows: [string, Figures][]; ksf: Record<KsfImpl, number[]> }> {
  const bundle = await build({
    stdin: { contents: PAGE, resolveDir: ROOT, loader: 'ts', sourcefile: 'recovery-page.ts' },
    bundle: true,
    splitting: true,
    outdir: 'out',
    entryNames: 'page',
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'error',
  });
  const files = new Map(bundle.outputFiles.map((f) => [`/${f.path.split('/').pop()!}`, f.text]));
  const suites: Record<string, OpaqueSuite> = { rfc: rfc9807Suite(), legacy: opaqueTsSuite() };
  const setups = { rfc: await generateVaultSetup(suites.rfc), legacy: await generateVaultSetup(suites.legacy) };
  const vaults = new Map<string, VaultFetch>();
  const served = await serveHandler(async (req) => {
    const url = new URL(req.url);
    if (url.pathname === '/') return new Response('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>', { headers: { 'content-type': 'text/html' } });
    const js = files.get(url.pathname);
    if (js !== undefined) return new Response(js, { headers: { 'content-type': 'text/javascript' } });
    const fleet = url.pathname.split('/')[1] ?? '';
    const vault = vaults.get(fleet);
    if (vault === undefined) return new Response(null, { status: 404 });
    url.pathname = url.pathname.slice(fleet.length + 1);
    return vault(new Request(url, req));
  });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
    const threadMs = async (): Promise<number> => {
      const { metrics } = await cdp.send('Performance.getMetrics');
      return 1000 * (metrics.find((m) => m.name === 'ThreadTime')?.value ?? Number.NaN);
    };
    const cpu = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
      const t = await threadMs();
      const v = await f();
      return [v, (await threadMs()) - t];
    };
    await page.goto(`${served.url}/`);
    await page.waitForFunction(() => 'bench' in globalThis, undefined, { timeout: 60_000 });
    type Bench = {
      client(f: string, s: string, pk: string, a: string): void;
      enroll(): Promise<void>;
      recover(): Promise<void>;
      ready(): Promise<void>;
      ksf(which: KsfImpl): Promise<void>;
      regStart(): string;
      regFinish(r: string): string;
      loginStart(): string;
      loginFinish(r: string): string;
    };
    const call = <K extends keyof Bench>(name: K, ...args: Parameters<Bench[K]>) =>
      page.evaluate(([n, a]) => (globalThis as unknown as { bench: Record<string, (...x: unknown[]) => unknown> }).bench[n]!(...a), [name, args] as const) as Promise<
        Awaited<ReturnType<Bench[K]>>
      >;
    const rows: [string, Figures][] = [];
    for (const key of ['rfc', 'legacy'] as const) {
      const suite = suites[key];
      const out: Figures = { enroll: [], recover: [] };
      for (let i = 0; i <= ITER; i++) {
        const accountId = `bench-${i}`;
        vaults.set(key, createVaultHandler({ fleetId: key, setup: setups[key].setup, suite, store: createMemoryVaultStore(), verifyToken: async (t) => t }));
        await call('client', key, suite.id, Buffer.from(setups[key].publicKey).toString('hex'), accountId);
        const [, e] = await cpu(() => call('enroll'));
        const [, r] = await cpu(() => call('recover'));
        if (i > 0) {
          out.enroll.push(e);
          out.recover.push(r);
        }
      }
      rows.push([suite.id, out]);
    }
    await call('ready');
    await serenity.ready;
    const serverSetup = serenity.server.createSetup();
    const out: Figures = { enroll: [], recover: [] };
    for (let i = 0; i <= ITER; i++) {
      const userIdentifier = `bench-${i}`;
      const [registrationRequest, c1] = await cpu(() => call('regStart'));
      const { registrationResponse } = serenity.server.createRegistrationResponse({ serverSetup, userIdentifier, registrationRequest });
      const [registrationRecord, c2] = await cpu(() => call('regFinish', registrationResponse));
      const [startLoginRequest, c3] = await cpu(() => call('loginStart'));
      const { serverLoginState, loginResponse } = serenity.server.startLogin({ serverSetup, userIdentifier, registrationRecord, startLoginRequest });
      const [finishLoginRequest, c4] = await cpu(() => call('loginFinish', loginResponse));
      serenity.server.finishLogin({ serverLoginState, finishLoginRequest });
      if (i > 0) {
        out.enroll.push(c1 + c2);
        out.recover.push(c3 + c4);
      }
    }
    rows.push(['serenity', out]);
    const ksf = await ksfRuns((which) => cpu(() => call('ksf', which)).then(([, ms]) => ms));
    return { version: browser.version(), rows, ksf };
  } finally {
    await browser.close();
    await served.close();
  }
}

type KsfImpl = 'noble' | 'wasm' | 'js';
const KSF_IMPLS: readonly KsfImpl[] = ['noble', 'wasm', 'js'];
const KSF_LABEL: Record<KsfImpl, string> = {
  noble: '@noble/hashes argon2idAsync (before)',
  wasm: 'ours, WebAssembly compression',
  js: "ours, JavaScript fallback (CSP without 'wasm-unsafe-eval')",
};

/** ITER measured runs of each implementation after one warm-up, interleaved (noble, wasm, js, noble, ...). */
async function ksfRuns(run: (which: KsfImpl) => Promise<number>): Promise<Record<KsfImpl, number[]>> {
  const out: Record<KsfImpl, number[]> = { noble: [], wasm: [], js: [] };
  for (let i = 0; i <= ITER; i++) {
    for (const which of KSF_IMPLS) {
      const ms = await run(which);
      if (i > 0) out[which].push(ms);
    }
  }
  return out;
}

const KSF_PW = new Uint8Array(64).fill(7);
const KSF_SALT = new Uint8Array(16);
const ksfNode = () =>
  ksfRuns(async (which) => {
    const o = { m: 47104, t: 1, p: 1, dkLen: 64 };
    const t = process.cpuUsage();
    if (which === 'noble') await argon2idAsync(KSF_PW, KSF_SALT, o);
    else await argon2id(KSF_PW, KSF_SALT, { ...o, engine: which });
    return cpuMs(process.cpuUsage(t));
  });

function reportKsf(where: string, f: Record<KsfImpl, number[]>): void {
  console.log(`Argon2id alone (${where}), m=47104 KiB t=1 p=1, 64-byte output, fresh memory each call:`);
  for (const which of KSF_IMPLS) console.log(`  ${KSF_LABEL[which]}: ${fmt(f[which])}`);
  console.log(`  ratio: noble / ours (WebAssembly) ${(median(f.noble) / median(f.wasm)).toFixed(2)}x; ours JavaScript / ours WebAssembly ${(median(f.js) / median(f.wasm)).toFixed(2)}x`);
}

function report(where: string, rows: [string, Figures][], targetMs: number): void {
  for (const [id, f] of rows) {
    console.log(`${id === 'serenity' ? '@serenity-kit/opaque 1.1.0 (ristretto255-SHA512)' : `e2ee-backup ${id}`}`);
    console.log(`  KSF: ${KSF_NOTE[id]}`);
    console.log(`  enroll ms:  ${fmt(f.enroll)}`);
    console.log(`  recover ms: ${fmt(f.recover)}`);
  }
  const def = rows.find(([id]) => id === RFC9807_DEFAULT_SUITE_ID)![1];
  for (const [id, f] of rows) {
    if (id === RFC9807_DEFAULT_SUITE_ID) continue;
    console.log(`ratio (${where}): default suite / ${id === 'serenity' ? 'serenity-kit' : id}: enroll ${(median(def.enroll) / median(f.enroll)).toFixed(2)}x, recover ${(median(def.recover) / median(f.recover)).toFixed(2)}x`);
  }
  console.log(`target (${where}): default suite recover <= ${targetMs} ms: ${median(def.recover) <= targetMs ? 'met' : 'NOT met'} (${median(def.recover).toFixed(0)} ms)`);
}

const nodeRows: [string, Figures][] = [
  [RFC9807_DEFAULT_SUITE_ID, await oursNode(rfc9807Suite())],
  [OPAQUE_TS_SUITE_ID, await oursNode(opaqueTsSuite())],
  ['serenity', await serenityNode()],
];
console.log(`Node ${process.version}, ${ITER} iterations after 1 warm-up; client CPU only (user+system), vault CPU subtracted`);
report('Node', nodeRows, 500);
reportKsf('Node, client CPU user+system', await ksfNode());

if (BROWSER && haveChromium) {
  const c = await chromium();
  console.log('');
  console.log(`Chromium ${c.version} (headless), ${ITER} iterations after 1 warm-up; renderer main-thread CPU per operation (CDP ThreadTime), vault in Node`);
  report('Chromium', c.rows, 1000);
  reportKsf('Chromium, renderer main-thread CPU', c.ksf);
} else {
  console.log(BROWSER ? 'Chromium: /usr/bin/chromium not found, skipped' : 'Chromium: skipped (BROWSER=0)');
}
