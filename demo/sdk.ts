/**
 * How an app wires e2ee-backup in a browser: the trust store (roots from the app's config),
 * one vault client per fleet, the presigned-HTTP blob store, IndexedDB device storage, and the
 * BackupClient. `api` is either the page's `fetch` to the dev server or, in the static build, the
 * in-page fleet.
 */
import {
  createBackupClient,
  createIndexedDbStore,
  createVaultClient,
  type BackupClient,
  type BackupClientOptions,
  type KeyValueStore,
  type VaultClient,
} from '../lib/index.js';
import { deviceCacheSupport } from '../lib/keys.js';
import { createHttpBlobStore } from '../lib/stores.js';
import { createWorkerEngine } from '../lib/workers.js';
import {
  createTrustStore,
  witnessLogClient,
  type TrustRoots,
  type TrustStore,
  type WitnessLogClient,
} from '../lib/trust.js';
import { opaqueTsSuite } from '../lib/opaque-ts.js';
import { createWebAuthnAuthenticator, passkeySupport } from '../lib/passkeys.js';
import { fromHex } from '../lib/util/bytes.js';
import { accountPrefix, type DemoConfig } from './shared.js';

/** A fetch to the demo's /api: same-origin HTTP, or the in-page fleet. */
export type ApiFetch = (request: Request) => Promise<Response>;

export interface Api {
  readonly fetch: ApiFetch;
  readonly origin: string;
  readonly config: DemoConfig;
  /** Ciphertext bytes fetched from the blob store so far (response bodies of blob GETs). */
  blobBytesDownloaded(): number;
  resetDownloadCounter(): void;
}

/** Connect to the dev server's /api, else start the fleet in this page (static build). */
export async function connectApi(onNote: (text: string) => void): Promise<Api> {
  const origin = location.origin;
  let downloaded = 0;
  const counting = (inner: ApiFetch): ApiFetch => async (req) => {
    const res = await inner(req);
    if (req.method === 'GET' && new URL(req.url).pathname.startsWith('/api/blobs/')) {
      downloaded += Number(res.headers.get('content-length') ?? 0);
    }
    return res;
  };
  let config: DemoConfig | undefined;
  let base: ApiFetch = (req) => fetch(req);
  try {
    const res = await fetch(`${origin}/api/app/config`, { cache: 'no-store' });
    if (res.ok && (res.headers.get('content-type') ?? '').includes('json')) config = (await res.json()) as DemoConfig;
  } catch {
    // no dev server: fall through to the in-page fleet
  }
  if (config === undefined) {
    onNote('No /api server here (static build): the vault, blob store and witness log run inside this page, in memory.');
    const { createDemoFleet } = await import('./fleet.js');
    const fleet = await createDemoFleet({ mode: 'browser', maxStoredBytes: 1.5 * 2 ** 30 });
    base = (req) => fleet.handle(req);
    config = (await (await base(new Request(`${origin}/api/app/config`))).json()) as DemoConfig;
  }
  return {
    fetch: counting(base),
    origin,
    config,
    blobBytesDownloaded: () => downloaded,
    resetDownloadCounter: () => {
      downloaded = 0;
    },
  };
}

