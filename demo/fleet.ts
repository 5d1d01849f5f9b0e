/**
 * The demo's "server side", as ONE fetch-style handler `(Request) => Promise<Response>` under
 * `/api/…`: the reference vault fleets, the reference blob server, the witness log, a fake app
 * backend (bearer tokens, presigned URLs) and operator endpoints (publish a rotated fleet bundle,
 * flip a byte in storage).
 *
 * Browser-safe (no Node built-ins): `vite.config.ts` mounts it on the dev server, and the static
 * build runs the very same module inside the page when no `/api` answers.
 *
 * Everything is generated at start and held in memory; restarting the dev server starts over.
 */
import { createBlobPresigner, createBlobStoreHandler } from '../lib/server/blob-store.js';
import { createMemoryVaultStore } from '../lib/server/stores/memory.js';
import { createVaultHandler, generateVaultSetup } from '../lib/server/vault.js';
import { createWitnessHandler, createWitnessLog } from '../lib/server/witness.js';
import { createMemoryBlobStore } from '../lib/storage/blob/memory.js';
import type { BlobOp } from '../lib/storage/blob/presigned.js';
import { encodeBundle, operatorSign, type BundleFleet } from '../lib/trust/bundle.js';
import { ed25519PublicKey } from '../lib/trust/ed25519.js';
import { opaqueTsSuite } from '../lib/recovery/opaque/opaque-ts.js';
import { rfc9807Suite } from '../lib/recovery/opaque/rfc9807.js';
import type { OpaqueSuite } from '../lib/recovery/opaque/suite.js';
import { secureRandom, toHex } from '../lib/util/bytes.js';
import { accountPrefix, type DemoConfig } from './shared.js';

export type { DemoConfig } from './shared.js';

/** Options of {@link createDemoFleet}. */
export interface DemoFleetOptions {
  /** Wrong codes before lockout [5]. */
  readonly guessLimit?: number;
  readonly mode: 'server' | 'browser';
  /** Cap on bytes the in-memory blob store holds [3 GiB]. */
  readonly maxStoredBytes?: number;
}

/** The running demo fleet. */
export interface DemoFleet {
  /** Handles every `/api/…` request; anything else is a 404. */
  handle(request: Request): Promise<Response>;
}

export const NAMESPACE = 'demo.e2ee-backup.local';
const WITNESS_NAME = 'witness.demo.local/fleet-log';
const MIN_PART = 256 * 1024;
const DAY = 86_400;

const json = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });

const ACCOUNT_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

function opKey(op: BlobOp): string {
  return op.op === 'list' ? op.prefix : op.key;
}

/** Start the demo fleet: generates vault, witness and operator keys and publishes bundle 1. */
export async function createDemoFleet(options: DemoFleetOptions): Promise<DemoFleet> {
  const guessLimit = options.guessLimit ?? 5;
  // Fleets created by a rotation run the default suite for new fleets (RFC 9807,
  // ristretto255-SHA512, Argon2id). The first fleet stands for an existing deployment on the
  // superseded opaque-ts suite, so a rotation also shows migrateFleet moving an account across
  // suites; clients pick each fleet's suite from its bundle entry (docs/PROTOCOL.md §Suites).
  const suite = rfc9807Suite();
  const legacySuite = opaqueTsSuite();
  const nowSec = () => Math.floor(Date.now() / 1000);
  const t0 = nowSec();

  // --- witness log and operator key ---------------------------------------------------------
  const witnessSecret = secureRandom(32);
  const operatorSecret = secureRandom(32);
  const log = createWitnessLog({ origin: NAMESPACE, namespace: NAMESPACE, signer: { name: WITNESS_NAME, secretKey: witnessSecret } });
  // Reads only: the writing routes are the operator's (below), never the public's.
  const witnessHandler = createWitnessHandler(log, { basePath: '/api/witness', authorize: () => false });

  // --- vault fleets -------------------------------------------------------------------------
  const tokens = new Map<string, string>();
  const verifyToken = async (t: string): Promise<string | undefined> => tokens.get(t);
  interface Fleet {
    readonly fleetId: string;
    readonly publicKey: Uint8Array;
    readonly suite: OpaqueSuite;
    readonly handler: (r: Request) => Promise<Response>;
  }
  const fleets: Fleet[] = [];
  const addFleet = async (fleetId: string, fleetSuite: OpaqueSuite = suite): Promise<Fleet> => {
    const { setup, publicKey } = await generateVaultSetup(fleetSuite);
    const handler = createVaultHandler({ fleetId, setup, store: createMemoryVaultStore(), suite: fleetSuite, guessLimit, verifyToken });
    const f = { fleetId, publicKey, suite: fleetSuite, handler };
    fleets.push(f);
    return f;
  };
  let epoch = 0;
  const publish = (): number => {
    epoch++;
    // The newest fleet takes enrollments; older ones stay trusted for recovery only, so clients
    // still on them can recover and migrate.
    const entries: BundleFleet[] = fleets.map((f, i) => ({
      fleetId: f.fleetId,
      suite: f.suite.id,
      publicKey: f.publicKey,
      roles: i === fleets.length - 1 ? ['enroll', 'recover'] : ['recover'],
      notBefore: t0 - DAY,
      notAfter: t0 + 365 * DAY,
    }));
    const bytes = encodeBundle({ namespace: NAMESPACE, epoch, notBefore: nowSec() - 3600, notAfter: nowSec() + 30 * DAY, fleets: entries, retired: [] });
    const { signature } = log.witness(bytes);
    log.addOperatorSignature(epoch, operatorSign(bytes, [signature], operatorSecret));
    return epoch;
  };
  await addFleet('demo-1', legacySuite);
  publish();

  // --- blob store + presigner (the fake app backend signs URLs) ------------------------------
  const storage = createMemoryBlobStore({ limits: { minPartSize: MIN_PART }, maxTotalBytes: options.maxStoredBytes ?? 3 * 2 ** 30 });
  const signingKey = secureRandom(32);
  const blobHandler = createBlobStoreHandler({ store: storage, signingKey, basePath: '/api/blobs' });
  const presigners = new Map<string, ReturnType<typeof createBlobPresigner>>();
  const presignerFor = (origin: string) => {
    let p = presigners.get(origin);
    if (p === undefined) {
      p = createBlobPresigner({ baseUrl: `${origin}/api/blobs`, signingKey });
      presigners.set(origin, p);
    }
    return p;
  };

  const config: DemoConfig = {
    namespace: NAMESPACE,
    logOrigin: NAMESPACE,
    witness: { name: WITNESS_NAME, publicKey: toHex(ed25519PublicKey(witnessSecret)), notBefore: t0 - DAY },
    operator: { publicKey: toHex(ed25519PublicKey(operatorSecret)), notBefore: t0 - DAY },
    suite: suite.id,
    guessLimit,
    mode: options.mode,
    minPartSize: MIN_PART,
  };

  const bearer = (req: Request): string | undefined => {
    const h = req.headers.get('authorization') ?? '';
    return h.startsWith('Bearer ') ? tokens.get(h.slice(7)) : undefined;
  };
  const readJson = async (req: Request): Promise<Record<string, unknown>> => {
    const text = await req.text();
    if (text.length > 65536) throw new RangeError('body too large');
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) throw new TypeError('expected a JSON object');
    return v as Record<string, unknown>;
  };

  /** Flip one byte in the middle of the account's largest object (its archive). */
  const tamper = async (accountId: string) => {
    // Not the incremental step's objects (step 3b): the story tampers with the archive of step 3.
    const entries = (await storage.list(accountPrefix(accountId))).filter((e) => !e.key.startsWith(`${accountPrefix(accountId)}incremental/`));
    if (entries.length === 0) return json(404, { error: 'NOT_FOUND', message: 'this account has no stored backup' });
    const target = entries.reduce((a, b) => (b.size > a.size ? b : a));
    const bytes = Uint8Array.from(await storage.get(target.key));
    const offset = Math.floor(bytes.length / 2);
    bytes[offset]! ^= 0x01;
    await storage.put(target.key, bytes);
    return json(200, { key: target.key, offset, size: bytes.length });
  };

  const app = async (req: Request, path: string, url: URL): Promise<Response> => {
    if (path === '/api/app/config' && req.method === 'GET') return json(200, config);
    if (path === '/api/app/token' && req.method === 'POST') {
      // The fake login: any well-formed account name gets a session token.
      const { accountId } = await readJson(req);
      if (typeof accountId !== 'string' || !ACCOUNT_RE.test(accountId)) return json(400, { error: 'INVALID_ARGUMENT', message: 'account ids are 1-32 of a-z 0-9 _ -' });
      const token = toHex(secureRandom(16));
      tokens.set(token, accountId);
      return json(200, { token });
    }
    if (path === '/api/app/presign' && req.method === 'POST') {
      const accountId = bearer(req);
      if (accountId === undefined) return json(401, { error: 'UNAUTHORIZED' });
      const { op } = await readJson(req);
      if (typeof op !== 'object' || op === null || typeof (op as { op?: unknown }).op !== 'string') return json(400, { error: 'INVALID_ARGUMENT' });
      const blobOp = op as BlobOp;
      const key = opKey(blobOp);
      // Authorize: an account reaches only its own prefix.
      if (typeof key !== 'string' || !key.startsWith(accountPrefix(accountId))) return json(403, { error: 'FORBIDDEN' });
      return json(200, { url: presignerFor(url.origin).http(blobOp) });
    }
    return json(404, { error: 'NOT_FOUND' });
  };

  const operator = async (req: Request, path: string): Promise<Response> => {
    if (req.method !== 'POST') return json(405, { error: 'METHOD_NOT_ALLOWED' });
    if (path === '/api/operator/rotate') {
      const next = await addFleet(`demo-${fleets.length + 1}`);
      const e = publish();
      return json(200, { epoch: e, fleetId: next.fleetId, publicKey: toHex(next.publicKey), logSize: log.size });
    }
    if (path === '/api/operator/tamper') {
      const { accountId } = await readJson(req);
      if (typeof accountId !== 'string' || !ACCOUNT_RE.test(accountId)) return json(400, { error: 'INVALID_ARGUMENT' });
      return tamper(accountId);
    }
    return json(404, { error: 'NOT_FOUND' });
  };

  return {
    async handle(req) {
      const url = new URL(req.url);
      const path = url.pathname;
      try {
        if (path.startsWith('/api/vault/')) {
          const id = path.slice('/api/vault/'.length).split('/')[0];
          const f = fleets.find((x) => x.fleetId === id);
          return f === undefined ? json(404, { error: 'NOT_FOUND' }) : f.handler(req);
        }
        if (path.startsWith('/api/blobs/')) return blobHandler(req);
        if (path.startsWith('/api/witness/')) return witnessHandler(req);
        if (path.startsWith('/api/app/')) return await app(req, path, url);
        if (path.startsWith('/api/operator/')) return await operator(req, path);
        return json(404, { error: 'NOT_FOUND' });
      } catch (e) {
        if (e instanceof SyntaxError || e instanceof TypeError || e instanceof RangeError) return json(400, { error: 'INVALID_ARGUMENT', message: e.message });
        return json(500, { error: 'INTERNAL' });
      }
    },
  };
}