async function postJson<T>(api: Api, path: string, body: unknown, token?: string): Promise<T> {
  const res = await api.fetch(
    new Request(`${api.origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    }),
  );
  const out = (await res.json()) as T & { error?: string; message?: string };
  if (!res.ok) throw new Error(`${path}: ${out.message ?? out.error ?? res.status}`);
  return out;
}

/** The operator's buttons (they would be a CLI or an HSM ceremony in production). */
export const operator = {
  rotate: (api: Api) => postJson<{ epoch: number; fleetId: string; publicKey: string; logSize: number }>(api, '/api/operator/rotate', {}),
  tamper: (api: Api, accountId: string) => postJson<{ key: string; offset: number; size: number }>(api, '/api/operator/tamper', { accountId }),
};

/** The device store (IndexedDB, the SDK's own database). */
export const deviceStore = (): KeyValueStore => createIndexedDbStore();

/** The trust store and the witness-log client, from the app's shipped roots. */
export function makeTrust(api: Api, store: KeyValueStore): { trust: TrustStore; log: WitnessLogClient } {
  const log = witnessLogClient({ baseUrl: `${api.origin}/api/witness`, fetch: api.fetch });
  const trust = createTrustStore({ config: trustRoots(api.config), store, ...log });
  return { trust, log };
}

/** The roots an app ships: the witness and operator keys, thresholds, namespace. */
export function trustRoots(c: DemoConfig): TrustRoots {
  return {
    namespace: c.namespace,
    logOrigin: c.logOrigin,
    witnessKeys: [{ name: c.witness.name, publicKey: fromHex(c.witness.publicKey), notBefore: c.witness.notBefore }],
    operatorKeys: [{ publicKey: fromHex(c.operator.publicKey), notBefore: c.operator.notBefore }],
    thresholds: { witnesses: 1, operators: 1 },
  };
}

/** A session with the fake app backend: a bearer token for the account. */
export async function login(api: Api, accountId: string): Promise<string> {
  return (await postJson<{ token: string }>(api, '/api/app/token', { accountId })).token;
}

export function vaultFor(api: Api, trust: TrustStore, fleetId: string, accountId: string, token: string): VaultClient {
  return createVaultClient({
    fleetId,
    accountId,
    baseUrl: `${api.origin}/api/vault/${fleetId}`,
    fetch: api.fetch,
    getToken: async () => token,
    trust,
    // demo-1 stands for a fleet still on the superseded opaque-ts suite (demo/fleet.ts); its code
    // is fetched only while that fleet is used. Rotated fleets run the RFC 9807 default suite.
    suites: [opaqueTsSuite()],
  });
}

/** Which fleet holds this account's escrow: asks each trusted fleet (newest first). */
export async function findFleet(api: Api, trust: TrustStore, accountId: string, token: string): Promise<{ fleetId: string; enrolled: boolean }> {
  const fleets = [...(await trust.trustedFleets())].reverse();
  for (const f of fleets) {
    const st = await vaultFor(api, trust, f.fleetId, accountId, token).status();
    if (st.state !== 'not-enrolled') return { fleetId: f.fleetId, enrolled: true };
  }
  const enrollable = fleets.find((f) => f.roles.includes('enroll')) ?? fleets[0];
  if (enrollable === undefined) throw new Error('no trusted vault fleet: the trust store has no bundle yet');
  return { fleetId: enrollable.fleetId, enrolled: false };
}

let authenticator: ReturnType<typeof createWebAuthnAuthenticator> | undefined;
const passkeyAuthenticator = () => (authenticator ??= createWebAuthnAuthenticator({ rp: { name: 'e2ee-backup demo' } }));

/**
 * Where passkeys cannot work on this page at all, why (else undefined): WebAuthn needs a secure
 * context and a domain (not an IP address) as its relying-party id.
 */
export function passkeyBlocker(): string | undefined {
  if (typeof PublicKeyCredential === 'undefined') return 'This browser has no WebAuthn.';
  if (!isSecureContext) return 'Passkeys need a secure context (https or localhost).';
  if (/^[\d.]+$|:/.test(location.hostname)) {
    return `Passkeys need a domain, not an IP address: open this demo at ${location.protocol}//localhost${location.port === '' ? '' : `:${location.port}`}/.`;
  }
  return undefined;
}

/**
 * One pool of two Web Workers for the page: encryption and decryption run off the main thread,
 * so the page stays responsive (Cancel, the progress bar) during a large backup or restore.
 */
let engine: ReturnType<typeof createWorkerEngine> | undefined;
const workerEngine = () => (engine ??= createWorkerEngine({ workers: 2, engine: 'noble' }));

export function makeClient(
  api: Api,
  trust: TrustStore,
  store: KeyValueStore,
  fleetId: string,
  accountId: string,
  token: string,
  extra: Partial<BackupClientOptions> = {},
): BackupClient {
  const minPart = api.config.minPartSize;
  const blobs = createHttpBlobStore({
    fetch: api.fetch,
    limits: { minPartSize: minPart },
    presign: async (op) => (await postJson<{ url: string }>(api, '/api/app/presign', { op }, token)).url,
  });
  return createBackupClient({
    accountId,
    vault: vaultFor(api, trust, fleetId, accountId, token),
    storage: store,
    trust,
    store: blobs,
    keyPrefix: accountPrefix(accountId),
    deviceCache: deviceCacheSupport(),
    locks: navigator.locks,
    engine: workerEngine(),
    // 4 MiB parts: few enough round trips (presign + PUT each), small enough for a smooth progress bar.
    partSize: 16 * minPart,
    // Passkeys with the browser's own authenticator (platform or phone); envelopes in the blob store.
    passkeys: passkeySupport({ authenticator: passkeyAuthenticator() }),
    ...extra,
  });
}
